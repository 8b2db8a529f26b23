// The IKE header (RFC 7296 section 3.1).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                       IKE SA Initiator's SPI                  |
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                       IKE SA Responder's SPI                  |
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                          Message ID                           |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                            Length                             |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Flags: |X|X|R|V|I|X|X|X|  (R response 0x20, V version 0x10, I initiator 0x08)

import NIOCore

/// The Flags octet of the IKE header. Reserved bits are kept as received.
public struct IKEHeaderFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// I: set in messages sent by the original initiator of the IKE SA.
    public static let initiator = IKEHeaderFlags(rawValue: 0x08)
    /// V: the sender can speak a higher major version (never set by IKEv2 implementations).
    public static let version = IKEHeaderFlags(rawValue: 0x10)
    /// R: this message is a response.
    public static let response = IKEHeaderFlags(rawValue: 0x20)
}

/// The fixed 28-octet header in front of every IKE message.
public struct IKEHeader: Hashable, Sendable {
    /// Octets of the header on the wire.
    public static let length = 28
    /// The version this codec speaks: major 2, minor 0.
    public static let version2_0: UInt8 = 0x20

    public var initiatorSPI: UInt64
    /// Zero in the first IKE_SA_INIT request.
    public var responderSPI: UInt64
    /// Type of the first payload.
    public var nextPayload: PayloadType
    /// Major version in the high nibble, minor in the low one.
    public var version: UInt8
    public var exchangeType: ExchangeType
    public var flags: IKEHeaderFlags
    public var messageID: UInt32
    /// Length of the whole message, header included. Computed when writing a message.
    public var length: UInt32

    public init(initiatorSPI: UInt64, responderSPI: UInt64, nextPayload: PayloadType = .noNextPayload,
                version: UInt8 = IKEHeader.version2_0, exchangeType: ExchangeType,
                flags: IKEHeaderFlags, messageID: UInt32, length: UInt32 = UInt32(IKEHeader.length)) {
        self.initiatorSPI = initiatorSPI
        self.responderSPI = responderSPI
        self.nextPayload = nextPayload
        self.version = version
        self.exchangeType = exchangeType
        self.flags = flags
        self.messageID = messageID
        self.length = length
    }

    public var majorVersion: UInt8 { version >> 4 }
    public var minorVersion: UInt8 { version & 0x0F }
    public var isResponse: Bool { flags.contains(.response) }
    public var isFromInitiator: Bool { flags.contains(.initiator) }

    /// Reads the header. Checks the major version (RFC 7296 2.5: anything but 2 is answered
    /// with INVALID_MAJOR_VERSION) and that the length covers at least the header; whether
    /// the rest of the message is present is the message parser's concern.
    public init(parsing buffer: inout ByteBuffer) throws {
        initiatorSPI = try buffer.readIKEInteger("IKE header")
        responderSPI = try buffer.readIKEInteger("IKE header")
        nextPayload = PayloadType(rawValue: try buffer.readIKEInteger("IKE header"))
        version = try buffer.readIKEInteger("IKE header")
        exchangeType = ExchangeType(rawValue: try buffer.readIKEInteger("IKE header"))
        flags = IKEHeaderFlags(rawValue: try buffer.readIKEInteger("IKE header"))
        messageID = try buffer.readIKEInteger("IKE header")
        length = try buffer.readIKEInteger("IKE header")
        if version >> 4 != 2 { throw IKEParseError.invalidMajorVersion(version >> 4) }
        if length < UInt32(IKEHeader.length) { throw IKEParseError.invalidLength("IKE message", Int(length)) }
    }

    /// Writes the 28 octets as they are (`length` included).
    public func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(initiatorSPI)
        buffer.writeInteger(responderSPI)
        buffer.writeInteger(nextPayload.rawValue)
        buffer.writeInteger(version)
        buffer.writeInteger(exchangeType.rawValue)
        buffer.writeInteger(flags.rawValue)
        buffer.writeInteger(messageID)
        buffer.writeInteger(length)
    }
}
