// Security Protocol ID (RFC 7296 sections 3.3.1, 3.10, 3.11).

/// The protocol a proposal, notify or delete is about. Open: unknown values round-trip.
public struct ProtocolID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Not about a particular SA (notifies only).
    public static let none = ProtocolID(rawValue: 0)
    /// IKE: the IKE SA itself.
    public static let ike = ProtocolID(rawValue: 1)
    /// AH: Authentication Header.
    public static let ah = ProtocolID(rawValue: 2)
    /// ESP: Encapsulating Security Payload.
    public static let esp = ProtocolID(rawValue: 3)

    public var description: String {
        switch self {
        case .none: return "NONE"
        case .ike: return "IKE"
        case .ah: return "AH"
        case .esp: return "ESP"
        default: return "PROTOCOL_\(rawValue)"
        }
    }
}
