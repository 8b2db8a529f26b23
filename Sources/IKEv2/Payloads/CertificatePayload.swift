// Certificate and Certificate Request payloads CERT and CERTREQ (RFC 7296 sections 3.6
// and 3.7), kept opaque: vipsec authenticates with pre-shared keys.
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Cert Encoding |                                               |
// +-+-+-+-+-+-+-+-+                                               |
// ~       Certificate Data / Certification Authority              ~
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import NIOCore

/// CERT (certificate data) or CERTREQ (hashes of trusted CAs): an encoding octet and
/// opaque data. Which of the two it is follows from the payload type.
public struct CertificatePayload: Hashable, Sendable, CustomStringConvertible {
    /// Cert Encoding (e.g. 4 X.509 Certificate - Signature).
    public var encoding: UInt8
    public var data: [UInt8]

    public init(encoding: UInt8, data: [UInt8]) {
        self.encoding = encoding
        self.data = data
    }

    /// Reads the body: the encoding octet is required, the data may be empty (a CERTREQ
    /// naming no CA).
    public init(parsing body: inout ByteBuffer) throws {
        encoding = try body.readIKEInteger("CERT payload")
        data = body.readIKERemainingBytes()
    }

    public func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(encoding)
        buffer.writeBytes(data)
    }

    public var description: String { "CERT(encoding \(encoding), \(data.count) octets)" }
}
