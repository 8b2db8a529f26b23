// The generic payload header in front of every payload (RFC 7296 section 3.2).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import NIOCore

/// The four octets that chain payloads: the type of the next payload, the critical bit, and
/// this payload's length (header included).
public struct GenericPayloadHeader: Hashable, Sendable {
    /// Octets of the header on the wire.
    public static let length = 4

    public var nextPayload: PayloadType
    /// C: the sender wants the message rejected if the recipient does not understand this
    /// payload's type. Ignored for understood types (RFC 7296 3.2).
    public var isCritical: Bool
    /// Length of the payload, these four octets included.
    public var payloadLength: UInt16

    public init(nextPayload: PayloadType, isCritical: Bool = false, payloadLength: UInt16) {
        self.nextPayload = nextPayload
        self.isCritical = isCritical
        self.payloadLength = payloadLength
    }

    /// Reads the header; a Payload Length below 4 is invalid. The reserved bits are ignored.
    public init(parsing buffer: inout ByteBuffer) throws {
        nextPayload = PayloadType(rawValue: try buffer.readIKEInteger("generic payload header"))
        let flags: UInt8 = try buffer.readIKEInteger("generic payload header")
        isCritical = flags & 0x80 != 0
        payloadLength = try buffer.readIKEInteger("generic payload header")
        if Int(payloadLength) < GenericPayloadHeader.length {
            throw IKEParseError.invalidLength("payload", Int(payloadLength))
        }
    }

    public func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(nextPayload.rawValue)
        buffer.writeInteger(isCritical ? UInt8(0x80) : 0)
        buffer.writeInteger(payloadLength)
    }
}
