import XCTest
import IKEv2
import VipsecTestSupport
import IKECrypto
@testable import IKEv2

/// delete_rekeyed_delay: after a CHILD_SA rekey, the old CHILD_SA's outbound SA goes with its
/// Delete, its inbound SA only after the delay (the peer may still send on it), and at once
/// when the IKE_SA ends meanwhile.
final class RekeyedChildSAConversationTests: XCTestCase {
    let provider = OpenSSLCryptoProvider()
    typealias C = IKEConversation

    func established(delay: Double) throws -> C.Conversation {
        var alice = try C.configuration("alice"), bob = try C.configuration("bob")
        alice.deleteRekeyedDelay = delay
        bob.deleteRekeyedDelay = delay
        var c = try C.Conversation(initiator: alice, responder: bob, provider: provider)
        try c.establish()
        XCTAssertEqual(c.initiator.phase, .established)
        return c
    }

    static func deletes(_ actions: [IKEAction]) -> [ChildSAReference] {
        actions.compactMap { if case .delete(let d) = $0 { return d.reference }; return nil }
    }

    static func outboundDeletes(_ actions: [IKEAction]) -> [(ChildSAReference, Double)] {
        actions.compactMap { if case .deleteOutbound(let d, let until) = $0 { return (d.reference, until) }; return nil }
    }

    /// Rekeyed by alice (byResponder false) or bob at t = 10, delay 5: on both sides the old
    /// CHILD_SA loses its outbound SA with the Delete exchange, keeps its inbound SA until 15.
    func assertDelayedRemoval(byResponder: Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        var c = try established(delay: 5)
        c.now = 10
        let oldAlice = c.initiator.childSAs[0], oldBob = c.responder!.childSAs[0]
        c.rekeyFirstChildSA(byResponder: byResponder, now: 10)
        try c.run()
        for (actions, old, side) in [(c.initiatorActions, oldAlice, "alice"), (c.responderActions, oldBob, "bob")] {
            XCTAssertEqual(Self.deletes(actions), [], "\(side): nothing deleted whole", file: file, line: line)
            let outbound = Self.outboundDeletes(actions)
            XCTAssertEqual(outbound.map(\.0), [old.reference], side, file: file, line: line)
            XCTAssertEqual(outbound.first?.1, 15, "\(side): inbound kept until now + delete_rekeyed_delay", file: file, line: line)
        }
        XCTAssertEqual(c.initiator.rekeyedChildSAs.map(\.child.reference), [oldAlice.reference], file: file, line: line)
        XCTAssertEqual(c.responder!.rekeyedChildSAs.map(\.child.reference), [oldBob.reference], file: file, line: line)
        XCTAssertEqual(c.initiator.childSAs.count, 1, "only the new CHILD_SA is live", file: file, line: line)
        XCTAssertFalse(c.initiator.hasChildSA(inboundSPI: oldAlice.inbound.spi), file: file, line: line)
        // The responder of the rekey sends on the new SA before its old outbound SA goes.
        let responderActions = byResponder ? c.initiatorActions : c.responderActions
        let activation = responderActions.firstIndex { if case .activateOutbound = $0 { return true }; return false }
        let retirement = responderActions.firstIndex { if case .deleteOutbound = $0 { return true }; return false }
        XCTAssertLessThan(activation ?? .max, retirement ?? .min, file: file, line: line)
        // The delay is over: the inbound SA goes, once.
        XCTAssertEqual(Self.deletes(c.initiator.removeRekeyedChildSA(inboundSPI: oldAlice.inbound.spi)), [oldAlice.reference],
                       file: file, line: line)
        XCTAssertEqual(c.initiator.removeRekeyedChildSA(inboundSPI: oldAlice.inbound.spi), [], file: file, line: line)
        XCTAssertEqual(c.initiator.rekeyedChildSAs, [], file: file, line: line)
        XCTAssertEqual(Self.deletes(c.responder!.removeRekeyedChildSA(inboundSPI: oldBob.inbound.spi)), [oldBob.reference],
                       file: file, line: line)
    }

    func testOurRekeyKeepsTheOldInboundSAForTheDelay() throws {
        try assertDelayedRemoval(byResponder: false)
    }

    func testThePeersRekeyKeepsTheOldInboundSAForTheDelayToo() throws {
        try assertDelayedRemoval(byResponder: true)
    }

    func testWithoutADelayBothSAsGoWithTheDelete() throws {
        var c = try established(delay: 0)
        let old = c.initiator.childSAs[0]
        c.record(c.initiator.rekeyChildSA(inboundSPI: old.inbound.spi, now: 10), fromInitiator: true)
        try c.run()
        XCTAssertEqual(Self.deletes(c.initiatorActions), [old.reference])
        XCTAssertTrue(Self.outboundDeletes(c.initiatorActions + c.responderActions).isEmpty)
        XCTAssertEqual(c.initiator.rekeyedChildSAs, [])
    }

    /// A CHILD_SA deleted for another reason than a rekey (hard expire, operator) has no
    /// successor: nobody will send on it, it goes whole at once.
    func testACHILDSADeletedWithoutARekeyGoesAtOnce() throws {
        var c = try established(delay: 5)
        let old = c.initiator.childSAs[0], oldBob = c.responder!.childSAs[0]
        c.record(c.initiator.deleteChildSA(inboundSPI: old.inbound.spi, now: 10), fromInitiator: true)
        try c.run()
        XCTAssertEqual(Self.deletes(c.initiatorActions), [old.reference])
        XCTAssertEqual(Self.deletes(c.responderActions), [oldBob.reference])
        XCTAssertTrue(Self.outboundDeletes(c.initiatorActions + c.responderActions).isEmpty)
        XCTAssertEqual(c.initiator.rekeyedChildSAs, [])
        XCTAssertEqual(c.responder!.rekeyedChildSAs, [])
        XCTAssertEqual(c.initiator.childSAs, [])
    }

    func rekeyed() throws -> (C.Conversation, old: ChildSAInstallation, new: ChildSAInstallation) {
        var c = try established(delay: 5)
        let old = c.initiator.childSAs[0]
        c.record(c.initiator.rekeyChildSA(inboundSPI: old.inbound.spi, now: 10), fromInitiator: true)
        try c.run()
        let new = try XCTUnwrap(c.initiator.childSAs.first)
        XCTAssertEqual(c.initiator.rekeyedChildSAs.count, 1)
        c.initiatorActions = []
        c.responderActions = []
        return (c, old, new)
    }

    func testDeletingTheIKESADuringTheDelayRemovesTheKeptInboundSAAtOnce() throws {
        var (c, old, new) = try rekeyed()
        let actions = c.initiator.delete(now: 11)
        XCTAssertEqual(Set(Self.deletes(actions)), [old.reference, new.reference])
        XCTAssertEqual(c.initiator.rekeyedChildSAs, [])
        XCTAssertEqual(c.initiator.removeRekeyedChildSA(inboundSPI: old.inbound.spi), [], "the timer finds nothing later")
        // The peer got D(IKE): it closes, and its kept inbound SA goes too.
        c.record(actions, fromInitiator: true)
        let bobOld = try XCTUnwrap(c.responder!.rekeyedChildSAs.first?.child)
        try c.deliverToResponder()
        XCTAssertTrue(Self.deletes(c.responderActions).contains(bobOld.reference))
        XCTAssertEqual(c.responder!.rekeyedChildSAs, [])
        XCTAssertEqual(c.responder!.phase, .closed)
    }

    func testAnIKESAClosedByRetransmissionsRemovesTheKeptInboundSA() throws {
        var (c, old, _) = try rekeyed()
        var actions = c.initiator.checkLiveness(now: 11)
        var closedActions: [IKEAction] = []
        for _ in 0..<20 {
            guard let timer = actions.compactMap({ if case .schedule(let t) = $0 { return t }; return nil }).first else { break }
            actions = c.initiator.retransmissionTimerFired(timer, now: timer.deadline)
            closedActions += actions
        }
        XCTAssertEqual(c.initiator.phase, .closed)
        XCTAssertTrue(Self.deletes(closedActions).contains(old.reference))
        XCTAssertEqual(c.initiator.rekeyedChildSAs, [])
    }

    func testAnIKESARekeyHandsTheKeptInboundSAToTheNewIKESA() throws {
        var (c, old, _) = try rekeyed()
        c.record(c.initiator.rekeyIKESA(now: 11), fromInitiator: true)
        try c.run()
        var successors = c.initiator.takeSuccessors()
        XCTAssertEqual(successors.count, 1)
        XCTAssertEqual(c.initiator.rekeyedChildSAs, [], "the old IKE_SA keeps none")
        XCTAssertFalse(Self.deletes(c.initiatorActions).contains(old.reference), "not removed by the IKE_SA rekey")
        XCTAssertEqual(successors[0].sa.rekeyedChildSAs.map(\.child.reference), [old.reference])
        XCTAssertEqual(Self.deletes(successors[0].sa.removeRekeyedChildSA(inboundSPI: old.inbound.spi)), [old.reference])
    }
}
