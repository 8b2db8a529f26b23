import XCTest
import IKEv2
import IKECrypto
import VipsecTestSupport
@testable import IKEDaemon

/// INITIAL_CONTACT (RFC 7296 2.4): sent by an initiator with no other IKE_SA between the same
/// identities; received, it ends the older IKE_SAs of those identities (a restarted peer).
final class InitialContactTests: XCTestCase, GatewayPeerTesting {
    let provider = OpenSSLCryptoProvider()
    typealias C = IKEConversation
    typealias G = IKEGatewayTests

    // MARK: The notify in IKE_AUTH

    func conversation(initialContact: Bool) throws -> C.Conversation {
        var c = try C.Conversation(initiator: C.configuration("alice"), responder: C.configuration("bob"), provider: provider)
        c.initiator.sendsInitialContact = initialContact
        c.start()
        try c.run()
        XCTAssertEqual(c.responder?.phase, .established)
        return c
    }

    func testTheResponderReportsAnInitialContactOnceEstablished() throws {
        let c = try conversation(initialContact: true)
        XCTAssertTrue(c.responderActions.contains(.initialContact))
        let established = c.responderActions.firstIndex(of: .established) ?? .max
        XCTAssertLessThan(established, c.responderActions.firstIndex(of: .initialContact) ?? .min, "after it is established")
        XCTAssertEqual(c.responder?.peerIdentity, C.fqdn("alice"), "the authenticated identity")
        XCTAssertEqual(c.initiator.peerIdentity, C.fqdn("bob"))
        XCTAssertFalse(c.initiatorActions.contains(.initialContact), "the responder never sends it")
    }

    func testNoInitialContactUnlessTheInitiatorAssertsIt() throws {
        let c = try conversation(initialContact: false)
        XCTAssertFalse(c.responderActions.contains(.initialContact))
        XCTAssertFalse(c.initiatorActions.contains(.initialContact))
    }

    func testAnInitialContactWithAFailedAuthenticationIsIgnored() throws {
        var c = try C.Conversation(initiator: C.configuration("alice", psk: "wrong"), responder: C.configuration("bob"),
                                   provider: provider)
        c.initiator.sendsInitialContact = true
        c.start()
        try c.run()
        XCTAssertEqual(c.responder?.phase, .closed)
        XCTAssertFalse(c.responderActions.contains(.initialContact), "only an authenticated peer may end IKE_SAs")
    }

    func testOnlyIKESAsBetweenTheSameIdentitiesAreSuperseded() throws {
        let bob = try XCTUnwrap(conversation(initialContact: false).responder)
        func contact(peer: String, local: String, spi: UInt64 = 1) -> InitialContact {
            InitialContact(ikeSA: spi, peerIdentity: C.fqdn(peer), localIdentity: C.fqdn(local))
        }
        XCTAssertTrue(contact(peer: "alice", local: "bob").supersedes(bob))
        XCTAssertFalse(contact(peer: "mallory", local: "bob").supersedes(bob), "another peer identity")
        XCTAssertFalse(contact(peer: "alice", local: "carol").supersedes(bob), "another local identity")
        XCTAssertFalse(contact(peer: "alice", local: "bob", spi: bob.localSPI).supersedes(bob), "not the new IKE_SA itself")
    }

    // MARK: The gateway

    /// peer <-> gateway until quiet, from the peer's IKE_SA_INIT; the gateway's actions.
    func connect(_ peer: inout IKESA, _ gateway: inout IKEGateway, now: Double) -> [GatewayAction] {
        var toGateway = peer.start(now: now).compactMap { if case .send(let b) = $0 { return b }; return nil }
        var all: [GatewayAction] = []
        while !toGateway.isEmpty {
            let actions = gateway.receiveInstalling(toGateway.removeFirst(), local: G.gatewayAddress, remote: G.peerAddress, now: now)
            all += actions
            for case .send(let bytes, _, _) in actions {
                toGateway += peer.receiveInstalling(bytes, now: now).compactMap { if case .send(let b) = $0 { return b }; return nil }
            }
        }
        return all
    }

    /// Delivers until quiet between the gateway and a peer that files its rekeyed IKE_SAs.
    func converse(_ peer: inout RekeyEndpoint, _ gateway: inout IKEGateway, now: Double) {
        while !peer.outbox.isEmpty {
            let actions = gateway.receiveInstalling(peer.outbox.removeFirst(), local: G.gatewayAddress, remote: G.peerAddress, now: now)
            for case .send(let bytes, _, _) in actions { peer.receive(bytes, now: now) }
        }
    }

    func gateway() throws -> IKEGateway {
        try IKEGateway(config: DaemonConfig(parsing: LabGatewayConfig.text(), file: "t"), provider: provider)
    }

    /// The peer restarts: its new IKE_SA (same identity) asserts INITIAL_CONTACT; the old
    /// IKE_SA and its CHILD_SA go at once, with no Delete sent to the peer.
    func testARestartedPeersOldIKESAAndCHILDSAsGoAtOnce() throws {
        var gateway = try gateway()
        var before = try peer()
        _ = connect(&before, &gateway, now: 0)
        let (oldSPI, old) = try XCTUnwrap(gateway.sas.first)
        let oldChild = try XCTUnwrap(old.childSAs.first)
        var restarted = try peer()
        restarted.sendsInitialContact = true
        let actions = connect(&restarted, &gateway, now: 5)
        XCTAssertEqual(restarted.phase, .established)
        XCTAssertNil(gateway.sas[oldSPI], "the old IKE_SA is gone")
        XCTAssertEqual(gateway.sas.count, 1)
        XCTAssertEqual(gateway.sas.values.first?.childSAs.count, 1, "the new IKE_SA's CHILD_SA stays")
        let deleted = actions.compactMap { if case .delete(let c) = $0 { return c.reference }; return nil }
        XCTAssertEqual(deleted, [oldChild.reference], "the old CHILD_SA leaves the kernel (or every target)")
        XCTAssertTrue(actions.contains { if case .initialContact(let c) = $0 { return c.peerIdentity == restarted.configuration.localIdentity }; return false },
                      "the other workers are told")
        let sends = actions.compactMap { if case .send(let b, _, _) = $0 { return b }; return nil }
        XCTAssertEqual(sends.count, 2, "IKE_SA_INIT and IKE_AUTH responses only: no Delete to a peer that lost the IKE_SA")
        XCTAssertEqual(gateway.counters.initialContactDeletes, 1)
        XCTAssertTrue(gateway.statusLine.contains("initial_contact_deletes=1"), gateway.statusLine)
    }

    /// An IKE_SA made by an IKE_SA rekey carries the peer's authenticated identity: with
    /// `remote.id` unset the gateway finds it by that identity alone, and the peer's restart
    /// ends it too (it once had no peer identity and outlived the restart).
    func testARestartedPeersRekeyedIKESAGoesToo() throws {
        let anyPeer = LabGatewayConfig.text().replacingOccurrences(of: "id = 192.0.2.1\n", with: "")
        XCTAssertNotEqual(anyPeer, LabGatewayConfig.text())
        var gateway = try IKEGateway(config: DaemonConfig(parsing: anyPeer, file: "t"), provider: provider)
        var initiator = try peer()
        var before = RekeyEndpoint(initiator)
        let started = initiator.start(now: 0)
        before.file(initiator, started)
        converse(&before, &gateway, now: 0)
        let first = try XCTUnwrap(before.live)
        before.on(first.localSPI) { $0.rekeyIKESA(now: 10) }
        converse(&before, &gateway, now: 10)
        XCTAssertEqual(gateway.sas.count, 1, "the old IKE_SA deleted")
        let (rekeyedSPI, rekeyed) = try XCTUnwrap(gateway.sas.first)
        XCTAssertEqual(rekeyed.rekeyGeneration, 1, "the IKE_SA the rekey made")
        XCTAssertEqual(rekeyed.peerIdentity, initiator.configuration.localIdentity)
        var restarted = try peer()
        restarted.sendsInitialContact = true
        _ = connect(&restarted, &gateway, now: 20)
        XCTAssertEqual(restarted.phase, .established)
        XCTAssertNil(gateway.sas[rekeyedSPI], "the restarted peer's rekeyed IKE_SA is gone")
        XCTAssertEqual(gateway.sas.count, 1)
        XCTAssertEqual(gateway.counters.initialContactDeletes, 1)
    }

    func testWithoutInitialContactTheOldIKESAStays() throws {
        var gateway = try gateway()
        var first = try peer(), second = try peer()
        _ = connect(&first, &gateway, now: 0)
        let actions = connect(&second, &gateway, now: 5)
        XCTAssertEqual(gateway.sas.count, 2)
        XCTAssertFalse(actions.contains { if case .delete = $0 { return true }; return false })
        XCTAssertEqual(gateway.counters.initialContactDeletes, 0)
    }

    /// The other workers' side: an INITIAL_CONTACT seen elsewhere ends this gateway's IKE_SAs
    /// of those identities and nothing else.
    func testAnInitialContactFromAnotherWorkerEndsTheMatchingIKESAsHere() throws {
        var gateway = try gateway()
        var peer = try peer()
        _ = connect(&peer, &gateway, now: 0)
        let spi = try XCTUnwrap(gateway.sas.keys.first)
        let other = InitialContact(ikeSA: 42, peerIdentity: IdentificationPayload(idType: .ipv4Address, identificationData: [192, 0, 2, 9]),
                                   localIdentity: IdentificationPayload(idType: .ipv4Address, identificationData: [192, 0, 2, 100]))
        XCTAssertTrue(gateway.initialContactReceived(other, now: 1).isEmpty, "another peer: nothing")
        XCTAssertNotNil(gateway.sas[spi])
        var same = other
        same.peerIdentity = IdentificationPayload(idType: .ipv4Address, identificationData: [192, 0, 2, 1])
        let actions = gateway.initialContactReceived(same, now: 1)
        XCTAssertNil(gateway.sas[spi])
        XCTAssertEqual(actions.filter { if case .delete = $0 { return true }; return false }.count, 1)
    }

    // MARK: Sending it

    func testTheGatewaySendsItOnlyWithoutAnIKESAOfThoseIdentities() throws {
        var gateway = try gateway()
        let local = IKEEndpoint(address: [192, 0, 2, 100], port: 500), remote = IKEEndpoint(address: [192, 0, 2, 1], port: 500)
        _ = gateway.initiate(index: 0, local: local, remote: remote, now: 0)
        XCTAssertEqual(gateway.sas.values.map(\.sendsInitialContact), [true], "the first IKE_SA with 192.0.2.1")
        _ = gateway.initiate(index: 0, local: local, remote: remote, now: 1)
        XCTAssertEqual(gateway.sas.values.filter(\.sendsInitialContact).count, 1, "a second one while the first exists: not")
        var workers = try self.gateway()
        workers.soleWorker = false
        _ = workers.initiate(index: 0, local: local, remote: remote, now: 0)
        XCTAssertEqual(workers.sas.values.map(\.sendsInitialContact), [false], "several workers: this one cannot know")
        let anyPeer = LabGatewayConfig.text().replacingOccurrences(of: "id = 192.0.2.1\n", with: "")
        XCTAssertNotEqual(anyPeer, LabGatewayConfig.text())
        var any = try IKEGateway(config: DaemonConfig(parsing: anyPeer, file: "t"), provider: provider)
        _ = any.initiate(index: 0, local: local, remote: remote, now: 0)
        XCTAssertEqual(any.sas.values.map(\.sendsInitialContact), [false], "no remote id: the identities are unknown")
    }
}
