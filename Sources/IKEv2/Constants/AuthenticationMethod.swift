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
    /// Digital Signature (RFC 7427).
    public static let digitalSignature = AuthenticationMethod(rawValue: 14)

    public var description: String {
        switch self {
        case .rsaDigitalSignature: return "RSA_SIG"
        case .sharedKeyMessageIntegrityCode: return "PSK"
        case .dssDigitalSignature: return "DSS_SIG"
        case .digitalSignature: return "DIGITAL_SIGNATURE"
        default: return "AUTH_METHOD_\(rawValue)"
        }
    }
}
