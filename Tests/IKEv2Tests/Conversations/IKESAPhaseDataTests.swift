import XCTest
@testable import IKEv2
import IKECrypto
import NIOCore
import VipsecTestSupport

/// What lives in which phase (IKESA+State.swift): IKE_SA_INIT's requests of the shell until
/// IKE_AUTH, what IKE_SA_INIT settled from its end until the IKE_SA closes, the peer's
/// identity from IKE_AUTH, the waits for installs in the established phase only; an IKE_SA
/// made by a rekey inherits what it must.
final class IKESAPhaseDataTests: XCTestCase {
    let provider = OpenSSLCryptoProvider()
    typealias C = IKEConversation

    func sends(_ actions: [IKEAction]) -> [[UInt8]] {
        actions.compactMap { if case .send(let bytes) = $0 { return bytes }; return nil }
    }

    func testEachPhaseShowsOnlyWhatExistsInIt() throws {
        var c = try C.Conversation(initiator: C.configuration("alice"), responder: C.configuration("bob"), provider: provider)
        c.initiator.sendsInitialContact = true
        c.start()
        // negotiatingInit: nothing settled, nobody authenticated.
        XCTAssertEqual(c.initiator.phase, .negotiatingInit)
        XCTAssertNil(c.initiator.keyContext)
        XCTAssertNil(c.initiator.negotiatedProposal)
        XCTAssertNil(c.initiator.peerIdentity)
        XCTAssertTrue(c.initiator.sendsInitialContact)
        try c.deliverToResponder()
        // The responder answered IKE_SA_INIT (authenticating): keys and what IKE_SA_INIT found, no peer yet.
        XCTAssertEqual(c.responder?.phase, .authenticating)
        XCTAssertNotNil(c.responder?.keyContext)
        XCTAssertEqual(c.responder?.negotiatedProposal, "ENCR_AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519")
        XCTAssertEqual(c.responder?.natDetection?.natDetected, false, "the initiator sent NAT_DETECTION notifies")
        XCTAssertNil(c.responder?.peerIdentity, "not authenticated before IKE_AUTH")
        XCTAssertNil(c.responder?.inFlight, "no exchange can be in flight before IKE_AUTH")
        c.deliverToInitiator()
        XCTAssertEqual(c.initiator.phase, .authenticating)
        XCTAssertTrue(c.responder!.initialContactIn(c.toResponder), "IKE_AUTH asserts INITIAL_CONTACT")
        try c.run()
        // established: the peer as authenticated; IKE_SA_INIT's material and requests gone.
        XCTAssertEqual(c.initiator.phase, .established)
        XCTAssertEqual(c.initiator.peerIdentity, C.fqdn("bob"))
        XCTAssertEqual(c.responder?.peerIdentity, C.fqdn("alice"))
        XCTAssertNil(c.initiator.initExchange)
        XCTAssertFalse(c.initiator.sendsInitialContact, "an IKE_AUTH request of the past")
        c.initiator.sendsInitialContact = true
        XCTAssertFalse(c.initiator.sendsInitialContact, "set after IKE_AUTH: ignored")
        c.initiator.redirectedFrom = .ipv4([192, 0, 2, 9])
        XCTAssertNil(c.initiator.redirectedFrom, "set after IKE_SA_INIT: ignored")
        // closed: nothing of any phase left.
        let closing = c.initiator.forget("test")
        XCTAssertEqual(closing.last, .closed("test"))
        XCTAssertEqual(c.initiator.phase, .closed)
        XCTAssertNil(c.initiator.keyContext)
        XCTAssertNil(c.initiator.peerIdentity)
        XCTAssertNil(c.initiator.natDetection)
        XCTAssertFalse(c.initiator.fragmentationNegotiated)
    }

    /// IKE_SA_INIT done, the IKE_AUTH request delivered to bob, whose install is pending.
    func authPending() throws -> (c: C.Conversation, request: [UInt8], child: ChildSAInstallation) {
        var c = try C.Conversation(initiator: C.configuration("alice"), responder: C.configuration("bob"), provider: provider)
        c.installsCompleteAtOnce = false
        c.start()
        try c.deliverToResponder()
        c.deliverToInitiator()
        let request = c.toResponder[0]
        try c.deliverToResponder()
        let child = try XCTUnwrap(C.installs(c.responderActions).first)
        return (c, request, child)
    }

    func testTheHeldResponseIsTheEstablishedPhasesAndGoesWhenItEnds() throws {
        var (c, request, child) = try authPending()
        let held = try XCTUnwrap(c.responder?.inFlight?.heldResponse, "held in the established phase")
        XCTAssertEqual(held.messageID, 1)
        XCTAssertEqual(held.waitingFor, [child.reference])
        XCTAssertThrowsError(try c.responder!.snapshot(times: .init(established: 0)), "not quiet while a response is held")
        // A retransmitted request while the install is pending: absorbed (RFC 7296 2.1), the
        // response stays held; once installed, the retransmission gets the held response.
        XCTAssertEqual(c.responder!.receive(request, now: 1), [])
        let released = sends(c.responder!.installCompleted(child.reference, succeeded: true, now: 2))
        XCTAssertEqual(released, held.datagrams)
        XCTAssertNil(c.responder?.inFlight?.heldResponse)
        XCTAssertEqual(sends(c.responder!.receive(request, now: 3)), held.datagrams, "the same response, from the cache")

        // The phase ends (the shell forgets the IKE_SA) while a response is held: it goes with it.
        let second = try authPending()
        var d = second.c
        XCTAssertTrue(d.responder!.holdsResponse)
        _ = d.responder!.forget("peer restarted")
        XCTAssertEqual(d.responder?.phase, .closed)
        XCTAssertFalse(d.responder!.holdsResponse)
        XCTAssertEqual(d.responder!.installCompleted(second.child.reference, succeeded: true, now: 2), [],
                       "no response for a closed IKE_SA")
        XCTAssertEqual(d.responder!.receive(second.request, now: 3), [], "nor for a retransmission")
    }

    func testTheDeleteWaitingForAnInstallGoesWithTheIKESADelete() throws {
        var (c, old, mine) = try C.ourRekeyWaitingForItsInstall(provider: provider)
        XCTAssertEqual(c.initiator.inFlight?.deleteAfterInstall[mine.reference]?.reference, old.reference,
                       "the Delete of the old CHILD_SA waits for the new one's install")
        XCTAssertFalse(c.initiator.canSendRequest)
        // D(IKE) ends every CHILD_SA: the waiting Delete goes with the established phase's data.
        let deletion = c.initiator.delete(now: 12)
        XCTAssertEqual(sends(deletion).count, 1, "D(IKE)")
        XCTAssertEqual(c.initiator.inFlight?.deleteAfterInstall, [:])
        XCTAssertEqual(c.initiator.installCompleted(mine.reference, succeeded: true, now: 13), [],
                       "no Delete of the old CHILD_SA after D(IKE)")
    }

    func testAnIKESAMadeByARekeyInheritsThePeerAndWhatIKESAInitSettled() throws {
        var c = try C.Conversation(initiator: C.configuration("alice"), responder: C.configuration("bob"), provider: provider)
        c.start()
        try c.run()
        let oldAlice = c.initiator
        let oldBob = try XCTUnwrap(c.responder)
        var w = RekeyWire(alice: RekeyEndpoint(oldAlice), bob: RekeyEndpoint(oldBob))
        w.alice.on(oldAlice.localSPI) { $0.rekeyIKESA(now: 100) }
        w.run()
        let alice = try XCTUnwrap(w.alice.live), bob = try XCTUnwrap(w.bob.live)
        XCTAssertNotEqual(alice.localSPI, oldAlice.localSPI, "the new IKE_SA")
        XCTAssertEqual(alice.rekeyGeneration, 1)
        XCTAssertEqual(alice.peerIdentity, C.fqdn("bob"), "the rekey happened inside the authenticated IKE_SA")
        XCTAssertEqual(bob.peerIdentity, C.fqdn("alice"))
        XCTAssertEqual(alice.natDetection, oldAlice.natDetection)
        XCTAssertEqual(alice.fragmentationNegotiated, oldAlice.fragmentationNegotiated)
        XCTAssertEqual(bob.peerSupportsRedirect, oldBob.peerSupportsRedirect)
        XCTAssertEqual(alice.negotiatedProposal, "ENCR_AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519",
                       "the rekey's key exchange method")
        // An established IKE_SA made by a rekey can be recorded for HA, and restored.
        let record = try bob.snapshot(times: .init(established: 100))
        XCTAssertEqual(record.peerIdentity, C.fqdn("alice"))
        XCTAssertEqual(record.rekeyGeneration, 1)
        let (restored, _) = try IKESA.restore(record, configuration: bob.configuration, provider: provider, now: 100)
        XCTAssertEqual(restored.peerIdentity, C.fqdn("alice"))
        XCTAssertEqual(restored.phase, .established)
    }
}

private extension IKESA {
    /// Whether the peer's first datagram of `datagrams`, opened with this IKE_SA's keys, carries N(INITIAL_CONTACT).
    func initialContactIn(_ datagrams: [[UInt8]]) -> Bool {
        guard let bytes = datagrams.first, let keys = keyContext,
              let message = try? IKEMessage(datagram: ByteBuffer(bytes: bytes)),
              let inner = try? keys.open(message) else { return false }
        return inner.notifies.contains { $0.messageType == .initialContact }
    }
}
