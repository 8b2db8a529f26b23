// Transform types and transform IDs (RFC 7296 section 3.3.2, IANA "IKEv2 Parameters").
//
// Wire numbers are open structs: an unknown value received from a peer round-trips
// unchanged and is simply never chosen.

/// Transform Type (RFC 7296 3.3.2): which kind of algorithm a transform names.
public struct TransformType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// ENCR: encryption algorithm (IKE and ESP).
    public static let encryptionAlgorithm = TransformType(rawValue: 1)
    /// PRF: pseudorandom function (IKE).
    public static let pseudorandomFunction = TransformType(rawValue: 2)
    /// INTEG: integrity algorithm (IKE, AH, optional in ESP).
    public static let integrityAlgorithm = TransformType(rawValue: 3)
    /// D-H / KE: key exchange method (IKE, optional in AH and ESP).
    public static let keyExchangeMethod = TransformType(rawValue: 4)
    /// ESN: extended sequence numbers (AH and ESP).
    public static let extendedSequenceNumbers = TransformType(rawValue: 5)

    public var description: String {
        switch self {
        case .encryptionAlgorithm: return "ENCR"
        case .pseudorandomFunction: return "PRF"
        case .integrityAlgorithm: return "INTEG"
        case .keyExchangeMethod: return "KE"
        case .extendedSequenceNumbers: return "ESN"
        default: return "TRANSFORM_TYPE_\(rawValue)"
        }
    }
}

/// Transform Type 1 IDs: encryption algorithms.
public struct EncryptionAlgorithm: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// ENCR_AES_CBC (RFC 3602), key length attribute 128/192/256.
    public static let aesCBC = EncryptionAlgorithm(rawValue: 12)
    /// ENCR_AES_GCM_16: AES-GCM with a 16-octet ICV (RFC 4106, RFC 5282).
    public static let aesGCM16 = EncryptionAlgorithm(rawValue: 20)
    /// ENCR_CHACHA20_POLY1305 (RFC 7634), fixed 256-bit key.
    public static let chacha20Poly1305 = EncryptionAlgorithm(rawValue: 28)

    /// Whether the algorithm is an AEAD (no separate integrity transform is negotiated).
    public var isAEAD: Bool { self == .aesGCM16 || self == .chacha20Poly1305 }

    public var description: String {
        switch self {
        case .aesCBC: return "ENCR_AES_CBC"
        case .aesGCM16: return "ENCR_AES_GCM_16"
        case .chacha20Poly1305: return "ENCR_CHACHA20_POLY1305"
        default: return "ENCR_\(rawValue)"
        }
    }
}

/// Transform Type 2 IDs: pseudorandom functions.
public struct PseudorandomFunctionID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// PRF_HMAC_SHA2_256 (RFC 4868).
    public static let hmacSHA2_256 = PseudorandomFunctionID(rawValue: 5)
    /// PRF_HMAC_SHA2_384 (RFC 4868).
    public static let hmacSHA2_384 = PseudorandomFunctionID(rawValue: 6)
    /// PRF_HMAC_SHA2_512 (RFC 4868).
    public static let hmacSHA2_512 = PseudorandomFunctionID(rawValue: 7)

    public var description: String {
        switch self {
        case .hmacSHA2_256: return "PRF_HMAC_SHA2_256"
        case .hmacSHA2_384: return "PRF_HMAC_SHA2_384"
        case .hmacSHA2_512: return "PRF_HMAC_SHA2_512"
        default: return "PRF_\(rawValue)"
        }
    }
}

/// Transform Type 3 IDs: integrity algorithms.
public struct IntegrityAlgorithm: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// NONE: used with AEAD ciphers only.
    public static let none = IntegrityAlgorithm(rawValue: 0)
    /// AUTH_HMAC_SHA2_256_128 (RFC 4868): 32-octet key, 16-octet ICV.
    public static let hmacSHA2_256_128 = IntegrityAlgorithm(rawValue: 12)
    /// AUTH_HMAC_SHA2_384_192 (RFC 4868): 48-octet key, 24-octet ICV.
    public static let hmacSHA2_384_192 = IntegrityAlgorithm(rawValue: 13)
    /// AUTH_HMAC_SHA2_512_256 (RFC 4868): 64-octet key, 32-octet ICV.
    public static let hmacSHA2_512_256 = IntegrityAlgorithm(rawValue: 14)

    public var description: String {
        switch self {
        case .none: return "NONE"
        case .hmacSHA2_256_128: return "AUTH_HMAC_SHA2_256_128"
        case .hmacSHA2_384_192: return "AUTH_HMAC_SHA2_384_192"
        case .hmacSHA2_512_256: return "AUTH_HMAC_SHA2_512_256"
        default: return "AUTH_\(rawValue)"
        }
    }
}

/// Transform Type 4 IDs: key exchange methods (Diffie-Hellman groups).
public struct KeyExchangeMethod: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// NONE: no key exchange (CREATE_CHILD_SA without PFS).
    public static let none = KeyExchangeMethod(rawValue: 0)
    /// 2048-bit MODP group (RFC 3526 group 14).
    public static let modp2048 = KeyExchangeMethod(rawValue: 14)
    /// 256-bit random ECP group (RFC 5903, NIST P-256).
    public static let ecp256 = KeyExchangeMethod(rawValue: 19)
    /// 384-bit random ECP group (RFC 5903, NIST P-384).
    public static let ecp384 = KeyExchangeMethod(rawValue: 20)
    /// Curve25519 (RFC 8031).
    public static let curve25519 = KeyExchangeMethod(rawValue: 31)

    public var description: String {
        switch self {
        case .none: return "NONE"
        case .modp2048: return "MODP_2048"
        case .ecp256: return "ECP_256"
        case .ecp384: return "ECP_384"
        case .curve25519: return "CURVE_25519"
        default: return "KE_\(rawValue)"
        }
    }
}

/// Transform Type 5 IDs: extended sequence numbers.
public struct ExtendedSequenceNumbers: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let no = ExtendedSequenceNumbers(rawValue: 0)
    public static let yes = ExtendedSequenceNumbers(rawValue: 1)

    public var description: String { self == .yes ? "ESN" : (self == .no ? "NO_ESN" : "ESN_\(rawValue)") }
}
