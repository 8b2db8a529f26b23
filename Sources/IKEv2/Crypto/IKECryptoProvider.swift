// The factory for every crypto primitive the IKE code uses; the daemon injects one
// implementation (IKECrypto.OpenSSLCryptoProvider), pure tests may inject their own.

/// Makes key exchanges, PRFs and SK payload protections, and supplies randomness.
public protocol IKECryptoProvider: Sendable {
    /// Key exchange methods this provider implements, in order of preference.
    var supportedKeyExchangeMethods: [KeyExchangeMethod] { get }
    /// PRFs this provider implements, in order of preference.
    var supportedPseudorandomFunctions: [PseudorandomFunctionID] { get }
    /// Encryption suites (ENCR + key length + INTEG) this provider implements, in order of preference.
    var supportedEncryptionSuites: [EncryptionSuite] { get }

    /// A fresh ephemeral key pair. Throws `unsupportedKeyExchangeMethod`.
    func makeKeyExchange(_ method: KeyExchangeMethod) throws -> any KeyExchange

    /// The PRF for a transform ID. Throws `unsupportedPseudorandomFunction`.
    func makePseudorandomFunction(_ id: PseudorandomFunctionID) throws -> any PseudorandomFunction

    /// SK payload protection for one direction.
    ///
    /// - Parameters:
    ///   - suite: the negotiated ENCR/INTEG (validated; throws `unsupportedEncryptionSuite`).
    ///   - encryptionKey: SK_ei or SK_er, `suite.encryptionKeyLength` octets (AEAD: key | 4-octet salt).
    ///   - integrityKey: SK_ai or SK_ar, `suite.integrityKeyLength` octets (empty for AEAD).
    func makeEncryptedPayloadProtection(
        suite: EncryptionSuite, encryptionKey: SecretBytes, integrityKey: SecretBytes
    ) throws -> any EncryptedPayloadProtection

    /// `count` octets from a cryptographically secure generator (nonces, SPIs, IVs).
    func randomBytes(count: Int) throws -> [UInt8]
}
