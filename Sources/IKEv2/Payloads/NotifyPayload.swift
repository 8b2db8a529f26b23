// Notify payload (RFC 7296 section 3.10).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Protocol ID  |   SPI Size    |      Notify Message Type      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                                                               |
// ~                Security Parameter Index (SPI)                 ~
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                                                               |
// ~                       Notification Data                       ~
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import NIOCore

/// N: an error or status notification, optionally about one SA (protocol + SPI).
public struct NotifyPayload: Hashable, Sendable, CustomStringConvertible {
    /// Zero when the notify is not about a particular SA (SPI empty).
    public var protocolID: ProtocolID
    public var messageType: NotifyMessageType
    public var spi: [UInt8]
    public var notificationData: [UInt8]

    public init(protocolID: ProtocolID = .none, messageType: NotifyMessageType, spi: [UInt8] = [],
                notificationData: [UInt8] = []) {
        self.protocolID = protocolID
        self.messageType = messageType
        self.spi = spi
        self.notificationData = notificationData
    }

    /// Reads the body; the SPI must fit in it.
    public init(parsing body: inout ByteBuffer) throws {
        protocolID = ProtocolID(rawValue: try body.readIKEInteger("Notify payload"))
        let spiSize: UInt8 = try body.readIKEInteger("Notify payload")
        messageType = NotifyMessageType(rawValue: try body.readIKEInteger("Notify payload"))
        spi = try body.readIKEBytes("Notify SPI", length: Int(spiSize))
        notificationData = body.readIKERemainingBytes()
    }

    public func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(protocolID.rawValue)
        buffer.writeInteger(UInt8(truncatingIfNeeded: spi.count))
        buffer.writeInteger(messageType.rawValue)
        buffer.writeBytes(spi)
        buffer.writeBytes(notificationData)
    }

    public var description: String {
        var text = "N(\(messageType)"
        if !spi.isEmpty { text += ", \(protocolID) SPI \(spi.count) octets" }
        if !notificationData.isEmpty { text += ", \(notificationData.count) octets" }
        return text + ")"
    }
}
