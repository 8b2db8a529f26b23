import XCTest
@testable import IKEv2
import IKECrypto
import VipsecTestSupport

/// Installs as actions and events (IKESA+Install.swift): the response that makes a CHILD_SA
/// usable waits for `installCompleted`; a retransmitted request meanwhile is absorbed (no
/// second install, RFC 7296 2.1), and once answered it gets the same response again.
final class PendingInstallTests: XCTestCase {
    let provider = OpenSSLCryptoProvider()
    typealias C = IKEConversation

    func conversation() throws -> C.Conversation {
        var c = try C.Conversation(initiator: C.configuration("alice"), responder: C.configuration("bob"), provider: provider)
        c.installsCompleteAtOnce = false
        return c
    }

    func sends(_ actions: [IKEAction]) -> [[UInt8]] {
        actions.compactMap { if case .send(let bytes) = $0 { return bytes }; return nil }
    }

    /// IKE_SA_INIT done, the IKE_AUTH request delivered to bob, whose install is pending.
    func authPending() throws -> (c: C.Conversation, request: [UInt8], child: ChildSAInstallation) {
        var c = try conversation()
        c.start()
        try c.deliverToResponder()
        c.deliverToInitiator()
        let request = c.toResponder[0]
        try c.deliverToResponder()
        let child = try XCTUnwrap(C.installs(c.responderActions).first)
        return (c, request, child)
    }

    func testTheIKEAuthResponseWaitsForTheInstallAndRetransmitsAreAbsorbed() throws {
        var (c, request, child) = try authPending()
        XCTAssertTrue(c.toInitiator.isEmpty, "no IKE_AUTH response before the CHILD_SA is installed")
        XCTAssertTrue(c.responder!.holdsResponse)
        // The peer retransmits: absorbed, not processed again, not answered.
        for _ in 0..<3 {
            XCTAssertEqual(c.responder!.receive(request, now: 1), [])
        }
        XCTAssertEqual(c.responder!.counters.retransmitsAbsorbedWhileInstalling, 3)
        XCTAssertEqual(C.installs(c.responderActions).count, 1, "one install")
        // Installed: the response goes out, once.
        let released = c.responder!.installCompleted(child.reference, succeeded: true, now: 2)
        let response = try XCTUnwrap(sends(released).first)
        XCTAssertEqual(sends(released).count, 1)
        XCTAssertFalse(c.responder!.holdsResponse)
        XCTAssertEqual(c.responder!.installCompleted(child.reference, succeeded: true, now: 2), [], "a second report: nothing")
        // Once answered, a retransmission gets the same response from the cache.
        XCTAssertEqual(sends(c.responder!.receive(request, now: 3)), [response])
        XCTAssertEqual(c.responder!.sequencerCounters.cachedResponsesResent, 1, "absorbed retransmits are not counted as resent")
        c.toInitiator = [response]
        c.deliverToInitiator()
        XCTAssertEqual(c.initiator.phase, .established)
        let mine = try XCTUnwrap(C.installs(c.initiatorActions).first)
        XCTAssertEqual(mine.inbound, child.outbound, "the initiator installs the CHILD_SA after the response")
        XCTAssertEqual(c.initiator.installCompleted(mine.reference, succeeded: true, now: 4), [], "nothing waited for it")
    }

    func testAFailedInstallStillAnswersThePeer() throws {
        var (c, _, child) = try authPending()
        let released = c.responder!.installCompleted(child.reference, succeeded: false, now: 1)
        XCTAssertEqual(sends(released).count, 1, "the IKE_SA needs its response; the shell then deletes the CHILD_SA with the peer")
        XCTAssertEqual(c.responder!.phase, .established)
    }

    func testDeletingTheIKESAWhileAnInstallIsPendingSendsNoResponseAfterTheDelete() throws {
        var (c, _, child) = try authPending()
        let deletion = c.responder!.delete(now: 1)
        XCTAssertEqual(sends(deletion).count, 1, "D(IKE)")
        XCTAssertTrue(deletion.contains(.delete(child)), "the CHILD_SA goes with it")
        XCTAssertEqual(c.responder!.installCompleted(child.reference, succeeded: true, now: 2), [], "no IKE_AUTH response after our Delete")
    }

    func testCreateChildSAResponsesWaitForTheirInstalls() throws {
        for rekey in [false, true] {
            var c = try conversation()
            c.start()
            while !c.toResponder.isEmpty || !c.toInitiator.isEmpty {   // establish, reporting each install at once
                if !c.toResponder.isEmpty {
                    try c.deliverToResponder()
                    for child in C.installs(c.responderActions) {
                        c.record(c.responder!.installCompleted(child.reference, succeeded: true, now: 0), fromInitiator: false)
                    }
                }
                if !c.toInitiator.isEmpty { c.deliverToInitiator() }
            }
            XCTAssertEqual(c.responder?.phase, .established)
            let old = c.initiator.childSAs[0]
            c.initiatorActions = []
            c.responderActions = []
            c.record(rekey ? c.initiator.rekeyChildSA(inboundSPI: old.inbound.spi, now: 10)
                           : c.initiator.createAdditionalChildSA(like: old.inbound.spi, now: 10), fromInitiator: true)
            let request = c.toResponder[0]
            try c.deliverToResponder()
            let created = try XCTUnwrap(C.installs(c.responderActions).first, "rekey \(rekey)")
            XCTAssertEqual(created.outboundDeferred, rekey)
            XCTAssertTrue(c.toInitiator.isEmpty, "rekey \(rekey): no response before the install")
            XCTAssertEqual(c.responder!.receive(request, now: 11), [], "a retransmission meanwhile is absorbed")
            c.record(c.responder!.installCompleted(created.reference, succeeded: true, now: 12), fromInitiator: false)
            XCTAssertEqual(c.toInitiator.count, 1, "rekey \(rekey): the response once installed")
            c.deliverToInitiator()
            let mine = try XCTUnwrap(C.installs(c.initiatorActions).first)
            if rekey {
                // The initiator of the rekey deletes the old CHILD_SA only once the new one is in.
                XCTAssertTrue(c.toResponder.isEmpty, "no Delete of the old CHILD_SA before the new one is installed")
                XCTAssertEqual(c.initiator.checkLiveness(now: 13), [], "nor any other request: the Delete is next")
                c.record(c.initiator.installCompleted(mine.reference, succeeded: true, now: 13), fromInitiator: true)
                XCTAssertEqual(c.toResponder.count, 1, "the Delete of the old CHILD_SA")
                try c.run()
                XCTAssertEqual(c.initiator.childSAs.map(\.reference), [mine.reference])
            } else {
                XCTAssertEqual(c.initiator.installCompleted(mine.reference, succeeded: true, now: 13), [])
                XCTAssertEqual(c.initiator.childSAs.count, 2)
            }
        }
    }

    func testAFailedRekeyInstallKeepsTheOldCHILDSA() throws {
        var (c, old, mine) = try C.ourRekeyWaitingForItsInstall(provider: provider)
        XCTAssertEqual(c.initiator.installCompleted(mine.reference, succeeded: false, now: 12), [],
                       "no Delete of the old CHILD_SA: it stays in use (the shell deletes the new one with the peer)")
        XCTAssertTrue(c.initiator.childSAs.contains { $0.reference == old.reference })
        XCTAssertFalse(c.initiator.checkLiveness(now: 13).isEmpty, "requests flow again")
    }

    func testThePeersIKESARekeyWaitsWhileOurDeleteWaitsForAnInstall() throws {
        var (c, _, mine) = try C.ourRekeyWaitingForItsInstall(provider: provider)
        // Our Delete of the old CHILD_SA waits for `mine`; the peer asks to rekey the IKE_SA.
        let refusedBefore = c.initiator.counters.refusals[.temporaryFailure, default: 0]
        // (Our own responder would wait for our Delete first; another implementation may not.)
        let group = try XCTUnwrap(c.responder!.configuration.ikeProposals.compactMap(\.keyExchangeMethod).first)
        c.record(c.responder!.requestIKERekey(group: group, now: 12), fromInitiator: false)
        guard c.toInitiator.count == 1 else { return XCTFail("no IKE_SA rekey request from the peer") }
        c.deliverToInitiator()
        XCTAssertEqual(c.initiator.counters.refusals[.temporaryFailure, default: 0], refusedBefore + 1,
                       "TEMPORARY_FAILURE: the old CHILD_SA's Delete must go out on this IKE_SA")
        XCTAssertEqual(c.initiator.phase, .established)
        try c.deliverToResponder()
        c.toInitiator = []
        c.toResponder = []
        c.record(c.initiator.installCompleted(mine.reference, succeeded: true, now: 13), fromInitiator: true)
        XCTAssertEqual(c.toResponder.count, 1, "the Delete of the old CHILD_SA, on the IKE_SA that was kept")
    }
}
