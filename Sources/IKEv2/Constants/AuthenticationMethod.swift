// Auth Method of the AUTH payload (RFC 7296 section 3.8, RFC 7427).

/// How the Authentication Data of an AUTH payload was computed. Open.
public struct AuthenticationMethod: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// RSA Digital Signature (PKCS#1 v1.5 over SHA-1).
    public static let rsaDigitalSignature = AuthenticationMethod(rawValue: 1)
    /// Shared Key Message Integrity Code (pre-shared key).
    public static let sharedKeyMessageIntegrityCode = AuthenticationMethod(rawValue: 2)
    /// DSS Digital Signature.
    public static let dssDigitalSignature = AuthenticationMethod(rawValue: 3)
    /// ECDSA with SHA-256 on P-256, SHA-384 on P-384, SHA-512 on P-521 (RFC 4754).
    public static let ecdsaSHA256P256 = AuthenticationMethod(rawValue: 9)
    public static let ecdsaSHA384P384 = AuthenticationMethod(rawValue: 10)
    public static let ecdsaSHA512P521 = AuthenticationMethod(rawValue: 11)
    /// Digital Signature (RFC 7427).
    public static let digitalSignature = AuthenticationMethod(rawValue: 14)

    /// Whether the method is a signature (by a key a certificate vouches for).
    public var isSignature: Bool {
        [.rsaDigitalSignature, .ecdsaSHA256P256, .ecdsaSHA384P384, .ecdsaSHA512P521, .digitalSignature].contains(self)
    }

    public var description: String {
        switch self {
        case .rsaDigitalSignature: return "RSA_SIG"
        case .sharedKeyMessageIntegrityCode: return "PSK"
        case .dssDigitalSignature: return "DSS_SIG"
        case .ecdsaSHA256P256: return "ECDSA_256"
        case .ecdsaSHA384P384: return "ECDSA_384"
        case .ecdsaSHA512P521: return "ECDSA_521"
        case .digitalSignature: return "DIGITAL_SIGNATURE"
        default: return "AUTH_METHOD_\(rawValue)"
        }
    }
}
