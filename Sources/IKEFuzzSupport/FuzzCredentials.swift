// The certificates of the FuzzIKEResponderPubkey target and its replayed corpus: a
// responder that authenticates itself and its peers with certificates (`local` and
// `remote { auth = pubkey }`), and the initiator's signer the harness uses to make a valid
// AUTH (IKESA+FuzzResponder.swift, mode bit 1). The files are lab values made once with
// strongSwan's `pki` (Tests/IKEv2Tests/Fixtures/pubkey; its README), not secrets:
//
//   root.der            the trust anchor (ECDSA P-256, 20 years)
//   int.der             the intermediate (path length 0) that issued both leaves
//   responder.der/.key  the responder's leaf (ECDSA P-256, subjectAltName b.vipsec.test)
//   initiator.der/.key  the initiator's leaf (Ed25519, subjectAltName a.vipsec.test)
//   initiator-expired.der, initiator-stranger.der: the initiator's key in an expired
//                       certificate, and in one issued by another root (refusal seeds)

import Foundation
import IKECertificates
import IKEv2
import X509

public struct FuzzCredentials {
    /// The responder's configuration: IKESAConfiguration.fuzzResponder()'s proposals and
    /// selectors, with certificate authentication both ways and `root.der` as the anchor.
    public var configuration: IKESAConfiguration
    /// Signs as the initiator with `initiator.key` (and would send `initiator.der`).
    public var initiatorSigner: CertificateAuthenticator
    /// The DER of each fixture file by name (`initiator.der`, `int.der`, ...), for seeds.
    public var certificates: [String: [UInt8]]

    /// Reads the fixtures in `directory`; throws naming the file that is missing or bad.
    public init(directory: URL) throws {
        func read(_ name: String) throws -> [UInt8] {
            do { return [UInt8](try Data(contentsOf: directory.appendingPathComponent(name))) } catch {
                throw CertificateError("fuzz fixture \(directory.appendingPathComponent(name).path): \(error)")
            }
        }
        var certificates: [String: [UInt8]] = [:]
        for name in ["root.der", "int.der", "responder.der", "initiator.der", "initiator-expired.der", "initiator-stranger.der"] {
            certificates[name] = try read(name)
        }
        func certificate(_ name: String) throws -> Certificate { try Certificate(derEncoded: certificates[name]!) }
        let trust = CertificateTrust(anchors: [try certificate("root.der")])
        var configuration = try IKESAConfiguration.fuzzResponder()
        configuration.localAuthentication = .publicKey
        configuration.remoteAuthentication = .publicKey
        configuration.publicKeyAuthenticator = try CertificateAuthenticator(
            chain: [try certificate("responder.der"), try certificate("int.der")],
            privateKey: try SignatureKey.privateKey(fileBytes: try read("responder.key")), trust: trust)
        self.configuration = configuration
        initiatorSigner = try CertificateAuthenticator(
            chain: [try certificate("initiator.der"), try certificate("int.der")],
            privateKey: try SignatureKey.privateKey(fileBytes: try read("initiator.key")), trust: nil)
        self.certificates = certificates
    }
}
