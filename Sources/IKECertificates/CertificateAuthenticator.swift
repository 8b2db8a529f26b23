// IKEv2's `PublicKeyAuthenticator` with OpenSSL signatures and swift-certificates chains:
// what an IKE_SA that authenticates with certificates signs with, sends, asks for and accepts.

import Foundation
import IKEv2
import SwiftASN1
import X509

public final class CertificateAuthenticator: PublicKeyAuthenticator, @unchecked Sendable {
    public let certificatePayloads: [CertificatePayload]
    public let certificateRequest: CertificatePayload?
    let privateKey: SignatureKey?
    let trust: CertificateTrust?
    let rsaPSS: Bool

    /// - Parameters:
    ///   - chain: our certificate first, then intermediates to send (empty: we do not sign).
    ///   - privateKey: the key of `chain[0]` (checked).
    ///   - trust: anchors and CRLs the peer's chain is validated with (nil: we verify no peer).
    ///   - rsaPSS: sign with RSASSA-PSS instead of PKCS#1 v1.5 (RSA keys, RFC 7427 only).
    public init(chain: [Certificate], privateKey: SignatureKey?, trust: CertificateTrust?, rsaPSS: Bool = false) throws {
        let ders = chain.map(CertificateTrust.der)
        if let privateKey {
            guard let leaf = ders.first else { throw CertificateError("a private key without a certificate") }
            guard privateKey.matches(try SignatureKey.publicKey(certificateDER: leaf)) else {
                throw CertificateError("the private key is not the certificate's")
            }
        }
        certificatePayloads = ders.map { CertificatePayload(encoding: CertificatePayload.x509SignatureEncoding, data: $0) }
        if let trust, !trust.anchors.isEmpty {
            let hashes = try trust.anchors.map { try RevocationList.subjectPublicKeyInfoSHA1(CertificateTrust.der($0)) }
            certificateRequest = CertificatePayload(encoding: CertificatePayload.x509SignatureEncoding, data: hashes.flatMap { $0 })
        } else {
            certificateRequest = nil
        }
        self.privateKey = privateKey
        self.trust = trust
        self.rsaPSS = rsaPSS
    }

    public var canSign: Bool { privateKey != nil }

    public func sign(_ signedOctets: [UInt8], peerHashAlgorithms: [SignatureHashAlgorithm]?) throws -> AuthenticationPayload {
        guard let key = privateKey else { throw CertificateError("no private key") }
        let accepted = (peerHashAlgorithms ?? []).filter(SignatureHashAlgorithm.supported.contains)
        if let scheme = key.scheme(peerAccepts: accepted, rsaPSS: rsaPSS) ?? (key.type == .ed25519 ? .ed25519 : nil) {
            let signature = try key.sign(signedOctets, scheme: scheme)
            return AuthenticationPayload(method: .digitalSignature,
                                         authenticationData: try DigitalSignatureEncoding.authenticationData(scheme: scheme, signature: signature))
        }
        // The peer announced no hash we share: the key type's classic method (RFC 7296 3.8, RFC 4754).
        switch key.type {
        case .rsa:
            return AuthenticationPayload(method: .rsaDigitalSignature, authenticationData: try key.sign(signedOctets, scheme: .rsaPKCS1(.sha1)))
        case .ecdsa(let bits):
            let (method, hash): (AuthenticationMethod, SignatureHashAlgorithm) = bits > 384 ? (.ecdsaSHA512P521, .sha512)
                : bits > 256 ? (.ecdsaSHA384P384, .sha384) : (.ecdsaSHA256P256, .sha256)
            let der = try key.sign(signedOctets, scheme: .ecdsa(hash))
            return AuthenticationPayload(method: method, authenticationData: try SignatureKey.ecdsaConcatenated(der: der, bits: bits))
        case .ed25519:
            throw CertificateError("Ed25519 needs RFC 7427 with the Identity hash")
        }
    }

    public func verify(_ authentication: AuthenticationPayload, signedOctets: [UInt8], identity: IdentificationPayload,
                       expectedIdentity: IdentificationPayload?, certificates: [CertificatePayload]) async -> PeerAuthenticationFailure? {
        guard let trust else { return .untrusted }
        let parsed = certificates.filter { $0.encoding == CertificatePayload.x509SignatureEncoding }
            .map { try? Certificate(derEncoded: $0.data) }
        guard let first = parsed.first, let leaf = first, let leafDER = certificates.first?.data else { return .noCertificate }
        if let failure = await trust.validate(leaf: leaf, intermediates: parsed.dropFirst().compactMap { $0 }) { return failure }
        if let expectedIdentity, !CertificateIdentity.same(expectedIdentity, identity) { return .identityMismatch }
        guard CertificateIdentity.matches(identity, certificate: leaf) else { return .identityMismatch }
        guard let key = try? SignatureKey.publicKey(certificateDER: leafDER) else { return .noCertificate }
        let scheme: SignatureScheme
        var signature = authentication.authenticationData
        switch authentication.method {
        case .digitalSignature:
            guard let decoded = try? DigitalSignatureEncoding.parse(signature) else { return .unsupportedMethod }
            (scheme, signature) = decoded
        case .rsaDigitalSignature:
            guard case .rsa = key.type else { return .badSignature }
            scheme = .rsaPKCS1(.sha1)
        case .ecdsaSHA256P256, .ecdsaSHA384P384, .ecdsaSHA512P521:
            let bits = authentication.method == .ecdsaSHA256P256 ? 256 : authentication.method == .ecdsaSHA384P384 ? 384 : 521
            guard key.type == .ecdsa(bits: bits), let der = try? SignatureKey.ecdsaDER(concatenated: signature) else {
                return .badSignature
            }
            scheme = .ecdsa(bits == 256 ? .sha256 : bits == 384 ? .sha384 : .sha512)
            signature = der
        default:
            return .unsupportedMethod
        }
        return key.verify(signature, message: signedOctets, scheme: scheme) ? nil : .badSignature
    }
}
