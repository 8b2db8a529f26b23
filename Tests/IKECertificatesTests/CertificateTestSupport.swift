// Certificates and keys made in the test with swift-certificates and swift-crypto.
import Crypto
import _CryptoExtras
import Foundation
import IKECertificates
import IKEv2
import SwiftASN1
import X509

enum TestKeyType: CaseIterable {
    case p256, p384, rsa2048, ed25519

    func make() throws -> Certificate.PrivateKey {
        switch self {
        case .p256: return Certificate.PrivateKey(P256.Signing.PrivateKey())
        case .p384: return Certificate.PrivateKey(P384.Signing.PrivateKey())
        case .rsa2048: return Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .bits2048))
        case .ed25519: return Certificate.PrivateKey(Curve25519.Signing.PrivateKey())
        }
    }
}

/// The same private key in OpenSSL (through its PKCS#8 PEM).
func openSSLKey(_ key: Certificate.PrivateKey) throws -> SignatureKey {
    try SignatureKey.privateKey(fileBytes: Array(try key.serializeAsPEM().pemString.utf8))
}

struct TestIssuer {
    var certificate: Certificate
    var key: Certificate.PrivateKey
}

func signatureAlgorithm(for key: Certificate.PrivateKey) -> Certificate.SignatureAlgorithm {
    if P256.Signing.PublicKey(key.publicKey) != nil { return .ecdsaWithSHA256 }
    if P384.Signing.PublicKey(key.publicKey) != nil { return .ecdsaWithSHA384 }
    if Curve25519.Signing.PublicKey(key.publicKey) != nil { return .ed25519 }
    return .sha256WithRSAEncryption
}

/// A CA certificate (self-signed when `issuer` is nil).
func makeCA(_ name: String, key: Certificate.PrivateKey, issuer: TestIssuer? = nil, pathLength: Int? = nil,
            validFor range: ClosedRange<Date> = Date(timeIntervalSinceNow: -3600)...Date(timeIntervalSinceNow: 86400)) throws -> TestIssuer {
    let subject = try DistinguishedName { OrganizationName("vipsec test"); CommonName(name) }
    let certificate = try Certificate(
        version: .v3, serialNumber: .init(), publicKey: key.publicKey,
        notValidBefore: range.lowerBound, notValidAfter: range.upperBound,
        issuer: issuer?.certificate.subject ?? subject, subject: subject,
        signatureAlgorithm: signatureAlgorithm(for: issuer?.key ?? key),
        extensions: try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: pathLength))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
        },
        issuerPrivateKey: issuer?.key ?? key)
    return TestIssuer(certificate: certificate, key: key)
}

/// An end-entity certificate with `names` as subjectAltNames.
func makeLeaf(_ commonName: String, key: Certificate.PrivateKey, issuer: TestIssuer, names: [GeneralName],
              validFor range: ClosedRange<Date> = Date(timeIntervalSinceNow: -3600)...Date(timeIntervalSinceNow: 86400),
              keyUsage: KeyUsage = KeyUsage(digitalSignature: true)) throws -> Certificate {
    try Certificate(
        version: .v3, serialNumber: .init(), publicKey: key.publicKey,
        notValidBefore: range.lowerBound, notValidAfter: range.upperBound,
        issuer: issuer.certificate.subject, subject: try DistinguishedName { OrganizationName("vipsec test"); CommonName(commonName) },
        signatureAlgorithm: signatureAlgorithm(for: issuer.key),
        extensions: try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            keyUsage
            SubjectAlternativeNames(names)
        },
        issuerPrivateKey: issuer.key)
}

func certificatePayload(_ certificate: Certificate) -> CertificatePayload {
    CertificatePayload(encoding: CertificatePayload.x509SignatureEncoding, data: DERBytes.of(certificate))
}

func fqdn(_ name: String) -> IdentificationPayload {
    IdentificationPayload(idType: .fqdn, identificationData: Array(name.utf8))
}

/// The outcome of an asynchronous verification, for assertions in synchronous tests (the
/// test's thread waits; the daemon never does: it awaits `IKEAction.verifyPeer` off its loop).
func outcome(_ body: @escaping @Sendable () async -> PeerAuthenticationFailure?) -> PeerAuthenticationFailure? {
    final class Box: @unchecked Sendable { var value: PeerAuthenticationFailure? }
    let box = Box()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        box.value = await body()
        done.signal()
    }
    done.wait()
    return box.value
}
