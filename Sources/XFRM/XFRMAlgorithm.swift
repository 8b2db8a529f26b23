/// One transform of an SA with its key: an AEAD, an encryption or an integrity algorithm,
/// named the way the Linux crypto API and `ip xfrm` name them.
///
/// `ip xfrm state add ... aead 'rfc4106(gcm(aes))' KEY 128` ↔ `.aesGCM(key:)`;
/// `enc 'cbc(aes)' KEY auth-trunc 'hmac(sha256)' KEY 128` ↔ `.aesCBC(key:)` + `.hmacSHA256(key:)`.
public struct XFRMAlgorithm: Equatable, Sendable, CustomStringConvertible {
    /// What the algorithm does, which decides the attribute it travels in.
    public enum Kind: Equatable, Sendable {
        /// XFRMA_ALG_AEAD; `bits` is the ICV length.
        case aead
        /// XFRMA_ALG_CRYPT.
        case encryption
        /// XFRMA_ALG_AUTH_TRUNC; `bits` is the truncation length.
        case integrity
    }

    public var kind: Kind
    /// Crypto API name, at most 63 bytes ("rfc4106(gcm(aes))").
    public var name: String
    /// Key bytes (for AEADs including the salt/nonce tail, e.g. 4 bytes for rfc4106).
    public var key: XFRMKey
    /// ICV bits for an AEAD, truncation bits for integrity, 0 for encryption.
    public var bits: UInt32

    public init(kind: Kind, name: String, key: XFRMKey, bits: UInt32 = 0) {
        self.kind = kind
        self.name = name
        self.key = key
        self.bits = bits
    }

    /// `rfc4106(gcm(aes))` with a 16/24/32-byte AES key plus 4-byte salt, 16-byte ICV.
    public static func aesGCM(key: XFRMKey, icvBits: UInt32 = 128) -> XFRMAlgorithm {
        XFRMAlgorithm(kind: .aead, name: "rfc4106(gcm(aes))", key: key, bits: icvBits)
    }

    /// `rfc7539esp(chacha20,poly1305)` with a 32-byte key plus 4-byte salt, 16-byte ICV.
    public static func chaCha20Poly1305(key: XFRMKey) -> XFRMAlgorithm {
        XFRMAlgorithm(kind: .aead, name: "rfc7539esp(chacha20,poly1305)", key: key, bits: 128)
    }

    /// `cbc(aes)` with a 16/24/32-byte key.
    public static func aesCBC(key: XFRMKey) -> XFRMAlgorithm {
        XFRMAlgorithm(kind: .encryption, name: "cbc(aes)", key: key)
    }

    /// `hmac(sha256)`, 32-byte key, truncated to 128 bits (RFC 4868).
    public static func hmacSHA256(key: XFRMKey) -> XFRMAlgorithm {
        XFRMAlgorithm(kind: .integrity, name: "hmac(sha256)", key: key, bits: 128)
    }

    /// `hmac(sha384)`, 48-byte key, truncated to 192 bits (RFC 4868).
    public static func hmacSHA384(key: XFRMKey) -> XFRMAlgorithm {
        XFRMAlgorithm(kind: .integrity, name: "hmac(sha384)", key: key, bits: 192)
    }

    /// `hmac(sha512)`, 64-byte key, truncated to 256 bits (RFC 4868).
    public static func hmacSHA512(key: XFRMKey) -> XFRMAlgorithm {
        XFRMAlgorithm(kind: .integrity, name: "hmac(sha512)", key: key, bits: 256)
    }

    /// The rules for the algorithms this project uses; other names go to the kernel unchecked.
    struct Rule {
        var kind: Kind
        var keyLengths: [Int]
        var bits: [UInt32]
    }

    static let knownRules: [String: Rule] = [
        "rfc4106(gcm(aes))": Rule(kind: .aead, keyLengths: [20, 28, 36], bits: [64, 96, 128]),
        "rfc7539esp(chacha20,poly1305)": Rule(kind: .aead, keyLengths: [36], bits: [128]),
        "cbc(aes)": Rule(kind: .encryption, keyLengths: [16, 24, 32], bits: [0]),
        "hmac(sha256)": Rule(kind: .integrity, keyLengths: [32], bits: [128]),
        "hmac(sha384)": Rule(kind: .integrity, keyLengths: [48], bits: [192]),
        "hmac(sha512)": Rule(kind: .integrity, keyLengths: [64], bits: [256]),
    ]

    /// Checks name length, and for known names kind, key length and ICV/truncation bits.
    public func validate() throws {
        guard !name.isEmpty, name.utf8.count < 64 else {
            throw XFRMError.invalidArgument("algorithm name '\(name)' must be 1...63 bytes")
        }
        guard let rule = XFRMAlgorithm.knownRules[name] else { return }
        guard rule.kind == kind else {
            throw XFRMError.invalidArgument("\(name) is an \(rule.kind) algorithm, used as \(kind)")
        }
        guard rule.keyLengths.contains(key.count) else {
            throw XFRMError.invalidArgument("\(name) needs a key of \(rule.keyLengths.map(String.init).joined(separator: "/")) bytes, got \(key.count)")
        }
        guard rule.bits.contains(bits) else {
            let what = kind == .aead ? "ICV" : "truncation"
            throw XFRMError.invalidArgument("\(name) needs \(what) of \(rule.bits.map(String.init).joined(separator: "/")) bits, got \(bits)")
        }
    }

    /// Name and lengths; the key is redacted.
    public var description: String {
        switch kind {
        case .aead: return "aead \(name) \(key) \(bits)"
        case .encryption: return "enc \(name) \(key)"
        case .integrity: return "auth-trunc \(name) \(key) \(bits)"
        }
    }
}
