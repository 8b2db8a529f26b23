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

    /// SHA-1 of `data`, for the NAT detection notifies (RFC 7296 2.23); not a key derivation.
    func sha1(_ data: [UInt8]) throws -> [UInt8]
}

/// The SK payload protections of one IKE SA endpoint: one to seal what it sends, one to open
/// what it receives.
public struct IKESAProtections {
    /// Seals messages this endpoint sends.
    public let outbound: any EncryptedPayloadProtection
    /// Opens messages this endpoint receives.
    public let inbound: any EncryptedPayloadProtection
}

extension IKECryptoProvider {
    /// SHA-1 of `data` (NAT detection hashes, RFC 7296 2.23). Providers without it throw,
    /// which turns NAT detection off (no NAT_DETECTION notifies are sent).
    public func sha1(_ data: [UInt8]) throws -> [UInt8] {
        throw IKECryptoError.backend(operation: "sha1", detail: "not provided")
    }

    /// Builds both directions from the IKE SA keys: the SA's initiator sends with
    /// SK_ei/SK_ai and receives with SK_er/SK_ar; the responder the other way round.
    ///
    /// - Parameter isInitiator: whether this endpoint is the initiator *of this IKE SA*: for an
    ///   SA made by rekeying, the side that initiated the rekey exchange (RFC 7296 2.18), not
    ///   the original IKE_SA_INIT initiator.
    public func makeIKESAProtections(keys: IKESAKeys, suite: EncryptionSuite, isInitiator: Bool) throws -> IKESAProtections {
        let initiatorSends = try makeEncryptedPayloadProtection(suite: suite, encryptionKey: keys.skEi, integrityKey: keys.skAi)
        let responderSends = try makeEncryptedPayloadProtection(suite: suite, encryptionKey: keys.skEr, integrityKey: keys.skAr)
        return isInitiator
            ? IKESAProtections(outbound: initiatorSends, inbound: responderSends)
            : IKESAProtections(outbound: responderSends, inbound: initiatorSends)
    }
}
