// Configuration payload CP (RFC 7296 section 3.15), minimal: attributes kept opaque.
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C| RESERVED    |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |   CFG Type    |                    RESERVED                   |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                                                               |
// ~                   Configuration Attributes                    ~
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Each attribute (3.15.1):
// |R|         Attribute Type      |            Length             |
// ~                             Value                             ~

import NIOCore

/// CFG Type of a CP payload. Open.
public struct ConfigurationType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let request = ConfigurationType(rawValue: 1)
    public static let reply = ConfigurationType(rawValue: 2)
    public static let set = ConfigurationType(rawValue: 3)
    public static let acknowledge = ConfigurationType(rawValue: 4)

    public var description: String {
        switch self {
        case .request: return "CFG_REQUEST"
        case .reply: return "CFG_REPLY"
        case .set: return "CFG_SET"
        case .acknowledge: return "CFG_ACK"
        default: return "CFG_\(rawValue)"
        }
    }
}

/// One configuration attribute: a 15-bit type and an opaque value.
public struct ConfigurationAttribute: Hashable, Sendable {
    /// Attribute Type (15 bits; e.g. 1 INTERNAL_IP4_ADDRESS, 3 INTERNAL_IP4_DNS).
    public var type: UInt16
    public var value: [UInt8]

    public init(type: UInt16, value: [UInt8]) {
        self.type = type & 0x7FFF
        self.value = value
    }
}

/// CP: configuration request/reply. Attributes are framed, their values left opaque.
public struct ConfigurationPayload: Hashable, Sendable, CustomStringConvertible {
    public var configurationType: ConfigurationType
    public var attributes: [ConfigurationAttribute]

    public init(configurationType: ConfigurationType, attributes: [ConfigurationAttribute]) {
        self.configurationType = configurationType
        self.attributes = attributes
    }

    /// Reads the body; attributes must fill it exactly, at most
    /// `IKELimits.maxConfigurationAttributes` of them.
    public init(parsing body: inout ByteBuffer) throws {
        configurationType = ConfigurationType(rawValue: try body.readIKEInteger("CP payload"))
        _ = try body.readIKEBytes("CP payload", length: 3)
        var attributes: [ConfigurationAttribute] = []
        while body.readableBytes > 0 {
            guard attributes.count < IKELimits.maxConfigurationAttributes else {
                throw IKEParseError.tooMany("configuration attributes", limit: IKELimits.maxConfigurationAttributes)
            }
            let type: UInt16 = try body.readIKEInteger("configuration attribute")
            let length: UInt16 = try body.readIKEInteger("configuration attribute")
            attributes.append(ConfigurationAttribute(
                type: type, value: try body.readIKEBytes("configuration attribute value", length: Int(length))))
        }
        self.attributes = attributes
    }

    public func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(configurationType.rawValue)
        buffer.writeBytes([0, 0, 0])
        for attribute in attributes {
            buffer.writeInteger(attribute.type & 0x7FFF)
            buffer.writeInteger(UInt16(truncatingIfNeeded: attribute.value.count))
            buffer.writeBytes(attribute.value)
        }
    }

    public var description: String { "CP(\(configurationType), \(attributes.count) attributes)" }
}
