// Encrypted and Authenticated payload SK (RFC 7296 section 3.14).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                     Initialization Vector                     |
// |         (length is block size for encryption algorithm)       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                    Encrypted IKE Payloads                     ~
// +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |               |             Padding (0-255 octets)            |
// +-+-+-+-+-+-+-+-+                               +-+-+-+-+-+-+-+-+
// |                                               |  Pad Length   |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                    Integrity Checksum Data                    ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The Next Payload of the SK header names the first payload inside the encryption.

import NIOCore

/// SK: the container. The codec only frames it: `body` is IV + ciphertext + padding + ICV,
/// opaque here; the crypto layer opens it and `IKEMessage.parseInnerPayloads` reads the
/// plaintext chain starting at `firstInnerPayload`.
public struct EncryptedPayload: Hashable, Sendable, CustomStringConvertible {
    /// The Next Payload field of the SK header: type of the first encrypted payload.
    public var firstInnerPayload: PayloadType
    /// IV, encrypted payloads, padding, pad length and ICV, as on the wire.
    public var body: ByteBuffer

    public init(firstInnerPayload: PayloadType, body: ByteBuffer) {
        self.firstInnerPayload = firstInnerPayload
        self.body = body
    }

    public func write(to buffer: inout ByteBuffer) {
        var body = self.body
        buffer.writeBuffer(&body)
    }

    public var description: String { "SK(\(firstInnerPayload) first, \(body.readableBytes) octets)" }
}

// Encrypted and Authenticated Fragment payload SKF (RFC 7383 section 2.5).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |        Fragment Number        |        Total Fragments        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                     Initialization Vector                     |
// ~                      Encrypted content                        ~
// ~                    Integrity Checksum Data                    ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

/// SKF: one fragment of an SK payload. Next Payload is the first inner payload's type in
/// fragment 1 and 0 in the others.
public struct EncryptedFragmentPayload: Hashable, Sendable, CustomStringConvertible {
    public var firstInnerPayload: PayloadType
    /// 1-based; at most `totalFragments`.
    public var fragmentNumber: UInt16
    public var totalFragments: UInt16
    /// IV, encrypted content and ICV, opaque here.
    public var body: ByteBuffer

    public init(firstInnerPayload: PayloadType, fragmentNumber: UInt16, totalFragments: UInt16, body: ByteBuffer) {
        self.firstInnerPayload = firstInnerPayload
        self.fragmentNumber = fragmentNumber
        self.totalFragments = totalFragments
        self.body = body
    }

    /// Reads the body after the generic header; 1 <= Fragment Number <= Total Fragments.
    public init(firstInnerPayload: PayloadType, parsing body: inout ByteBuffer) throws {
        self.firstInnerPayload = firstInnerPayload
        fragmentNumber = try body.readIKEInteger("SKF payload")
        totalFragments = try body.readIKEInteger("SKF payload")
        guard fragmentNumber >= 1, fragmentNumber <= totalFragments else {
            throw IKEParseError.invalidValue("SKF Fragment Number", Int(fragmentNumber))
        }
        self.body = body.readSlice(length: body.readableBytes) ?? ByteBuffer()
    }

    public func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(fragmentNumber)
        buffer.writeInteger(totalFragments)
        var body = self.body
        buffer.writeBuffer(&body)
    }

    public var description: String { "SKF(\(fragmentNumber)/\(totalFragments), \(body.readableBytes) octets)" }
}
