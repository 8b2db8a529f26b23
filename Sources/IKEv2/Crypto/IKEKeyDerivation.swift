// Generating keying material for the IKE SA (RFC 7296 2.14) and for a rekeyed IKE SA (2.18).
// Pure: everything goes through a `PseudorandomFunction`.

/// The seven secrets of an IKE SA (RFC 7296 2.14):
///
///     {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
///                     = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)
public struct IKESAKeys: Sendable, Equatable, CustomStringConvertible {
    /// Derives CHILD_SA keys and the next SKEYSEED.
    public var skD: SecretBytes
    /// Integrity key for messages the initiator sends (empty for AEAD).
    public var skAi: SecretBytes
    /// Integrity key for messages the responder sends (empty for AEAD).
    public var skAr: SecretBytes
    /// Encryption key (AEAD: key | salt) for messages the initiator sends.
    public var skEi: SecretBytes
    /// Encryption key (AEAD: key | salt) for messages the responder sends.
    public var skEr: SecretBytes
    /// Key for the initiator's AUTH payload (MACedIDForI).
    public var skPi: SecretBytes
    /// Key for the responder's AUTH payload (MACedIDForR).
    public var skPr: SecretBytes

    public init(skD: SecretBytes, skAi: SecretBytes, skAr: SecretBytes, skEi: SecretBytes,
                skEr: SecretBytes, skPi: SecretBytes, skPr: SecretBytes) {
        self.skD = skD; self.skAi = skAi; self.skAr = skAr
        self.skEi = skEi; self.skEr = skEr; self.skPi = skPi; self.skPr = skPr
    }

    public var description: String {
        "IKESAKeys(SK_d \(skD.count), SK_a \(skAi.count), SK_e \(skEi.count), SK_p \(skPi.count) octets)"
    }
}

/// Key derivation for IKE SAs.
public enum IKEKeyDerivation {
    /// SKEYSEED = prf(Ni | Nr, g^ir)  (RFC 7296 2.14).
    ///
    /// The nonces are the Nonce Data of the initiator's and responder's Ni/Nr payloads;
    /// `sharedSecret` is the key exchange result. (For HMAC PRFs the whole Ni | Nr is the key;
    /// fixed-key PRFs such as AES-XCBC are not implemented.)
    public static func skeyseed(
        prf: some PseudorandomFunction, nonceInitiator: [UInt8], nonceResponder: [UInt8], sharedSecret: SecretBytes
    ) throws -> SecretBytes {
        try prf.compute(key: nonceInitiator + nonceResponder, data: sharedSecret)
    }

    /// The SKEYSEED of a rekeyed IKE SA (RFC 7296 2.18):
    ///
    ///     SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)
    ///
    /// `prf` is the OLD IKE SA's PRF; the new SA's keys are then derived with the new PRF by
    /// `ikeSAKeys`. Ni/Nr are the nonces of the CREATE_CHILD_SA exchange (initiator of that
    /// exchange first), the SPIs passed to `ikeSAKeys` are the new SA's.
    public static func rekeyedSKEYSEED(
        prf: some PseudorandomFunction, oldSKd: SecretBytes, sharedSecret: SecretBytes,
        nonceInitiator: [UInt8], nonceResponder: [UInt8]
    ) throws -> SecretBytes {
        try prf.compute(key: oldSKd, data: SecretBytes.concatenating([sharedSecret, nonceInitiator, nonceResponder]))
    }

    /// {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)
    ///
    /// SK_d, SK_pi and SK_pr have the PRF's preferred key length; SK_a* and SK_e* the lengths
    /// `suite` implies (AEAD: SK_a* empty and SK_e* = key | 4-octet salt, RFC 5282 / RFC 7634).
    /// The SPIs are the 8-octet IKE SPIs of the (new) SA.
    public static func ikeSAKeys(
        prf: some PseudorandomFunction, skeyseed: SecretBytes, nonceInitiator: [UInt8], nonceResponder: [UInt8],
        initiatorSPI: [UInt8], responderSPI: [UInt8], suite: EncryptionSuite
    ) throws -> IKESAKeys {
        try suite.validate()
        guard let encryptionLength = suite.encryptionKeyLength, let integrityLength = suite.integrityKeyLength else {
            throw IKECryptoError.unsupportedEncryptionSuite(suite)
        }
        let prfLength = prf.preferredKeyLength
        let lengths = [prfLength, integrityLength, integrityLength, encryptionLength, encryptionLength, prfLength, prfLength]
        let seed = nonceInitiator + nonceResponder + initiatorSPI + responderSPI
        let stream = try prf.prfPlus(key: skeyseed, seed: seed, length: lengths.reduce(0, +))
        var offset = 0
        var keys: [SecretBytes] = []
        for length in lengths {
            keys.append(stream.subrange(offset: offset, count: length))
            offset += length
        }
        return IKESAKeys(skD: keys[0], skAi: keys[1], skAr: keys[2], skEi: keys[3], skEr: keys[4],
                         skPi: keys[5], skPr: keys[6])
    }
}
