// Two IKE_SAs authenticating each other with certificates over the real OpenSSL provider:
// SIGNATURE_HASH_ALGORITHMS in IKE_SA_INIT, CERTREQ, CERT with the intermediate, AUTH 14;
// and a refusal answered AUTHENTICATION_FAILED and counted by reason on both sides.
import Foundation
import IKECertificates
import IKECrypto
import IKEv2
import NIOCore
import X509
import XCTest

final class CertificateConversationTests: XCTestCase {
    let provider = OpenSSLCryptoProvider()
    static let alice = IKEEndpoint(address: [192, 0, 2, 1], port: 500)
    static let bob = IKEEndpoint(address: [192, 0, 2, 2], port: 500)

    struct Party {
        var configuration: IKESAConfiguration
    }

    func configuration(_ name: String, chain: [Certificate], key: Certificate.PrivateKey, anchors: [Certificate],
                       expectedPeer: IdentificationPayload?) throws -> IKESAConfiguration {
        let isAlice = name == "alice"
        let net: (UInt8) -> TrafficSelector = { .ipv4([10, $0, 0, 0], [10, $0, 0, 255]) }
        let child = ChildSAConfiguration(name: "net", espProposals: try ProposalSyntax.parse("aes256gcm16", protocolID: .esp),
                                         localTrafficSelectors: [net(isAlice ? 1 : 2)], remoteTrafficSelectors: [net(isAlice ? 2 : 1)])
        var configuration = IKESAConfiguration(
            name: "gw", ikeProposals: try ProposalSyntax.parse("aes256gcm16-prfsha256-x25519", protocolID: .ike),
            localIdentity: fqdn("\(name).vipsec.test"), remoteIdentity: expectedPeer, presharedKey: SecretBytes([UInt8]()),
            child: child, reqid: 1)
        configuration.localAuthentication = .publicKey
        configuration.remoteAuthentication = .publicKey
        configuration.publicKeyAuthenticator = try CertificateAuthenticator(chain: chain, privateKey: try openSSLKey(key),
                                                                           trust: CertificateTrust(anchors: anchors))
        return configuration
    }

    struct Run {
        var initiator: IKESA
        var responder: IKESA?
        var initiatorActions: [IKEAction] = []
        var responderActions: [IKEAction] = []
        var toResponder: [[UInt8]] = []
        var toInitiator: [[UInt8]] = []
    }

    func sends(_ actions: [IKEAction]) -> [[UInt8]] { actions.compactMap { if case .send(let b) = $0 { return b }; return nil } }

    /// What the daemon's shell does: verifications run and reported, installs reported done.
    func completing(_ actions: [IKEAction], _ sa: inout IKESA) async -> [IKEAction] {
        var all = actions
        for case .verifyPeer(let verification) in actions {
            all += sa.peerVerified(verification.token, failure: await verification.run(), now: 0)
        }
        for case .install(let child) in all { all += sa.installCompleted(child.reference, succeeded: true, now: 0) }
        return all
    }

    func run(_ alice: IKESAConfiguration, _ bob: IKESAConfiguration) async throws -> Run {
        var run = Run(initiator: try IKESA.initiator(configuration: alice, provider: provider, local: Self.alice, remote: Self.bob))
        let first = run.initiator.start(now: 0)
        run.initiatorActions += first
        run.toResponder += sends(first)
        var rounds = 0
        while !(run.toResponder.isEmpty && run.toInitiator.isEmpty), rounds < 10 {
            rounds += 1
            if !run.toResponder.isEmpty {
                let bytes = run.toResponder.removeFirst()
                if run.responder == nil {
                    let spi = bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                    run.responder = try IKESA.responder(configuration: bob, provider: provider, local: Self.bob, remote: Self.alice,
                                                        initiatorSPI: spi)
                }
                var responder = run.responder!
                let actions = await completing(responder.receive(bytes, now: 0), &responder)
                run.responder = responder
                run.responderActions += actions
                run.toInitiator += sends(actions)
            }
            if !run.toInitiator.isEmpty {
                let actions = await completing(run.initiator.receive(run.toInitiator.removeFirst(), now: 0), &run.initiator)
                run.initiatorActions += actions
                run.toResponder += sends(actions)
            }
        }
        return run
    }

    func testBothSidesAuthenticateWithCertificates() async throws {
        let root = try makeCA("root", key: try TestKeyType.p256.make())
        let intermediate = try makeCA("intermediate", key: try TestKeyType.p384.make(), issuer: root, pathLength: 0)
        let aliceKey = try TestKeyType.rsa2048.make(), bobKey = try TestKeyType.ed25519.make()
        let aliceLeaf = try makeLeaf("alice", key: aliceKey, issuer: intermediate, names: [.dnsName("alice.vipsec.test")])
        let bobLeaf = try makeLeaf("bob", key: bobKey, issuer: intermediate, names: [.dnsName("bob.vipsec.test")])
        // Each trusts only the root: the intermediate must come in a CERT payload.
        let run = try await self.run(
            try configuration("alice", chain: [aliceLeaf, intermediate.certificate], key: aliceKey, anchors: [root.certificate],
                              expectedPeer: fqdn("bob.vipsec.test")),
            try configuration("bob", chain: [bobLeaf, intermediate.certificate], key: bobKey, anchors: [root.certificate],
                              expectedPeer: nil))
        XCTAssertEqual(run.initiator.phase, .established, "\(run.initiatorActions)")
        XCTAssertEqual(run.responder?.phase, .established, "\(run.responderActions)")
        XCTAssertTrue(run.initiatorActions.contains { if case .install = $0 { return true }; return false })
        XCTAssertEqual(run.responder?.counters.refusals, [:])
    }

    func testAnUntrustedResponderIsRefusedByTheInitiatorAndCounted() async throws {
        let root = try makeCA("root", key: try TestKeyType.p256.make())
        let stranger = try makeCA("stranger", key: try TestKeyType.p256.make())
        let aliceKey = try TestKeyType.p256.make(), bobKey = try TestKeyType.p256.make()
        let aliceLeaf = try makeLeaf("alice", key: aliceKey, issuer: root, names: [.dnsName("alice.vipsec.test")])
        let bobLeaf = try makeLeaf("bob", key: bobKey, issuer: stranger, names: [.dnsName("bob.vipsec.test")])
        let run = try await self.run(
            try configuration("alice", chain: [aliceLeaf], key: aliceKey, anchors: [root.certificate], expectedPeer: nil),
            try configuration("bob", chain: [bobLeaf], key: bobKey, anchors: [root.certificate], expectedPeer: nil))
        XCTAssertEqual(run.initiator.phase, .closed)
        XCTAssertEqual(run.initiator.counters.authenticationFailures, [.untrusted: 1])
        XCTAssertEqual(run.initiator.counters.refusals, [.authenticationFailed: 1])
        XCTAssertTrue(run.initiatorActions.contains { if case .closed(let why) = $0 { return why.contains("untrusted") }; return false })
    }

    func testAnInitiatorWithTheWrongIdentityIsAnsweredAuthenticationFailed() async throws {
        let root = try makeCA("root", key: try TestKeyType.p256.make())
        let aliceKey = try TestKeyType.p256.make(), bobKey = try TestKeyType.p256.make()
        let aliceLeaf = try makeLeaf("alice", key: aliceKey, issuer: root, names: [.dnsName("alice.vipsec.test")])
        let bobLeaf = try makeLeaf("bob", key: bobKey, issuer: root, names: [.dnsName("bob.vipsec.test")])
        let run = try await self.run(
            try configuration("alice", chain: [aliceLeaf], key: aliceKey, anchors: [root.certificate], expectedPeer: nil),
            try configuration("bob", chain: [bobLeaf], key: bobKey, anchors: [root.certificate], expectedPeer: fqdn("carol.vipsec.test")))
        XCTAssertEqual(run.responder?.phase, .closed)
        XCTAssertEqual(run.responder?.counters.authenticationFailures, [.identityMismatch: 1])
        XCTAssertEqual(run.responder?.counters.refusals, [.authenticationFailed: 1])
        XCTAssertEqual(run.initiator.phase, .closed, "the initiator heard AUTHENTICATION_FAILED")
    }

    // MARK: The verification is an action and an event (IKESA+PeerVerification.swift)

    /// Alice and Bob, each trusting the root that issued both, up to Bob's receipt of
    /// Alice's IKE_AUTH request (returned with Bob's actions on it).
    func toAuthRequest() throws -> (alice: IKESA, bob: IKESA, request: [UInt8], actions: [IKEAction]) {
        let root = try makeCA("root", key: try TestKeyType.p256.make())
        let aliceKey = try TestKeyType.p256.make(), bobKey = try TestKeyType.p256.make()
        let aliceLeaf = try makeLeaf("alice", key: aliceKey, issuer: root, names: [.dnsName("alice.vipsec.test")])
        let bobLeaf = try makeLeaf("bob", key: bobKey, issuer: root, names: [.dnsName("bob.vipsec.test")])
        var alice = try IKESA.initiator(
            configuration: try configuration("alice", chain: [aliceLeaf], key: aliceKey, anchors: [root.certificate], expectedPeer: nil),
            provider: provider, local: Self.alice, remote: Self.bob)
        let initRequest = try XCTUnwrap(sends(alice.start(now: 0)).first)
        var bob = try IKESA.responder(
            configuration: try configuration("bob", chain: [bobLeaf], key: bobKey, anchors: [root.certificate], expectedPeer: nil),
            provider: provider, local: Self.bob, remote: Self.alice,
            initiatorSPI: initRequest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        let initResponse = try XCTUnwrap(sends(bob.receive(initRequest, now: 0)).first)
        let authRequest = try XCTUnwrap(sends(alice.receive(initResponse, now: 0)).first)
        let actions = bob.receive(authRequest, now: 0)
        return (alice, bob, authRequest, actions)
    }

    func verification(_ actions: [IKEAction]) -> PeerVerification? {
        actions.lazy.compactMap { if case .verifyPeer(let v) = $0 { return v }; return nil }.first
    }

    func testTheResponderAnswersIKEAuthOnlyOnceThePeerIsVerifiedAndAbsorbsRetransmissions() async throws {
        var (alice, bob, request, actions) = try toAuthRequest()
        let pending = try XCTUnwrap(verification(actions), "\(actions)")
        XCTAssertEqual(actions.count, 1, "nothing but the verification: no response, no install, not established")
        XCTAssertTrue(bob.verifiesPeer)
        XCTAssertEqual(bob.phase, .authenticating)
        XCTAssertEqual(pending.identity, fqdn("alice.vipsec.test"))
        XCTAssertEqual(pending.certificates.count, 1)
        // The peer retransmits while the chain is validated: absorbed, no second verification.
        XCTAssertEqual(bob.receive(request, now: 1), [])
        XCTAssertEqual(bob.counters.retransmitsAbsorbedWhileVerifying, 1)
        // A report for another message changes nothing.
        XCTAssertEqual(bob.peerVerified(pending.token &+ 1, failure: nil, now: 1), [])
        XCTAssertTrue(bob.verifiesPeer)
        let outcome = await pending.run()
        XCTAssertNil(outcome, "a chain to the root, the right identity, a good signature")
        let done = bob.peerVerified(pending.token, failure: outcome, now: 1)
        XCTAssertFalse(bob.verifiesPeer)
        XCTAssertEqual(bob.phase, .established)
        XCTAssertTrue(done.contains(.established))
        XCTAssertTrue(done.contains { if case .install = $0 { return true }; return false })
        XCTAssertTrue(sends(done).isEmpty, "the response is held for the install (IKESA+Install.swift)")
        XCTAssertEqual(bob.peerVerified(pending.token, failure: nil, now: 1), [], "a repeated report does nothing")
        var response: [IKEAction] = []
        for case .install(let child) in done { response += bob.installCompleted(child.reference, succeeded: true, now: 1) }
        let answer = try XCTUnwrap(sends(response).first)
        // The initiator verifies the responder the same way, then is established.
        let initiatorActions = alice.receive(answer, now: 1)
        let theirs = try XCTUnwrap(verification(initiatorActions), "\(initiatorActions)")
        XCTAssertFalse(initiatorActions.contains(.established))
        XCTAssertTrue(alice.verifiesPeer)
        XCTAssertEqual(alice.receive(answer, now: 1), [], "a duplicate response answers nothing in flight")
        let after = alice.peerVerified(theirs.token, failure: await theirs.run(), now: 1)
        XCTAssertEqual(alice.phase, .established)
        XCTAssertTrue(after.contains(.established))
        XCTAssertTrue(after.contains { if case .install = $0 { return true }; return false })
    }

    func testAFailedVerificationIsAnsweredAuthenticationFailedAndCounted() throws {
        var (_, bob, _, actions) = try toAuthRequest()
        let pending = try XCTUnwrap(verification(actions))
        let refused = bob.peerVerified(pending.token, failure: .revoked, now: 1)
        XCTAssertEqual(bob.phase, .closed)
        XCTAssertEqual(sends(refused).count, 1, "AUTHENTICATION_FAILED goes out")
        XCTAssertEqual(bob.counters.authenticationFailures, [.revoked: 1])
        XCTAssertEqual(bob.counters.refusals, [.authenticationFailed: 1])
        XCTAssertFalse(refused.contains { if case .install = $0 { return true }; return false })
    }

    func testAReportAfterTheIKESAClosedDoesNothing() throws {
        var (_, bob, _, actions) = try toAuthRequest()
        let pending = try XCTUnwrap(verification(actions))
        _ = bob.delete(now: 1)
        XCTAssertFalse(bob.verifiesPeer)
        XCTAssertEqual(bob.peerVerified(pending.token, failure: nil, now: 2), [])
        XCTAssertNotEqual(bob.phase, .established)
    }
}
