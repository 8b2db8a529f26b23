// The peer's chain to a trust anchor, its validity, the identity in it, and each refusal's reason.
import Foundation
import IKECertificates
import IKEv2
import X509
import XCTest

final class CertificateChainTests: XCTestCase {
    let octets = Array("signed octets".utf8)
    var root: TestIssuer!
    var intermediate: TestIssuer!
    var leafKey: Certificate.PrivateKey!
    var leaf: Certificate!

    override func setUpWithError() throws {
        root = try makeCA("root", key: try TestKeyType.p256.make())
        intermediate = try makeCA("intermediate", key: try TestKeyType.p384.make(), issuer: root, pathLength: 0)
        leafKey = try TestKeyType.p256.make()
        leaf = try makeLeaf("peer", key: leafKey, issuer: intermediate,
                            names: [.dnsName("peer.vipsec.test"), .rfc822Name("peer@vipsec.test"), .ipAddress(.init(contentBytes: [192, 0, 2, 1]))])
    }

    func verify(leaf: Certificate, key: Certificate.PrivateKey, chain: [Certificate]? = nil, anchors: [Certificate]? = nil,
                identity: IdentificationPayload = fqdn("peer.vipsec.test"), expected: IdentificationPayload? = nil,
                revocation: RevocationList = RevocationList()) throws -> PeerAuthenticationFailure? {
        // Signed with `key` directly: it may be another than the certificate's.
        let signature = try openSSLKey(key).sign(octets, scheme: .ecdsa(.sha256))
        let auth = AuthenticationPayload(method: .digitalSignature,
                                         authenticationData: try DigitalSignatureEncoding.authenticationData(scheme: .ecdsa(.sha256), signature: signature))
        let verifier = try CertificateAuthenticator(chain: [], privateKey: nil,
                                                    trust: CertificateTrust(anchors: anchors ?? [root.certificate], revocation: revocation))
        let certificates = (chain ?? [leaf, intermediate.certificate]).map(certificatePayload)
        let octets = self.octets
        return outcome { await verifier.verify(auth, signedOctets: octets, identity: identity, expectedIdentity: expected,
                                               certificates: certificates) }
    }

    func testChainThroughIntermediateToAnchor() throws {
        XCTAssertNil(try verify(leaf: leaf, key: leafKey))
    }

    func testIdentitiesInTheCertificate() throws {
        XCTAssertNil(try verify(leaf: leaf, key: leafKey, identity: fqdn("PEER.vipsec.test")))
        XCTAssertNil(try verify(leaf: leaf, key: leafKey, identity: IdentificationPayload(idType: .rfc822Address, identificationData: Array("peer@vipsec.test".utf8))))
        XCTAssertNil(try verify(leaf: leaf, key: leafKey, identity: IdentificationPayload(idType: .ipv4Address, identificationData: [192, 0, 2, 1])))
        let subject = IdentificationPayload(idType: .derASN1DN, identificationData: try DistinguishedNameText.der("O=vipsec test, CN=peer"))
        XCTAssertNil(try verify(leaf: leaf, key: leafKey, identity: subject, expected: subject))
    }

    func testIdentityNotInTheCertificateIsRefused() throws {
        XCTAssertEqual(try verify(leaf: leaf, key: leafKey, identity: fqdn("other.vipsec.test")), .identityMismatch)
        XCTAssertEqual(try verify(leaf: leaf, key: leafKey, identity: IdentificationPayload(idType: .ipv4Address, identificationData: [192, 0, 2, 9])),
                       .identityMismatch)
        let otherDN = IdentificationPayload(idType: .derASN1DN, identificationData: try DistinguishedNameText.der("O=vipsec test, CN=other"))
        XCTAssertEqual(try verify(leaf: leaf, key: leafKey, identity: otherDN), .identityMismatch)
        // In the certificate, but not the identity configured for the peer.
        XCTAssertEqual(try verify(leaf: leaf, key: leafKey, expected: fqdn("someone.vipsec.test")), .identityMismatch)
    }

    func testExpiredCertificateIsRefused() throws {
        let expired = try makeLeaf("peer", key: leafKey, issuer: intermediate, names: [.dnsName("peer.vipsec.test")],
                                   validFor: Date(timeIntervalSinceNow: -86400)...Date(timeIntervalSinceNow: -3600))
        XCTAssertEqual(try verify(leaf: expired, key: leafKey), .expired)
    }

    func testUnknownCAIsRefused() throws {
        let other = try makeCA("other root", key: try TestKeyType.p256.make())
        XCTAssertEqual(try verify(leaf: leaf, key: leafKey, anchors: [other.certificate]), .untrusted)
        // Without the intermediate the chain does not reach the anchor either.
        XCTAssertEqual(try verify(leaf: leaf, key: leafKey, chain: [leaf]), .untrusted)
    }

    func testPathLengthConstraintIsEnforced() throws {
        // The intermediate allows no CA below it: a leaf under a second intermediate is refused.
        let second = try makeCA("second", key: try TestKeyType.p256.make(), issuer: intermediate)
        let deep = try makeLeaf("peer", key: leafKey, issuer: second, names: [.dnsName("peer.vipsec.test")])
        XCTAssertEqual(try verify(leaf: deep, key: leafKey, chain: [deep, second.certificate, intermediate.certificate]), .untrusted)
    }

    func testLeafWithoutDigitalSignatureKeyUsageIsRefused() throws {
        let encipherOnly = try makeLeaf("peer", key: leafKey, issuer: intermediate, names: [.dnsName("peer.vipsec.test")],
                                        keyUsage: KeyUsage(keyEncipherment: true))
        XCTAssertEqual(try verify(leaf: encipherOnly, key: leafKey), .untrusted)
    }

    func testSignatureByAnotherKeyIsRefused() throws {
        XCTAssertEqual(try verify(leaf: leaf, key: try TestKeyType.p256.make()), .badSignature)
    }

    func testNoCertificateIsRefused() throws {
        let signer = try CertificateAuthenticator(chain: [leaf], privateKey: try openSSLKey(leafKey), trust: nil)
        let auth = try signer.sign(octets, peerHashAlgorithms: SignatureHashAlgorithm.supported)
        let verifier = try CertificateAuthenticator(chain: [], privateKey: nil, trust: CertificateTrust(anchors: [root.certificate]))
        let octets = self.octets
        XCTAssertEqual(outcome { await verifier.verify(auth, signedOctets: octets, identity: fqdn("peer.vipsec.test"), expectedIdentity: nil,
                                                       certificates: []) },
                       .noCertificate)
    }

    func testKeyThatIsNotTheCertificatesIsRejectedAtConfiguration() throws {
        XCTAssertThrowsError(try CertificateAuthenticator(chain: [leaf], privateKey: try openSSLKey(try TestKeyType.p256.make()), trust: nil))
    }

    /// The CERTREQ carries SHA-1 of each anchor's SubjectPublicKeyInfo (20 octets each).
    func testCertificateRequestHashesTheAnchors() throws {
        let verifier = try CertificateAuthenticator(chain: [], privateKey: nil,
                                                    trust: CertificateTrust(anchors: [root.certificate, intermediate.certificate]))
        XCTAssertEqual(verifier.certificateRequest?.encoding, 4)
        XCTAssertEqual(verifier.certificateRequest?.data.count, 40)
        XCTAssertFalse(verifier.canSign)
    }
}

/// Revocation by a CRL (made here with OpenSSL's X509_CRL, as a CA would).
final class CertificateRevocationTests: XCTestCase {
    func testACertificateListedInItsIssuersCRLIsRefused() throws {
        let root = try makeCA("root", key: try TestKeyType.p256.make())
        let key = try TestKeyType.p256.make()
        let revoked = try makeLeaf("peer", key: key, issuer: root, names: [.dnsName("peer.vipsec.test")])
        let fine = try makeLeaf("peer", key: key, issuer: root, names: [.dnsName("peer.vipsec.test")])
        let crl = try makeCRL(issuer: root, revoking: [revoked])
        let list = RevocationList()
        try list.add(fileBytes: crl)
        XCTAssertEqual(list.count, 1)
        let trust = CertificateTrust(anchors: [root.certificate], revocation: list)
        XCTAssertEqual(outcome { await trust.validate(leaf: revoked, intermediates: []) }, .revoked)
        XCTAssertNil(outcome { await trust.validate(leaf: fine, intermediates: []) })
        // A CRL signed by another key is not believed.
        let impostor = try makeCA("root", key: try TestKeyType.p256.make())
        let forged = RevocationList()
        try forged.add(fileBytes: try makeCRL(issuer: impostor, revoking: [fine]))
        XCTAssertNil(outcome { await CertificateTrust(anchors: [root.certificate], revocation: forged).validate(leaf: fine, intermediates: []) })
        XCTAssertThrowsError(try RevocationList().add(fileBytes: Array("no CRL".utf8)))
    }
}
