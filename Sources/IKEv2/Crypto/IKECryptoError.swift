// The one error type of the IKE crypto layer (protocols, derivation and the OpenSSL backend).
// No case carries key material: only algorithm names, lengths and fixed reasons.

/// Why a crypto operation failed.
public enum IKECryptoError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The provider does not implement this key exchange method.
    case unsupportedKeyExchangeMethod(KeyExchangeMethod)
    /// The provider does not implement this PRF.
    case unsupportedPseudorandomFunction(PseudorandomFunctionID)
    /// This encryption/integrity combination (or key length) is not supported or not valid
    /// (e.g. an AEAD with an integrity transform, CBC without one, AES with 100-bit keys).
    case unsupportedEncryptionSuite(EncryptionSuite)
    /// A key of the wrong length was given to an algorithm.
    case invalidKeyLength(algorithm: String, expected: Int, actual: Int)
    /// The peer's KE public value is not acceptable (wrong length, not on the curve, out of range).
    case invalidPublicValue(KeyExchangeMethod, reason: String)
    /// The computed shared secret is degenerate (e.g. the all-zero X25519 output, RFC 7748 6.1).
    case degenerateSharedSecret(KeyExchangeMethod)
    /// The encrypted payload is malformed: too short, not block aligned, bad pad length.
    case malformedCiphertext(reason: String)
    /// The ICV (or AEAD tag) did not verify: tampered or wrong key. Drop the message.
    case integrityCheckFailed
    /// A requested output length is impossible (prf+ beyond 255 blocks, negative count).
    case invalidLength(what: String, requested: Int)
    /// The random source failed.
    case randomSourceFailed
    /// The crypto backend (OpenSSL) reported an error in `operation`.
    case backend(operation: String, detail: String)

    public var description: String {
        switch self {
        case .unsupportedKeyExchangeMethod(let method): return "unsupported key exchange method \(method)"
        case .unsupportedPseudorandomFunction(let prf): return "unsupported PRF \(prf)"
        case .unsupportedEncryptionSuite(let suite): return "unsupported encryption suite \(suite)"
        case .invalidKeyLength(let algorithm, let expected, let actual):
            return "\(algorithm): key length \(actual) octets, expected \(expected)"
        case .invalidPublicValue(let method, let reason): return "invalid \(method) public value: \(reason)"
        case .degenerateSharedSecret(let method): return "degenerate \(method) shared secret"
        case .malformedCiphertext(let reason): return "malformed encrypted payload: \(reason)"
        case .integrityCheckFailed: return "integrity check failed"
        case .invalidLength(let what, let requested): return "invalid length \(requested) for \(what)"
        case .randomSourceFailed: return "random source failed"
        case .backend(let operation, let detail): return "crypto backend error in \(operation): \(detail)"
        }
    }
}
