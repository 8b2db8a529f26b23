// RFC 7427 signatures made and verified with OpenSSL, per key type, and the AUTH encoding.
import Foundation
import IKECertificates
import IKEv2
import X509
import XCTest

final class DigitalSignatureTests: XCTestCase {
    let octets = Array("RealMessage1 | NonceRData | MACedIDForI".utf8)

    /// Each key type signs with method 14 and the hash the peer announced; the other side
    /// verifies; a changed octet or another key's signature does not verify.
    func testSignatureRoundTripPerKeyType() throws {
        for type in TestKeyType.allCases {
            let key = try type.make()
            let ca = try makeCA("root", key: key)
            let leaf = try makeLeaf("gw", key: key, issuer: ca, names: [.dnsName("gw.vipsec.test")])
            let signer = try CertificateAuthenticator(chain: [leaf], privateKey: try openSSLKey(key), trust: nil)
            let verifier = try CertificateAuthenticator(chain: [], privateKey: nil, trust: CertificateTrust(anchors: [ca.certificate]))
            let auth = try signer.sign(octets, peerHashAlgorithms: SignatureHashAlgorithm.supported)
            XCTAssertEqual(auth.method, .digitalSignature, "\(type)")
            let octets = self.octets, certificates = [certificatePayload(leaf)]
            XCTAssertNil(outcome { await verifier.verify(auth, signedOctets: octets, identity: fqdn("gw.vipsec.test"), expectedIdentity: nil,
                                                         certificates: certificates) }, "\(type)")
            var changed = octets
            changed[0] ^= 1
            let tampered = changed
            XCTAssertEqual(outcome { await verifier.verify(auth, signedOctets: tampered, identity: fqdn("gw.vipsec.test"), expectedIdentity: nil,
                                                           certificates: certificates) }, .badSignature, "\(type)")
        }
    }

    /// RSA with RSASSA-PSS (auth = rsa/pss) verifies, and names PSS in its AlgorithmIdentifier.
    func testRSAPSSRoundTrip() throws {
        let key = try TestKeyType.rsa2048.make()
        let ca = try makeCA("root", key: key)
        let leaf = try makeLeaf("gw", key: key, issuer: ca, names: [.dnsName("gw")])
        let signer = try CertificateAuthenticator(chain: [leaf], privateKey: try openSSLKey(key), trust: nil, rsaPSS: true)
        let auth = try signer.sign(octets, peerHashAlgorithms: [.sha384])
        let (scheme, _) = try DigitalSignatureEncoding.parse(auth.authenticationData)
        XCTAssertEqual(scheme, .rsaPSS(.sha384))
        let verifier = try CertificateAuthenticator(chain: [], privateKey: nil, trust: CertificateTrust(anchors: [ca.certificate]))
        let octets = self.octets, certificates = [certificatePayload(leaf)]
        XCTAssertNil(outcome { await verifier.verify(auth, signedOctets: octets, identity: fqdn("gw"), expectedIdentity: nil,
                                                     certificates: certificates) })
    }

    /// A peer that announced no hash gets the classic methods: RSA (1) and ECDSA (9, 10), which verify.
    func testClassicMethodsWithoutHashNegotiation() throws {
        for (type, method) in [(TestKeyType.rsa2048, AuthenticationMethod.rsaDigitalSignature),
                               (.p256, .ecdsaSHA256P256), (.p384, .ecdsaSHA384P384)] {
            let key = try type.make()
            let ca = try makeCA("root", key: key)
            let leaf = try makeLeaf("gw", key: key, issuer: ca, names: [.dnsName("gw")])
            let signer = try CertificateAuthenticator(chain: [leaf], privateKey: try openSSLKey(key), trust: nil)
            let auth = try signer.sign(octets, peerHashAlgorithms: nil)
            XCTAssertEqual(auth.method, method)
            let verifier = try CertificateAuthenticator(chain: [], privateKey: nil, trust: CertificateTrust(anchors: [ca.certificate]))
            let octets = self.octets, certificates = [certificatePayload(leaf)]
            XCTAssertNil(outcome { await verifier.verify(auth, signedOctets: octets, identity: fqdn("gw"), expectedIdentity: nil,
                                                         certificates: certificates) }, "\(type)")
        }
    }

    /// The AlgorithmIdentifiers of RFC 7427 Appendix A, octet for octet.
    func testAlgorithmIdentifierEncodingMatchesRFC7427() throws {
        XCTAssertEqual(try DigitalSignatureEncoding.algorithmIdentifier(.rsaPKCS1(.sha256)),
                       [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00])
        XCTAssertEqual(try DigitalSignatureEncoding.algorithmIdentifier(.ecdsa(.sha256)),
                       [0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02])
        XCTAssertEqual(try DigitalSignatureEncoding.algorithmIdentifier(.ecdsa(.sha384)),
                       [0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03])
        XCTAssertEqual(try DigitalSignatureEncoding.algorithmIdentifier(.ed25519), [0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70])
        let data = try DigitalSignatureEncoding.authenticationData(scheme: .ecdsa(.sha256), signature: [1, 2, 3])
        XCTAssertEqual(data.first, 12, "the ASN.1 Length octet")
        let parsed = try DigitalSignatureEncoding.parse(data)
        XCTAssertEqual(parsed.scheme, .ecdsa(.sha256))
        XCTAssertEqual(parsed.signature, [1, 2, 3])
        for scheme in [SignatureScheme.rsaPSS(.sha256), .rsaPSS(.sha512), .rsaPKCS1(.sha512)] {
            XCTAssertEqual(try DigitalSignatureEncoding.parse(DigitalSignatureEncoding.authenticationData(scheme: scheme, signature: [9])).scheme, scheme)
        }
    }

    /// Refused: sha1WithRSAEncryption (not announced), PSS without parameters (SHA-1), a
    /// length octet past the data.
    func testAlgorithmIdentifierRefusals() {
        let sha1WithRSA: [UInt8] = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00]
        XCTAssertThrowsError(try DigitalSignatureEncoding.parse([UInt8(sha1WithRSA.count)] + sha1WithRSA + [1]))
        let pssDefault: [UInt8] = [0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a]
        XCTAssertThrowsError(try DigitalSignatureEncoding.parse([UInt8(pssDefault.count)] + pssDefault + [1]))
        XCTAssertThrowsError(try DigitalSignatureEncoding.parse([40, 0x30, 0x05]))
    }

    /// SIGNATURE_HASH_ALGORITHMS data: two octets per hash, in order.
    func testSignatureHashAlgorithmsNotifyData() {
        XCTAssertEqual(SignatureHashAlgorithm.notificationData(SignatureHashAlgorithm.supported), [0, 2, 0, 3, 0, 4, 0, 5])
        XCTAssertEqual(SignatureHashAlgorithm.parse([0, 2, 0, 5, 7]), [.sha256, .identity])
    }
}
