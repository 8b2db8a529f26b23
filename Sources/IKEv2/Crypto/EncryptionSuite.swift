// The lengths implied by a negotiated ENCR (+ key length attribute) and INTEG pair:
// key sizes (AEAD salts included), IV, block and ICV sizes. Shared by the SK payload
// (RFC 7296 3.14, RFC 5282, RFC 7634) and ESP KEYMAT (RFC 4106, RFC 7634, RFC 3602 + RFC 4868).

/// An encryption transform with its key length, plus the integrity transform (NONE for AEAD).
public struct EncryptionSuite: Hashable, Sendable, CustomStringConvertible {
    /// ENCR transform ID.
    public var encryption: EncryptionAlgorithm
    /// The Key Length attribute in bits (AES: 128/192/256); nil when the transform has a
    /// fixed key size (ChaCha20-Poly1305 forbids the attribute).
    public var keyLengthBits: Int?
    /// INTEG transform ID; `.none` for AEAD.
    public var integrity: IntegrityAlgorithm

    public init(encryption: EncryptionAlgorithm, keyLengthBits: Int?, integrity: IntegrityAlgorithm = .none) {
        self.encryption = encryption
        self.keyLengthBits = keyLengthBits
        self.integrity = integrity
    }

    /// Throws `unsupportedEncryptionSuite` unless the combination is one this project
    /// implements and the RFCs allow (AEAD ⇔ integrity NONE; AES key 128/192/256; ChaCha
    /// without a key length attribute).
    public func validate() throws {
        guard encryptionKeyLength != nil, integrityKeyLength != nil else {
            throw IKECryptoError.unsupportedEncryptionSuite(self)
        }
    }

    /// The cipher key length in octets without any salt, or nil if unsupported.
    public var cipherKeyLength: Int? {
        switch encryption {
        case .aesCBC, .aesGCM16:
            guard let bits = keyLengthBits, [128, 192, 256].contains(bits) else { return nil }
            return bits / 8
        case .chacha20Poly1305:
            return keyLengthBits == nil || keyLengthBits == 256 ? 32 : nil
        default:
            return nil
        }
    }

    /// The salt length taken from the key material after the cipher key (RFC 4106 / RFC 5282
    /// for GCM, RFC 7634 for ChaCha20-Poly1305): 4, or 0 for CBC.
    public var saltLength: Int { encryption.isAEAD ? 4 : 0 }

    /// The octets of keying material the encryption key takes (cipher key + salt), or nil
    /// if the suite is not supported. This is the SK_e* / ESP encryption key length.
    public var encryptionKeyLength: Int? {
        guard let key = cipherKeyLength else { return nil }
        return key + saltLength
    }

    /// The integrity key length in octets (0 for AEAD), or nil if unsupported or if the
    /// AEAD/integrity combination is invalid.
    public var integrityKeyLength: Int? {
        if encryption.isAEAD { return integrity == .none ? 0 : nil }
        switch integrity {
        case .hmacSHA2_256_128: return 32
        case .hmacSHA2_384_192: return 48
        case .hmacSHA2_512_256: return 64
        default: return nil
        }
    }

    /// The ICV length in octets: 16 for both AEADs, the truncated HMAC length otherwise.
    public var icvLength: Int? {
        if encryption.isAEAD { return integrity == .none ? 16 : nil }
        switch integrity {
        case .hmacSHA2_256_128: return 16
        case .hmacSHA2_384_192: return 24
        case .hmacSHA2_512_256: return 32
        default: return nil
        }
    }

    /// The IV length in octets carried in the SK payload / ESP packet: 8 (explicit AEAD
    /// nonce part), 16 for AES-CBC.
    public var ivLength: Int { encryption.isAEAD ? 8 : 16 }

    /// The block size the encrypted data (payloads | padding | pad length) is padded to:
    /// 16 for AES-CBC; 1 for the AEADs (stream-like, no alignment needed in IKE).
    public var blockSize: Int { encryption == .aesCBC ? 16 : 1 }

    public var description: String {
        let key = keyLengthBits.map { "-\($0)" } ?? ""
        return encryption.isAEAD ? "\(encryption)\(key)" : "\(encryption)\(key)/\(integrity)"
    }
}

extension PseudorandomFunctionID {
    /// Output length in octets of the HMAC-SHA2 PRFs (RFC 4868), nil if unknown.
    public var outputLength: Int? {
        switch self {
        case .hmacSHA2_256: return 32
        case .hmacSHA2_384: return 48
        case .hmacSHA2_512: return 64
        default: return nil
        }
    }

    /// The preferred key length (RFC 7296 2.13: SK_d, SK_pi, SK_pr have this length); for
    /// HMAC it is the output length (RFC 4868 2.1.2).
    public var preferredKeyLength: Int? { outputLength }
}

extension KeyExchangeMethod {
    /// The length of the Key Exchange Data in a KE payload for this method (RFC 7296 3.4,
    /// RFC 5903 7, RFC 8031 2): the prime length for MODP, 2×coordinate for ECP, 32 for
    /// Curve25519; nil if unknown.
    public var publicValueLength: Int? {
        switch self {
        case .modp2048: return 256
        case .ecp256: return 64
        case .ecp384: return 96
        case .curve25519: return 32
        default: return nil
        }
    }
}
