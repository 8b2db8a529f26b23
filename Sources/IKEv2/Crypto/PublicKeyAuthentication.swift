// Authentication by signatures with certificates (RFC 7296 2.15 with RFC 7427). The IKE
// exchanges only carry payloads: what signs, what validates a certificate chain and what
// matches an identity to a certificate is behind `PublicKeyAuthenticator`, implemented with
// OpenSSL and swift-certificates in IKECertificates. The signed octets are the same as for
// a pre-shared key (`PSKAuthentication.signedOctets`).

/// How one side of an IKE_SA proves who it is (`auth` of `local`/`remote`).
public enum IKEAuthenticationKind: String, Sendable, Equatable {
    /// Pre-shared key (Shared Key Message Integrity Code).
    case psk
    /// A signature by the key of a certificate (RFC 7427 Digital Signature; RSA and ECDSA classic methods accepted).
    case publicKey
}

/// Why a peer's signature authentication was refused; each is counted and answered
/// AUTHENTICATION_FAILED (RFC 7296 2.21.2).
public enum PeerAuthenticationFailure: String, Sendable, Hashable, CaseIterable {
    /// No CERT payload with an X.509 certificate, or one that does not parse.
    case noCertificate = "no_certificate"
    /// The certificate (or one in its chain) is outside its validity period.
    case expired
    /// No chain to a configured trust anchor (unknown CA, bad CA signature, constraints).
    case untrusted
    /// A certificate of the chain is listed in a CRL of its issuer.
    case revoked
    /// The IKE identity is neither the certificate's subject nor one of its subjectAltNames,
    /// or not the identity configured for the peer.
    case identityMismatch = "identity_mismatch"
    /// The AUTH signature does not verify with the certificate's key.
    case badSignature = "bad_signature"
    /// A pre-shared key AUTH that does not match ours.
    case pskMismatch = "psk_mismatch"
    /// An AUTH method or signature algorithm we do not accept (a PSK where a signature is
    /// required, a hash the peer should not have used, ...).
    case unsupportedMethod = "unsupported_method"
}

/// Signs our AUTH and verifies the peer's, for IKE_SAs whose `local` or `remote` uses
/// `publicKey`. Implementations must be usable from any thread.
public protocol PublicKeyAuthenticator: Sendable {
    /// Our certificate, then its intermediates (CERT payloads, encoding 4); empty when we
    /// do not authenticate with a certificate.
    var certificatePayloads: [CertificatePayload] { get }
    /// The CERTREQ we send: SHA-1 hashes of our trust anchors' SubjectPublicKeyInfo
    /// (RFC 7296 3.7), nil when we verify no peer certificates.
    var certificateRequest: CertificatePayload? { get }
    /// Whether we can sign (a private key is loaded).
    var canSign: Bool { get }
    /// The AUTH payload over `signedOctets`: RFC 7427 Digital Signature with a hash from
    /// `peerHashAlgorithms` when the peer announced some, else the key type's classic method.
    func sign(_ signedOctets: [UInt8], peerHashAlgorithms: [SignatureHashAlgorithm]?) throws -> AuthenticationPayload
    /// Verifies the peer: its certificate chain to a trust anchor, revocation, that
    /// `identity` is in the certificate and is `expectedIdentity` (the configured one, nil:
    /// any), then the signature. nil when all holds. Asynchronous (chain validation is):
    /// the IKE core never calls it, its shell does (`IKEAction.verifyPeer`).
    func verify(_ authentication: AuthenticationPayload, signedOctets: [UInt8], identity: IdentificationPayload,
                expectedIdentity: IdentificationPayload?, certificates: [CertificatePayload]) async -> PeerAuthenticationFailure?
}

extension CertificatePayload {
    /// Cert Encoding 4: X.509 Certificate - Signature (DER).
    public static let x509SignatureEncoding: UInt8 = 4
}
