import Cluster
import XCTest
@testable import Inbound

/// Targets' conntrack ends (inbound claim 10): only the entry's own target may end it.
final class FlowEndTests: XCTestCase {
    func ownerOf(_ sport: UInt16, _ c: InboundClassifier) -> NodeID? {
        c.connections(now: Fixture.now).first { $0.key.sourcePort == sport }?.target
    }

    func testOnlyTheOwningTargetsReportRemovesTheEntry() throws {
        var c = Fixture.classifier()
        _ = c.classify(Fixture.tcp(sport: 7000, flags: Fixture.syn), now: Fixture.now)
        let owner = try XCTUnwrap(ownerOf(7000, c))
        let other = [Fixture.t1, Fixture.t2, Fixture.t3].first { $0 != owner }!
        let flow = Fixture.flow(sport: 7000).fiveTuple
        // Another target (it holds the SA, so it may hold flows of the lineage) cannot end it.
        XCTAssertEqual(c.flowsEnded(by: other, [flow], now: Fixture.now), [.notOwner])
        XCTAssertEqual(c.flows.count, 1)
        XCTAssertEqual(ownerOf(7000, c), owner)
        XCTAssertEqual(c.flowsEnded(by: owner, [flow], now: Fixture.now), [.ended])
        XCTAssertEqual(c.flows.count, 0)
        // Reported twice (a destroy after TIME_WAIT): nothing left to end.
        XCTAssertEqual(c.flowsEnded(by: owner, [flow], now: Fixture.now), [.noEntry])
        XCTAssertEqual(c.counters[FlowEndResult.ended], 1)
        XCTAssertEqual(c.counters[FlowEndResult.notOwner], 1)
        XCTAssertEqual(c.counters[FlowEndResult.noEntry], 1)
        XCTAssertTrue("\(c.counters)".contains("flow-end-ended-by-target=1"), "\(c.counters)")
    }

    func testAReportEndsOnlyTheFlowsItNames() throws {
        var c = Fixture.classifier()
        for port in UInt16(7000)..<7030 { _ = c.classify(Fixture.tcp(sport: port, flags: Fixture.syn), now: Fixture.now) }
        XCTAssertEqual(c.flows.count, 30)
        let owner = try XCTUnwrap(ownerOf(7003, c))
        let own = c.connections(now: Fixture.now).filter { $0.target == owner }.map(\.key.sourcePort).sorted()
        // The owner reports all 30 ports: its own end, the others' are left alone.
        let results = c.flowsEnded(by: owner, (UInt16(7000)..<7030).map { Fixture.flow(sport: $0).fiveTuple }, now: Fixture.now)
        XCTAssertEqual(results.filter { $0 == .ended }.count, own.count)
        XCTAssertEqual(results.filter { $0 == .notOwner }.count, 30 - own.count)
        XCTAssertEqual(c.flows.count, 30 - own.count)
        XCTAssertFalse(c.connections(now: Fixture.now).contains { $0.target == owner })
    }

    func testTheLookupFindsTheEntryUnderAnyLineageTheTargetHolds() throws {
        // Two CHILD_SA lines of the same peer network: the flow was placed under lineage 9.
        var second = Fixture.sa(spi: 0xC002_0001)
        second.lineage = SALineageID(9)
        var c = Fixture.classifier(sas: [Fixture.sa(), second])
        _ = c.classify(Fixture.tcp(sport: 7100, flags: Fixture.syn, spi: 0xC002_0001), now: Fixture.now)
        let owner = try XCTUnwrap(ownerOf(7100, c))
        XCTAssertEqual(c.connections(now: Fixture.now).first?.key.lineage, SALineageID(9))
        XCTAssertEqual(c.flowsEnded(by: owner, [Fixture.flow(sport: 7100).fiveTuple], now: Fixture.now), [.ended])
        XCTAssertEqual(c.flows.count, 0)
    }

    func testATargetThatDoesNotHoldTheSAOrIsUnknownEndsNothing() throws {
        var c = Fixture.classifier(sas: [Fixture.sa(holders: [Fixture.t1])])
        _ = c.classify(Fixture.tcp(sport: 7200, flags: Fixture.syn), now: Fixture.now)
        XCTAssertEqual(ownerOf(7200, c), Fixture.t1)
        let flow = Fixture.flow(sport: 7200).fiveTuple
        XCTAssertEqual(c.flowsEnded(by: Fixture.t2, [flow], now: Fixture.now), [.noEntry])
        XCTAssertEqual(c.flowsEnded(by: try NodeID("t9"), [flow], now: Fixture.now), [.noEntry])
        XCTAssertEqual(c.flows.count, 1)
        XCTAssertEqual(c.flowsEnded(by: Fixture.t1, [flow], now: Fixture.now), [.ended])
    }

    func testAnEndedTCPFlowsLaterPacketsStillReachItsTargetByTheHash() throws {
        var c = Fixture.classifier()
        let first = c.classify(Fixture.tcp(sport: 7300, flags: Fixture.syn), now: Fixture.now).target
        let owner = try XCTUnwrap(ownerOf(7300, c))
        c.flowsEnded(by: owner, [Fixture.flow(sport: 7300).fiveTuple], now: Fixture.now)
        // A retransmitted FIN/ACK after the end: no entry, placed by the hash, where the SYN went.
        let late = c.classify(Fixture.tcp(sport: 7300, flags: Fixture.fin | Fixture.ack, sequence: 2), now: Fixture.now)
        XCTAssertEqual(late.target, first)
        XCTAssertEqual(c.flows.count, 0)
    }
}
