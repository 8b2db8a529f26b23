import NIOCore
import XCTest
@testable import Cluster

/// What an agent reports after the resync that follows a Welcome (issue 19 item 2): its
/// inbound SAs' replay states (ReplayReport) and the connections its conntrack holds
/// (FlowReport, type 15), and what the authority makes of them.
final class HeldStateReportTests: XCTestCase {
    let t1 = Fixture.node("t1"), t2 = Fixture.node("t2")
    let start = ClusterInstant(nanoseconds: 1_000_000_000)
    let local = IPAddress.v4(10, 2, 0, 9)

    func udp(_ sport: UInt16, from source: IPAddress = .v4(10, 1, 0, 5), to destination: IPAddress? = nil,
             proto: UInt8 = 17) -> InnerFiveTuple {
        InnerFiveTuple(source: source, destination: destination ?? local, sourcePort: sport, destinationPort: 53, ipProtocol: proto)
    }

    // MARK: Wire

    /// Written by hand from FlowReportMessages.swift: frame v1 (magic 0x5643, version 1,
    /// type 15, length 25), count 1, SA id 7, UDP 10.1.0.5:40000 → 10.2.0.9:53.
    static let golden = "5643010f00000019" + "0001" + "0000000000000007" + "11" + "040a010005" + "040a020009" + "9c40" + "0035"

    func testTheReportHasItsGoldenBytesAndRoundTrips() throws {
        let message = ClusterMessage.flowReport(.init(flows: [.init(saID: ClusterSAID(7), flow: udp(40000))]))
        var frame = Fixture.frame(message)
        XCTAssertEqual(frame.readableBytesView.map { String(format: "%02x", $0) }.joined(), Self.golden)
        XCTAssertEqual(try ClusterFrameDecoder().decode(&frame), message)
        XCTAssertEqual(ClusterMessageType.flowReport.description, "FlowReport")
        XCTAssertEqual("\(message)", "FlowReport(1 flows)")
        // A full report of IPv6 flows fits a frame; more than the cap are cut at it.
        let v6 = try IPAddress(bytes: Array(repeating: 0xfd, count: 16))
        let many = (0..<(ClusterMessage.FlowReport.maximumFlows + 5)).map {
            ClusterMessage.FlowReport.Flow(saID: ClusterSAID(UInt64($0)),
                                           flow: InnerFiveTuple(source: v6, destination: v6, sourcePort: UInt16($0), destinationPort: 1, ipProtocol: 6))
        }
        let full = ClusterMessage.FlowReport(flows: many)
        XCTAssertEqual(full.flows.count, ClusterMessage.FlowReport.maximumFlows)
        var big = Fixture.frame(.flowReport(full))
        XCTAssertLessThanOrEqual(big.readableBytes - 8, ClusterFrame.defaultMaximumBodyLength)
        XCTAssertEqual(try ClusterFrameDecoder().decode(&big), .flowReport(full))
    }

    func testBadBodiesAreRefusedByFieldWithoutClosingTheConnection() {
        func body(_ build: (inout ByteBuffer) -> Void) -> ByteBuffer { var b = ByteBuffer(); build(&b); return b }
        let cases: [(String, ByteBuffer)] = [
            ("FlowReport flows", body { $0.writeInteger(UInt16(1025)) }),
            ("FlowReport SA id", body { $0.writeInteger(UInt16(1)); $0.writeInteger(UInt32(7)) }),
            ("FlowReport protocol", body { $0.writeInteger(UInt16(1)); $0.writeInteger(UInt64(7)); $0.writeInteger(UInt8(1)) }),
            ("FlowReport destination", body {
                $0.writeInteger(UInt16(1)); $0.writeInteger(UInt64(7)); $0.writeInteger(UInt8(6))
                $0.writeBytes([4, 10, 1, 0, 5]); $0.writeBytes([6] + Array(repeating: UInt8(0), count: 16))
                $0.writeInteger(UInt16(1)); $0.writeInteger(UInt16(2))
            }),
            ("FlowReport destination port", body {
                $0.writeInteger(UInt16(1)); $0.writeInteger(UInt64(7)); $0.writeInteger(UInt8(17))
                $0.writeBytes([4, 10, 1, 0, 5, 4, 10, 2, 0, 9]); $0.writeInteger(UInt16(1))
            }),
        ]
        for (field, bad) in cases {
            var bad = bad
            XCTAssertThrowsError(try ClusterMessage(type: .flowReport, parsing: &bad), field) { error in
                guard let wire = error as? ClusterWireError else { return XCTFail("\(error)") }
                XCTAssertTrue("\(wire)".contains(field), "\(wire) should name \(field)")
                XCTAssertFalse(wire.closesConnection)
            }
        }
    }

    // MARK: The agent's matching and batches

    func testConnectionsGoWithTheNewestInboundSAWhoseSelectorsAdmitThem() {
        var older = Fixture.sa(1), newer = Fixture.sa(4)            // one CHILD_SA line after a rekey
        older.reqid = 7; newer.reqid = 7
        var tcpLine = Fixture.sa(2)                                 // another line: TCP from 10.3/16
        tcpLine.selectors = [SASelector(source: .v4(10, 3, 0, 0), sourcePrefixLength: 16, destination: local,
                                        destinationPrefixLength: 32, ipProtocol: 6)]
        let outbound = Fixture.sa(3, direction: .outbound)
        let connections = [
            udp(1000),                                              // SA 4 (newest of line 7)
            udp(1001, from: .v4(10, 3, 0, 1), proto: 6),            // SA 2
            udp(1002, from: .v4(10, 3, 0, 1)),                      // UDP from 10.3: no SA admits it
            udp(1003, from: .v4(10, 9, 0, 1)),                      // outside every selector
            udp(1004, to: .v4(10, 2, 0, 1)),                        // another destination: not inbound cluster traffic
            udp(1005, proto: 1),                                    // ICMP: no ports, not in the table
            udp(1000),                                              // twice in the dump
        ]
        let outcome = HeldFlowReporter.reports(connections: connections, inboundSAs: [older, tcpLine, outbound, newer],
                                               destinations: [local])
        XCTAssertEqual(outcome.reports, [.init(flows: [.init(saID: ClusterSAID(4), flow: udp(1000)),
                                                       .init(saID: ClusterSAID(2), flow: udp(1001, from: .v4(10, 3, 0, 1), proto: 6))])])
        XCTAssertEqual(outcome.reported, 2)
        XCTAssertEqual(outcome.unmatched, 2)
        XCTAssertEqual(outcome.filtered, 3)
    }

    func testManyConnectionsGoInReportsOfAtMostTheCapAndNoSAsMeansNoReport() {
        let connections = (0..<2500).map { udp(UInt16(10000 + $0)) }
        let outcome = HeldFlowReporter.reports(connections: connections, inboundSAs: [Fixture.sa(1)], destinations: [local])
        XCTAssertEqual(outcome.reports.map(\.flows.count), [1024, 1024, 452])
        XCTAssertEqual(outcome.reports.flatMap(\.flows).map(\.flow), connections)
        let none = HeldFlowReporter.reports(connections: connections, inboundSAs: [], destinations: [local])
        XCTAssertEqual(none.reports, [])
        XCTAssertEqual(none.unmatched, 2500)
    }

    func testPrefixMatching() {
        XCTAssertTrue(HeldFlowReporter.inPrefix(.v4(10, 1, 255, 7), .v4(10, 1, 0, 0), 16))
        XCTAssertFalse(HeldFlowReporter.inPrefix(.v4(10, 2, 0, 7), .v4(10, 1, 0, 0), 16))
        XCTAssertTrue(HeldFlowReporter.inPrefix(.v4(10, 1, 0, 7), .v4(10, 1, 0, 0), 29))
        XCTAssertFalse(HeldFlowReporter.inPrefix(.v4(10, 1, 0, 8), .v4(10, 1, 0, 0), 29))
        XCTAssertTrue(HeldFlowReporter.inPrefix(.v4(1, 2, 3, 4), .v4(0, 0, 0, 0), 0))
        XCTAssertFalse(HeldFlowReporter.inPrefix(try! IPAddress(bytes: Array(repeating: 0, count: 16)), .v4(0, 0, 0, 0), 0),
                       "another family never matches")
    }

    // MARK: The authority after a takeover

    /// A new active restored SA 1 (inbound, mark 8192) and SA 2 (outbound of t1); t1 rejoins
    /// in the epoch and acknowledges the resync, then reports.
    func restoredAuthority() -> SAAuthority {
        var authority = SAAuthority(restoring: Fixture.epoch,
                                    sas: [Fixture.sa(1), Fixture.sa(2, direction: .outbound, sequencing: .perTarget(owner: t1))],
                                    replayMarks: [ClusterSAID(1): 8192],
                                    configuration: .init(membership: .init(heartbeatInterval: .seconds(1), failureTimeout: .seconds(3))))
        for node in [t1, t2] {
            _ = authority.receivedHello(.init(nodeID: node, clusterAddress: .v4(10, 9, 0, 1), capabilities: [.extendedSequenceNumbers],
                                              maximumReplayWindow: 4096, incarnation: 1, heldEpoch: Fixture.epoch), now: start)
        }
        for id: UInt64 in [1, 2] { _ = authority.received(.ack(.init(saID: ClusterSAID(id), operation: .installSA)), from: t1, now: start) }
        // t2's kernel refused SA 1: it holds nothing inbound.
        _ = authority.received(.nack(.init(saID: ClusterSAID(1), operation: .installSA, reason: .kernelRejected)), from: t2, now: start)
        return authority
    }

    func testAReplayReportMovesTheRestoredMarkForwardOnlyAndCountsOneBelowIt() {
        var authority = restoredAuthority()
        XCTAssertEqual(authority.inboundHighWater(of: ClusterSAID(1)), 8192)
        // The kernel's window top closes the gap left by the rounded-down mark.
        let ahead = authority.received(.replayReport(.init(saID: ClusterSAID(1), top: 11_000, bitmap: [.max])), from: t1, now: start)
        XCTAssertEqual(ahead.count, 1)
        XCTAssertEqual(authority.inboundHighWater(of: ClusterSAID(1)), 11_000)
        // A report below what is held (a lagging holder, or a stale read): never backwards.
        let behind = authority.received(.replayReport(.init(saID: ClusterSAID(1), top: 5000, bitmap: [1])), from: t1, now: start)
        XCTAssertEqual(behind.count, 1, "its bits still go to the window (they only ever mark numbers as seen)")
        XCTAssertEqual(authority.inboundHighWater(of: ClusterSAID(1)), 11_000)
        XCTAssertEqual(authority.counters.replayReports, 2)
        XCTAssertEqual(authority.counters.replayBelowHighWater, 1)
        // t2 refused SA 1: its word is no evidence.
        XCTAssertEqual(authority.received(.replayReport(.init(saID: ClusterSAID(1), top: 1 << 40, bitmap: [1])), from: t2, now: start), [])
        XCTAssertEqual(authority.inboundHighWater(of: ClusterSAID(1)), 11_000)
        let status = authority.status(now: start)
        XCTAssertEqual(status.reports.replayReports, 2)
        XCTAssertEqual(status.reports.replayBelowHighWater, 1)
    }

    func testReportedConnectionsOfUnknownOutboundOrUnheldSAsAreDroppedAndCounted() {
        var authority = restoredAuthority()
        let good = udp(2000)
        let report = ClusterMessage.FlowReport(flows: [
            .init(saID: ClusterSAID(1), flow: good),
            .init(saID: ClusterSAID(99), flow: udp(2001)),          // unknown
            .init(saID: ClusterSAID(2), flow: udp(2002)),           // outbound
        ])
        let actions = authority.received(.flowReport(report), from: t1, now: start)
        XCTAssertEqual(actions, [.flowsReported([ReportedFlow(sa: Fixture.sa(1), flow: good)], by: t1)])
        // t2 does not hold SA 1: nothing of its report is passed on.
        XCTAssertEqual(authority.received(.flowReport(.init(flows: [.init(saID: ClusterSAID(1), flow: good)])), from: t2, now: start), [])
        // A stranger's report is not even looked at.
        XCTAssertEqual(authority.received(.flowReport(report), from: Fixture.node("stranger"), now: start), [])
        XCTAssertEqual(authority.counters.flowReports, 2)
        XCTAssertEqual(authority.counters.flowsReported, 1)
        XCTAssertEqual(authority.counters.flowsUnknownSA, 3)
        XCTAssertEqual(authority.counters.fromNonMembers, 1)
        let status = authority.status(now: start)
        XCTAssertEqual([status.reports.flowReports, status.reports.flowsReported, status.reports.flowsUnknownSA], [2, 1, 3])
    }
}
