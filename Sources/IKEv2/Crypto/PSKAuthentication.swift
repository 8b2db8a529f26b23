// AUTH payload data for pre-shared keys (RFC 7296 2.15).

/// The octets each side signs (RFC 7296 2.15) and the PSK AUTH value computed over them.
public enum PSKAuthentication {
    /// The key pad string "Key Pad for IKEv2" (17 ASCII octets, no terminator).
    public static let keyPad: [UInt8] = Array("Key Pad for IKEv2".utf8)

    /// The signed octets of one side:
    ///
    ///     InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI
    ///     MACedIDForI = prf(SK_pi, RestOfInitIDPayload)
    ///     ResponderSignedOctets = RealMessage2 | NonceIData | MACedIDForR
    ///     MACedIDForR = prf(SK_pr, RestOfRespIDPayload)
    ///
    /// - Parameters:
    ///   - message: the side's own IKE_SA_INIT message, exactly as sent (all octets from the IKE header on).
    ///   - peerNonce: the other side's Nonce Data (the Nr data for the initiator, Ni for the responder).
    ///   - skP: SK_pi for the initiator, SK_pr for the responder.
    ///   - identificationPayloadBody: the side's own ID payload after its generic header
    ///     (ID Type | 3 RESERVED octets | Identification Data).
    public static func signedOctets(
        prf: some PseudorandomFunction, message: [UInt8], peerNonce: [UInt8], skP: SecretBytes,
        identificationPayloadBody: [UInt8]
    ) throws -> [UInt8] {
        let macedID = try prf.compute(key: skP, data: identificationPayloadBody)
        return message + peerNonce + macedID.unprotectedCopy()
    }

    /// AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>): the
    /// Authentication Data for Auth Method 2 (Shared Key Message Integrity Code).
    public static func authenticationData(
        prf: some PseudorandomFunction, sharedSecret: SecretBytes, signedOctets: [UInt8]
    ) throws -> [UInt8] {
        let padKey = try prf.compute(key: sharedSecret, data: keyPad)
        return try prf.compute(key: padKey, data: signedOctets).unprotectedCopy()
    }

    /// Whether the peer's Authentication Data matches (constant-time comparison).
    public static func verify(
        prf: some PseudorandomFunction, sharedSecret: SecretBytes, signedOctets: [UInt8], received: [UInt8]
    ) throws -> Bool {
        let expected = try authenticationData(prf: prf, sharedSecret: sharedSecret, signedOctets: signedOctets)
        return constantTimeEquals(expected, received)
    }
}
