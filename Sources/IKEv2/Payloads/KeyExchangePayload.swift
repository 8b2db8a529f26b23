// Key Exchange payload (RFC 7296 section 3.4).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |   Diffie-Hellman Group Num    |           RESERVED            |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                                                               |
// ~                       Key Exchange Data                       ~
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import NIOCore

/// KE: the sender's public key exchange value for one group.
public struct KeyExchangePayload: Hashable, Sendable, CustomStringConvertible {
    public var group: KeyExchangeMethod
    /// The public value (not secret); its length depends on the group and is checked by
    /// the key exchange implementation, not here.
    public var keyExchangeData: [UInt8]

    public init(group: KeyExchangeMethod, keyExchangeData: [UInt8]) {
        self.group = group
        self.keyExchangeData = keyExchangeData
    }

    /// Reads the body; the key exchange data must not be empty.
    public init(parsing body: inout ByteBuffer) throws {
        group = KeyExchangeMethod(rawValue: try body.readIKEInteger("KE payload"))
        _ = try body.readIKEInteger("KE payload", as: UInt16.self)
        keyExchangeData = body.readIKERemainingBytes()
        if keyExchangeData.isEmpty { throw IKEParseError.invalidLength("KE data", 0) }
    }

    public func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(group.rawValue)
        buffer.writeInteger(UInt16(0))
        buffer.writeBytes(keyExchangeData)
    }

    public var description: String { "KE(\(group), \(keyExchangeData.count) octets)" }
}
