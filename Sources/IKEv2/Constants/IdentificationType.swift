// ID Type of the IDi/IDr payloads (RFC 7296 section 3.5).

/// How the identification data of an IDi/IDr payload is to be read. Open.
public struct IdentificationType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// ID_IPV4_ADDR: a single four-octet IPv4 address.
    public static let ipv4Address = IdentificationType(rawValue: 1)
    /// ID_FQDN: a fully qualified domain name string.
    public static let fqdn = IdentificationType(rawValue: 2)
    /// ID_RFC822_ADDR: an email address string.
    public static let rfc822Address = IdentificationType(rawValue: 3)
    /// ID_IPV6_ADDR: a single sixteen-octet IPv6 address.
    public static let ipv6Address = IdentificationType(rawValue: 5)
    /// ID_DER_ASN1_DN: a binary DER encoding of an ASN.1 X.500 Distinguished Name.
    public static let derASN1DN = IdentificationType(rawValue: 9)
    /// ID_DER_ASN1_GN: a binary DER encoding of an ASN.1 X.509 GeneralName.
    public static let derASN1GN = IdentificationType(rawValue: 10)
    /// ID_KEY_ID: an opaque octet stream.
    public static let keyID = IdentificationType(rawValue: 11)

    public var description: String {
        switch self {
        case .ipv4Address: return "ID_IPV4_ADDR"
        case .fqdn: return "ID_FQDN"
        case .rfc822Address: return "ID_RFC822_ADDR"
        case .ipv6Address: return "ID_IPV6_ADDR"
        case .derASN1DN: return "ID_DER_ASN1_DN"
        case .derASN1GN: return "ID_DER_ASN1_GN"
        case .keyID: return "ID_KEY_ID"
        default: return "ID_\(rawValue)"
        }
    }
}
