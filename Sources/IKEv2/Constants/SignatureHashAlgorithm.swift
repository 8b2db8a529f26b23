// Hash algorithms of RFC 7427 Digital Signature authentication, announced in the
// SIGNATURE_HASH_ALGORITHMS notify of IKE_SA_INIT (RFC 7427 section 4, IANA "IKEv2 Hash
// Algorithms"; Identity is RFC 8420's, for Ed25519).

/// One hash algorithm of the SIGNATURE_HASH_ALGORITHMS notify. Open.
public struct SignatureHashAlgorithm: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let sha1 = SignatureHashAlgorithm(rawValue: 1)
    public static let sha256 = SignatureHashAlgorithm(rawValue: 2)
    public static let sha384 = SignatureHashAlgorithm(rawValue: 3)
    public static let sha512 = SignatureHashAlgorithm(rawValue: 4)
    /// No hash: the signature algorithm takes the message itself (Ed25519, RFC 8420).
    public static let identity = SignatureHashAlgorithm(rawValue: 5)

    /// What vipsec announces and accepts, in order of preference.
    public static let supported: [SignatureHashAlgorithm] = [.sha256, .sha384, .sha512, .identity]

    /// The notify data: two octets per algorithm.
    public static func notificationData(_ algorithms: [SignatureHashAlgorithm]) -> [UInt8] {
        algorithms.flatMap { [UInt8($0.rawValue >> 8), UInt8($0.rawValue & 0xFF)] }
    }

    /// The algorithms of a received notify (an odd trailing octet is ignored).
    public static func parse(_ data: [UInt8]) -> [SignatureHashAlgorithm] {
        stride(from: 0, to: data.count - 1, by: 2).map { SignatureHashAlgorithm(rawValue: UInt16(data[$0]) << 8 | UInt16(data[$0 + 1])) }
    }

    public var description: String {
        switch self {
        case .sha1: return "SHA1"
        case .sha256: return "SHA2_256"
        case .sha384: return "SHA2_384"
        case .sha512: return "SHA2_512"
        case .identity: return "IDENTITY"
        default: return "HASH_\(rawValue)"
        }
    }
}
