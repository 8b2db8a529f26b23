// TS Type of a traffic selector (RFC 7296 section 3.13.1).

/// The kind of a traffic selector in a TSi/TSr payload. Open.
public struct TrafficSelectorType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// TS_IPV4_ADDR_RANGE: a range of IPv4 addresses (four octets each).
    public static let ipv4AddressRange = TrafficSelectorType(rawValue: 7)
    /// TS_IPV6_ADDR_RANGE: a range of IPv6 addresses (sixteen octets each).
    public static let ipv6AddressRange = TrafficSelectorType(rawValue: 8)

    /// Octets of one address for the known types, nil for an unknown type.
    public var addressLength: Int? {
        switch self {
        case .ipv4AddressRange: return 4
        case .ipv6AddressRange: return 16
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .ipv4AddressRange: return "TS_IPV4_ADDR_RANGE"
        case .ipv6AddressRange: return "TS_IPV6_ADDR_RANGE"
        default: return "TS_TYPE_\(rawValue)"
        }
    }
}
