// Identification payloads IDi and IDr (RFC 7296 section 3.5).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |   ID Type     |                 RESERVED                      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                                                               |
// ~                   Identification Data                         ~
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import NIOCore

/// IDi or IDr: who the sender claims to be. The AUTH payload signs these body octets
/// (`bodyBytes`), RESERVED included.
public struct IdentificationPayload: Hashable, Sendable, CustomStringConvertible {
    public var idType: IdentificationType
    /// The three RESERVED octets, kept as received because AUTH covers them.
    public var reserved: [UInt8]
    public var identificationData: [UInt8]

    public init(idType: IdentificationType, identificationData: [UInt8], reserved: [UInt8] = [0, 0, 0]) {
        self.idType = idType
        self.identificationData = identificationData
        self.reserved = reserved
    }

    /// Reads the body. The data must not be empty; addresses must have their length.
    public init(parsing body: inout ByteBuffer) throws {
        idType = IdentificationType(rawValue: try body.readIKEInteger("ID payload"))
        reserved = try body.readIKEBytes("ID payload", length: 3)
        identificationData = body.readIKERemainingBytes()
        if identificationData.isEmpty { throw IKEParseError.invalidLength("identification data", 0) }
        if idType == .ipv4Address && identificationData.count != 4 {
            throw IKEParseError.invalidLength("ID_IPV4_ADDR", identificationData.count)
        }
        if idType == .ipv6Address && identificationData.count != 16 {
            throw IKEParseError.invalidLength("ID_IPV6_ADDR", identificationData.count)
        }
    }

    public func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(idType.rawValue)
        var reserved = self.reserved
        if reserved.count != 3 { reserved = [0, 0, 0] }
        buffer.writeBytes(reserved)
        buffer.writeBytes(identificationData)
    }

    /// The payload body as the AUTH computation takes it (RFC 7296 2.15: RestOfIDPayload).
    public var bodyBytes: [UInt8] {
        var buffer = ByteBuffer()
        write(to: &buffer)
        return buffer.readIKERemainingBytes()
    }

    public var description: String {
        switch idType {
        case .fqdn, .rfc822Address:
            return "ID(\(idType), \(String(decoding: identificationData, as: UTF8.self)))"
        case .ipv4Address:
            return "ID(\(idType), \(identificationData.map(String.init).joined(separator: ".")))"
        default:
            return "ID(\(idType), \(identificationData.count) octets)"
        }
    }
}
