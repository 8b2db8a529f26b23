// Generating keying material for CHILD_SAs (RFC 7296 2.17).

/// The keys of one ESP CHILD_SA pair, in the order RFC 7296 2.17 takes them from KEYMAT:
/// initiator-to-responder encryption then integrity, then responder-to-initiator.
///
/// The encryption keys include the AEAD salt as the kernel wants it: `rfc4106(gcm(aes))`
/// and `rfc7539esp(chacha20,poly1305)` take key | 4-octet salt as one key blob.
public struct ChildSAKeys: Sendable, Equatable, CustomStringConvertible {
    /// Encryption key for the SA carrying traffic from the IKE initiator to the responder.
    public var initiatorToResponderEncryption: SecretBytes
    /// Integrity key for that SA (empty for AEAD).
    public var initiatorToResponderIntegrity: SecretBytes
    /// Encryption key for the SA carrying traffic from the responder to the initiator.
    public var responderToInitiatorEncryption: SecretBytes
    /// Integrity key for that SA (empty for AEAD).
    public var responderToInitiatorIntegrity: SecretBytes

    public init(initiatorToResponderEncryption: SecretBytes, initiatorToResponderIntegrity: SecretBytes,
                responderToInitiatorEncryption: SecretBytes, responderToInitiatorIntegrity: SecretBytes) {
        self.initiatorToResponderEncryption = initiatorToResponderEncryption
        self.initiatorToResponderIntegrity = initiatorToResponderIntegrity
        self.responderToInitiatorEncryption = responderToInitiatorEncryption
        self.responderToInitiatorIntegrity = responderToInitiatorIntegrity
    }

    public var description: String {
        "ChildSAKeys(encryption \(initiatorToResponderEncryption.count), integrity \(initiatorToResponderIntegrity.count) octets)"
    }
}

extension IKEKeyDerivation {
    /// KEYMAT for a CHILD_SA (RFC 7296 2.17):
    ///
    ///     KEYMAT = prf+(SK_d, Ni | Nr)                     (IKE_AUTH, or CREATE_CHILD_SA without PFS)
    ///     KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr)        (CREATE_CHILD_SA with a KE payload)
    ///
    /// - Parameters:
    ///   - prf: the IKE SA's PRF; `skD` its SK_d.
    ///   - sharedSecret: the new exchange's g^ir, or nil without PFS.
    ///   - nonceInitiator/nonceResponder: for the first CHILD_SA the IKE_SA_INIT nonces; for
    ///     CREATE_CHILD_SA that exchange's nonces (initiator of that exchange first).
    ///   - suite: the ESP transforms, which give the key lengths (ESP and IKE use the same
    ///     key sizes: AES-GCM/ChaCha key + 4-octet salt, CBC key + HMAC key).
    public static func childSAKeys(
        prf: some PseudorandomFunction, skD: SecretBytes, sharedSecret: SecretBytes?,
        nonceInitiator: [UInt8], nonceResponder: [UInt8], suite: EncryptionSuite
    ) throws -> ChildSAKeys {
        try suite.validate()
        guard let encryptionLength = suite.encryptionKeyLength, let integrityLength = suite.integrityKeyLength else {
            throw IKECryptoError.unsupportedEncryptionSuite(suite)
        }
        var parts: [any ContiguousOctets] = []
        if let sharedSecret { parts.append(sharedSecret) }
        parts.append(nonceInitiator)
        parts.append(nonceResponder)
        let seed = SecretBytes.concatenating(parts)
        let total = 2 * (encryptionLength + integrityLength)
        let keymat = try prf.prfPlus(key: skD, seed: seed, length: total)
        return ChildSAKeys(
            initiatorToResponderEncryption: keymat.subrange(offset: 0, count: encryptionLength),
            initiatorToResponderIntegrity: keymat.subrange(offset: encryptionLength, count: integrityLength),
            responderToInitiatorEncryption: keymat.subrange(offset: encryptionLength + integrityLength, count: encryptionLength),
            responderToInitiatorIntegrity: keymat.subrange(offset: 2 * encryptionLength + integrityLength, count: integrityLength))
    }
}
