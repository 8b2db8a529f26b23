// The FuzzIKEResponderPubkey target's corpus (Tests/IKEv2Tests/Corpus/responder-pubkey),
// replayed through the same entry point as the fuzzer: a responder configured for
// certificate authentication both ways (FuzzCredentials) receives strongSwan's captured
// IKE_SA_INIT, then an IKE_AUTH whose chain carries CERT and CERTREQ payloads, valid and
// hostile (truncated, other encodings, garbage, huge, another CA, expired). Each seed must
// reach the outcome in its name and move exactly the counters listed here: a drop or a
// refusal is counted, nothing traps, a CERTREQ is only ever a hint.
import Foundation
import IKECertificates
import IKECrypto
import IKEFuzzSupport
import IKEv2
import NIOCore
import VipsecTestSupport
import XCTest

final class ResponderPubkeyFuzzTests: XCTestCase {
    static let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let corpus = tests.appendingPathComponent("IKEv2Tests/Corpus/responder-pubkey")
    static let fixtures = tests.appendingPathComponent("IKEv2Tests/Fixtures")
    static let credentials = Result { try FuzzCredentials(directory: fixtures.appendingPathComponent("pubkey")) }
    let provider = OpenSSLCryptoProvider()

    func run(_ bytes: [UInt8]) throws -> ResponderFuzzRun {
        let credentials = try Self.credentials.get()
        return IKESA.fuzzResponderRun(bytes, configuration: credentials.configuration, provider: provider,
                                      initiatorSigner: credentials.initiatorSigner)
    }

    // MARK: Seeds

    /// What a seed must do besides its outcome: the counters it moves (all others stay 0).
    struct Expectation {
        var authenticationFailure: PeerAuthenticationFailure?
        var integrityFailures = 0
        var fragments = 0
    }

    static func x509(_ der: [UInt8]) -> IKEPayload { .certificate(CertificatePayload(encoding: 4, data: der)) }

    /// The seeds: strongSwan's x25519gcm IKE_SA_INIT, then an IKE_AUTH chain IDi, CERT...,
    /// CERTREQ..., AUTH, and the capture's SA, TSi, TSr; mode 3 (sealed, AUTH signed by the
    /// initiator's key) unless the seed says otherwise.
    static func seeds() throws -> [(name: String, bytes: [UInt8], expect: Expectation)] {
        let credentials = try credentials.get()
        func fixture(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: fixtures.appendingPathComponent(name))) }
        let initRequest = try fixture("strongswan-x25519gcm-1-ike_sa_init-request.bin")
        let captured = try fixture("strongswan-x25519gcm-3-ike_auth-request.plaintext.bin")
        let capturedFirst = PayloadType(rawValue: try fixture("strongswan-x25519gcm-3-ike_auth-request.bin")[28])
        var buffer = ByteBuffer(bytes: captured)
        let child = try IKEMessage.parseInnerPayloads(firstPayload: capturedFirst, from: &buffer)
            .filter { [.securityAssociation, .trafficSelectorInitiator, .trafficSelectorResponder].contains($0.type) }
        XCTAssertEqual(child.count, 3, "the capture's SA, TSi, TSr")
        let certs = credentials.certificates
        let leaf = certs["initiator.der"]!, intermediate = certs["int.der"]!
        let anchorHash = try RevocationList.subjectPublicKeyInfoSHA1(certs["root.der"]!)
        let identity = IKEPayload.identificationInitiator(IdentificationPayload(idType: .fqdn, identificationData: Array("a.vipsec.test".utf8)))
        // Replaced in mode 3; as it stands (mode 1) a well-formed RFC 7427 Ed25519 signature
        // over other octets (Ed25519 is deterministic: the seed is stable).
        let placeholder = try credentials.initiatorSigner.sign(Array("not the signed octets".utf8),
                                                               peerHashAlgorithms: SignatureHashAlgorithm.supported)
        let validCertificates = [x509(leaf), x509(intermediate)]
        let validRequest = IKEPayload.certificateRequest(CertificatePayload(encoding: 4, data: anchorHash))

        func chain(_ id: IKEPayload = identity, certificates: [IKEPayload] = validCertificates,
                   requests: [IKEPayload] = [validRequest], auth: AuthenticationPayload = placeholder) -> [UInt8] {
            var out = ByteBuffer()
            let first = IKEMessage.writeInnerPayloads([id] + certificates + requests + [.authentication(auth)] + child, to: &out)
            return [first.rawValue] + Array(out.readableBytesView)
        }
        func seed(_ name: String, _ outcome: String, mode: UInt8 = 3, _ rest: [UInt8], _ expect: Expectation = Expectation())
            -> (String, [UInt8], Expectation) {
            ("\(name)-\(outcome).bin", ResponderFuzzInput.make(initRequest: initRequest, mode: mode, rest: rest), expect)
        }
        var garbage: [UInt8] = []
        var state: UInt32 = 0xCE27
        for _ in 0..<12000 { state = state &* 1_103_515_245 &+ 12345; garbage.append(UInt8(truncatingIfNeeded: state >> 16)) }
        // A DER SEQUENCE that claims 16 MiB and holds 64 octets.
        let hugeLength: [UInt8] = [0x30, 0x83, 0xFF, 0xFF, 0xFF] + Array(leaf.prefix(64))
        let valid = chain()
        // The chain cut inside the leaf's CERT payload: its length runs past the end.
        let cut = Array(valid.prefix(1 + 8 + "a.vipsec.test".utf8.count + 4 + 1 + leaf.count / 2))
        let pskAuth = AuthenticationPayload(method: .sharedKeyMessageIntegrityCode, authenticationData: [UInt8](repeating: 7, count: 32))
        return [
            // Valid: established, and a CERTREQ naming our anchor, or none, or junk, changes nothing.
            seed("cert-valid", "established1", valid),
            seed("cert-valid-fragmented", "established1", mode: 3 | 4 | 2 << 3, valid, Expectation(fragments: 4)),
            seed("cert-valid-no-certreq", "established1", chain(requests: [])),
            seed("certreq-truncated", "established1", chain(requests: [.certificateRequest(CertificatePayload(encoding: 4, data: Array(anchorHash.prefix(7))))])),
            seed("certreq-empty", "established1", chain(requests: [.certificateRequest(CertificatePayload(encoding: 4, data: []))])),
            seed("certreq-other-encoding", "established1", chain(requests: [.certificateRequest(CertificatePayload(encoding: 1, data: anchorHash))])),
            seed("certreq-huge", "established1", chain(requests: [.certificateRequest(CertificatePayload(encoding: 4, data: Array(garbage.prefix(20 * 500))))])),
            seed("certreq-many", "established1", chain(requests: Array(repeating: validRequest, count: 40))),
            // Refused: AUTHENTICATION_FAILED, counted by reason.
            seed("cert-badsig", "authRefused", mode: 1, valid, Expectation(authenticationFailure: .badSignature)),
            seed("cert-none", "authRefused", chain(certificates: []), Expectation(authenticationFailure: .noCertificate)),
            seed("cert-truncated-der", "authRefused", chain(certificates: [x509(Array(leaf.prefix(leaf.count / 2))), x509(intermediate)]),
                 Expectation(authenticationFailure: .noCertificate)),
            seed("cert-other-encoding", "authRefused", chain(certificates: [.certificate(CertificatePayload(encoding: 1, data: leaf))]),
                 Expectation(authenticationFailure: .noCertificate)),
            // Only X.509 CERTs count: the intermediate is then taken for the end entity, which
            // does not chain to the anchor as one.
            seed("cert-other-encoding-then-x509", "authRefused",
                 chain(certificates: [.certificate(CertificatePayload(encoding: 1, data: leaf)), x509(intermediate)]),
                 Expectation(authenticationFailure: .untrusted)),
            seed("cert-garbage-huge", "authRefused", chain(certificates: [x509(garbage)]), Expectation(authenticationFailure: .noCertificate)),
            seed("cert-huge-length", "authRefused", chain(certificates: [x509(hugeLength), x509(intermediate)]),
                 Expectation(authenticationFailure: .noCertificate)),
            seed("cert-empty", "authRefused", chain(certificates: [x509([])]), Expectation(authenticationFailure: .noCertificate)),
            seed("cert-no-intermediate", "authRefused", chain(certificates: [x509(leaf)]), Expectation(authenticationFailure: .untrusted)),
            seed("cert-another-ca", "authRefused", chain(certificates: [x509(certs["initiator-stranger.der"]!), x509(intermediate)]),
                 Expectation(authenticationFailure: .untrusted)),
            seed("cert-expired", "authRefused", chain(certificates: [x509(certs["initiator-expired.der"]!), x509(intermediate)]),
                 Expectation(authenticationFailure: .expired)),
            seed("cert-identity-not-in-cert", "authRefused",
                 chain(.identificationInitiator(IdentificationPayload(idType: .fqdn, identificationData: Array("c.vipsec.test".utf8)))),
                 Expectation(authenticationFailure: .identityMismatch)),
            seed("cert-psk-auth", "authRefused", mode: 1, chain(auth: pskAuth), Expectation(authenticationFailure: .unsupportedMethod)),
            // Dropped: the chain does not parse once decrypted (counted with the ICV failures).
            seed("cert-payload-cut", "authDropped", mode: 1, cut, Expectation(integrityFailures: 1)),
        ]
    }

    func testSeedsMatchTheFixtures() throws {
        // Regenerate with IKEV2_WRITE_CORPUS=1.
        if ProcessInfo.processInfo.environment["IKEV2_WRITE_CORPUS"] == "1" {
            try FileManager.default.createDirectory(at: Self.corpus, withIntermediateDirectories: true)
        }
        for (name, bytes, _) in try Self.seeds() {
            let url = Self.corpus.appendingPathComponent(name)
            if ProcessInfo.processInfo.environment["IKEV2_WRITE_CORPUS"] == "1" { try Data(bytes).write(to: url) }
            XCTAssertEqual([UInt8](try Data(contentsOf: url)), bytes, name)
            XCTAssertLessThanOrEqual(bytes.count, ResponderFuzzInput.maximumLength, name)
        }
    }

    /// Every seed: its outcome, the authentication failure counted (with one
    /// AUTHENTICATION_FAILED refusal) or none, and no other drop counter moved.
    func testEverySeedReachesItsOutcomeAndCounters() throws {
        for (name, bytes, expect) in try Self.seeds() {
            let run = try self.run(bytes)
            XCTAssertEqual(run.outcome.corpusName, String(name.dropLast(4).split(separator: "-").last!), name)
            XCTAssertEqual(run.counters.authenticationFailures, expect.authenticationFailure.map { [$0: 1] } ?? [:], name)
            XCTAssertEqual(run.counters.refusals, expect.authenticationFailure == nil ? [:] : [.authenticationFailed: 1], name)
            XCTAssertEqual(run.counters.integrityFailures, expect.integrityFailures, name)
            XCTAssertEqual(run.counters.malformed, 0, name)
            XCTAssertEqual(run.counters.unexpected, 0, name)
            XCTAssertEqual(run.counters.fragmentsReceived, expect.fragments, name)
            XCTAssertEqual(run.counters.fragmentedMessagesReassembled, expect.fragments > 0 ? 1 : 0, name)
            if expect.authenticationFailure != nil { XCTAssertGreaterThan(run.sentOctets, 0, "\(name): answered AUTHENTICATION_FAILED") }
            if expect.integrityFailures > 0 { XCTAssertEqual(run.sentOctets, 0, "\(name): dropped without an answer") }
        }
    }

    /// RFC 7296 3.7: certificates go to a peer that asked for them. The answer to a CERTREQ
    /// carries our leaf and intermediate (it is longer by at least both), the answer without
    /// one does not.
    func testACertificateRequestIsHonouredAndOnlyThen() throws {
        let seeds = try Self.seeds()
        func answer(_ prefix: String) throws -> Int {
            let seed = try XCTUnwrap(seeds.first { $0.name.hasPrefix(prefix + "-established") }, prefix)
            return try run(seed.bytes).sentOctets
        }
        let certificates = try Self.credentials.get().certificates
        let sent = try certificates["responder.der"]!.count + certificates["int.der"]!.count
        let withRequest = try answer("cert-valid"), without = try answer("cert-valid-no-certreq")
        XCTAssertGreaterThanOrEqual(withRequest - without, sent, "with CERTREQ \(withRequest) octets, without \(without)")
        // A CERTREQ in another encoding is still a request (ECDSA signatures vary by a few octets).
        XCTAssertLessThan(abs(try answer("certreq-other-encoding") - withRequest), 8)
    }

    /// The committed corpus, as libFuzzer finds it: every file runs through; seeds reach
    /// the outcome in their name, `regression-*` files (findings, once fixed) merely run.
    func testEveryCorpusFileRunsThroughTheResponder() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path).filter { $0.hasSuffix(".bin") }.sorted()
        XCTAssertGreaterThanOrEqual(names.count, try Self.seeds().count)
        for name in names {
            let run = try self.run([UInt8](try Data(contentsOf: Self.corpus.appendingPathComponent(name))))
            if !name.hasPrefix("regression-") {
                XCTAssertEqual(run.outcome.corpusName, String(name.dropLast(4).split(separator: "-").last!), name)
            }
        }
    }

    /// Replays a corpus and prints how far its inputs got and the authentication failures
    /// they met, by reason: the committed seeds, or with VIPSEC_FUZZ_TALLY=DIR (e.g.
    /// .build-fuzz/corpus-FuzzIKEResponderPubkey) a fuzzer's own corpus. Either reaches an
    /// established IKE_SA; the seeds also every certificate refusal reason.
    func testTallyOfAFuzzerCorpus() throws {
        let directory = ProcessInfo.processInfo.environment["VIPSEC_FUZZ_TALLY"] ?? Self.corpus.path
        var outcomes: [String: Int] = [:], failures: [String: Int] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            let run = try self.run([UInt8](try Data(contentsOf: URL(fileURLWithPath: directory).appendingPathComponent(name))))
            outcomes[run.outcome.corpusName, default: 0] += 1
            for (reason, count) in run.counters.authenticationFailures { failures[reason.rawValue, default: 0] += count }
        }
        func line(_ tally: [String: Int]) -> String { tally.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") }
        print("pubkey fuzz corpus tally: \(line(outcomes)); authentication failures: \(line(failures))")
        XCTAssertTrue(outcomes.keys.contains { $0.hasPrefix("established") }, "no input of \(directory) reaches an established IKE_SA")
        guard directory == Self.corpus.path else { return }
        for reason in ["no_certificate", "untrusted", "expired", "identity_mismatch", "bad_signature", "unsupported_method"] {
            XCTAssertNotNil(failures[reason], "no input of \(directory) is refused as \(reason)")
        }
    }

    /// 300 seeded mutations of the seeds (one to four bits flipped): none
    /// may trap; they spread over the outcomes, and every refusal is counted by a reason.
    func testSeededMutationsAreDroppedOrRefusedAndCounted() throws {
        let seeds = try Self.seeds().map(\.bytes)
        var mutator = SeedMutator(seed: 0xCE27_5EED)
        var seen: [String: Int] = [:]
        for _ in 0..<300 {
            let bytes = mutator.next(of: seeds)
            let run = try self.run(bytes)
            seen[run.outcome.corpusName, default: 0] += 1
            if run.outcome == .authRefused, run.counters.refusals[.authenticationFailed] != nil {
                XCTAssertEqual(run.counters.authenticationFailures.values.reduce(0, +), 1, "an AUTHENTICATION_FAILED has its reason")
            }
        }
        XCTAssertGreaterThan(seen["established1", default: 0], 0, "\(seen)")
        XCTAssertGreaterThan(seen["authRefused", default: 0], 0, "\(seen)")
        XCTAssertGreaterThan(seen["authDropped", default: 0] + seen["initDropped", default: 0] + seen["initRefused", default: 0], 0, "\(seen)")
    }
}
