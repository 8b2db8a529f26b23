// Exchange Type of the IKE header (RFC 7296 section 3.1, IANA "IKEv2 Exchange Types").

/// The kind of exchange a message belongs to. Open: unknown values round-trip.
public struct ExchangeType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// IKE_SA_INIT: negotiates the IKE SA's algorithms, exchanges nonces and KE values.
    public static let ikeSAInit = ExchangeType(rawValue: 34)
    /// IKE_AUTH: authenticates the peers and creates the first CHILD_SA.
    public static let ikeAuth = ExchangeType(rawValue: 35)
    /// CREATE_CHILD_SA: creates or rekeys a CHILD_SA, or rekeys the IKE SA.
    public static let createChildSA = ExchangeType(rawValue: 36)
    /// INFORMATIONAL: deletes, errors, liveness checks.
    public static let informational = ExchangeType(rawValue: 37)

    public var description: String {
        switch self {
        case .ikeSAInit: return "IKE_SA_INIT"
        case .ikeAuth: return "IKE_AUTH"
        case .createChildSA: return "CREATE_CHILD_SA"
        case .informational: return "INFORMATIONAL"
        default: return "EXCHANGE_\(rawValue)"
        }
    }
}
