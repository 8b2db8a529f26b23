// Nonce payload (RFC 7296 section 3.9).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                                                               |
// ~                            Nonce Data                         ~
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import NIOCore

/// Ni or Nr: fresh random data, 16 to 256 octets (RFC 7296 3.9).
public struct NoncePayload: Hashable, Sendable, CustomStringConvertible {
    public static let minimumLength = 16
    public static let maximumLength = 256

    public var nonceData: [UInt8]

    public init(nonceData: [UInt8]) { self.nonceData = nonceData }

    /// Reads the body; a nonce outside 16...256 octets is invalid syntax.
    public init(parsing body: inout ByteBuffer) throws {
        nonceData = body.readIKERemainingBytes()
        guard (NoncePayload.minimumLength...NoncePayload.maximumLength).contains(nonceData.count) else {
            throw IKEParseError.invalidLength("nonce", nonceData.count)
        }
    }

    public func write(to buffer: inout ByteBuffer) { buffer.writeBytes(nonceData) }

    public var description: String { "No(\(nonceData.count) octets)" }
}
