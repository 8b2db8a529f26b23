import Cluster
import XCTest
@testable import Inbound

/// Connections the targets report holding after a Welcome (issue 19 item 2): a new active's
/// connection table is rebuilt from them, each on the reporting target.
final class HeldFlowTests: XCTestCase {
    func held(_ sport: UInt16, proto: UInt8 = 6, spi: UInt32 = Fixture.spi, source: InboundAddress = Fixture.peerHost) -> HeldFlow {
        HeldFlow(destination: Fixture.dvipa, spi: spi,
                 flow: InnerFiveTuple(source: source.ipAddress, destination: Fixture.dvipa.ipAddress,
                                      sourcePort: sport, destinationPort: 443, ipProtocol: proto))
    }

    func owner(_ sport: UInt16, _ c: InboundClassifier) -> NodeID? {
        c.connections(now: Fixture.now).first { $0.key.sourcePort == sport }?.target
    }

    /// The hash's target for a flow, and another one (what a report must override).
    func hashedAndOther(_ sport: UInt16) -> (hashed: NodeID, other: NodeID) {
        var probe = Fixture.classifier()
        _ = probe.classify(Fixture.tcp(sport: sport, flags: Fixture.syn), now: Fixture.now)
        let hashed = owner(sport, probe)!
        return (hashed, [Fixture.t1, Fixture.t2, Fixture.t3].first { $0 != hashed }!)
    }

    func testAReportedConnectionIsPlacedOnTheReportingTargetAndItsMidFlowPacketsGoThere() throws {
        let (hashed, other) = hashedAndOther(8000)
        var c = Fixture.classifier()
        XCTAssertEqual(c.flowsHeld(by: other, [held(8000)], now: Fixture.now), [.placed])
        XCTAssertEqual(owner(8000, c), other)
        XCTAssertEqual(c.connections(now: Fixture.now).first?.key.lineage, Fixture.lineage, "the SA's CHILD_SA line")
        // A mid-flow ACK (no SYN) now follows the entry, not the hash that would pick `hashed`.
        let decision = c.classify(Fixture.tcp(sport: 8000, flags: Fixture.ack, sequence: 2), now: Fixture.now)
        XCTAssertEqual(decision.target.flatMap { c.target(at: $0) }, other)
        XCTAssertNotEqual(hashed, other)
        // Reported again (a second Welcome): kept, refreshed, not doubled.
        XCTAssertEqual(c.flowsHeld(by: other, [held(8000)], now: Fixture.now), [.kept])
        XCTAssertEqual(c.flows.count, 1)
        XCTAssertEqual(c.counters[HeldFlowResult.placed], 1)
        XCTAssertEqual(c.counters[HeldFlowResult.kept], 1)
        XCTAssertTrue("\(c.counters)".contains("held-flow-placed=1"), "\(c.counters)")
    }

    func testAnEntryOfAnotherTargetIsLeftAlone() throws {
        var c = Fixture.classifier()
        _ = c.classify(Fixture.udp(sport: 5300), now: Fixture.now)
        let first = try XCTUnwrap(c.connections(now: Fixture.now).first)
        let other = [Fixture.t1, Fixture.t2, Fixture.t3].first { $0 != first.target }!
        let report = HeldFlow(destination: Fixture.dvipa, spi: Fixture.spi, flow: first.key.fiveTuple)
        XCTAssertEqual(c.flowsHeld(by: other, [report], now: Fixture.now), [.otherOwner])
        XCTAssertEqual(c.connections(now: Fixture.now).first?.target, first.target)
    }

    func testReportsForUnknownSAsTargetsOrSAsTheTargetDoesNotHoldAreDroppedAndCounted() throws {
        var c = Fixture.classifier(sas: [Fixture.sa(holders: [Fixture.t1, Fixture.t2])])
        XCTAssertEqual(c.flowsHeld(by: Fixture.t1, [held(8100, spi: 0xdead_beef)], now: Fixture.now), [.unknownSA])
        XCTAssertEqual(c.flowsHeld(by: Fixture.t3, [held(8101)], now: Fixture.now), [.unknownSA], "t3 does not hold the SA")
        XCTAssertEqual(c.flowsHeld(by: try NodeID("t9"), [held(8102)], now: Fixture.now), [.unknownSA], "not a target")
        var wrongDestination = held(8103)
        wrongDestination.destination = .v4(192, 0, 2, 99)
        XCTAssertEqual(c.flowsHeld(by: Fixture.t1, [wrongDestination], now: Fixture.now), [.unknownSA])
        XCTAssertEqual(c.flows.count, 0)
        XCTAssertEqual(c.counters[HeldFlowResult.unknownSA], 4)
    }

    func testFlowsOutsideTheSAsSelectorsOrOfOtherProtocolsAreDropped() throws {
        var c = Fixture.classifier()
        let results = c.flowsHeld(by: Fixture.t1, [held(8200, source: .v4(10, 2, 0, 5)), held(8201, proto: 1),
                                                  held(8202, proto: 17)], now: Fixture.now)
        XCTAssertEqual(results, [.outsideSelectors, .outsideSelectors, .placed])
        XCTAssertEqual(c.flows.count, 1)
    }

    func testAFloodOfReportedConnectionsStopsAtTheTablesCap() throws {
        var configuration = InboundConfiguration()
        configuration.maximumFlows = 100
        var c = Fixture.classifier(configuration)
        let flood = (0..<5000).map { held(UInt16(10000 + $0)) }
        let results = c.flowsHeld(by: Fixture.t2, flood, now: Fixture.now)
        XCTAssertEqual(results.filter { $0 == .placed }.count, 100)
        XCTAssertEqual(results.filter { $0 == .full }.count, 4900)
        XCTAssertEqual(c.flows.count, 100)
        XCTAssertEqual(c.counters[HeldFlowResult.full], 4900)
        // A new connection of the peer meets the same cap (the reports did not go past it).
        XCTAssertEqual(c.classify(Fixture.tcp(sport: 9999, flags: Fixture.syn), now: Fixture.now), .drop(.tableFull))
    }
}
