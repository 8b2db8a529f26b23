import NIOCore
import XCTest
@testable import Cluster

/// Inbound claim 10 on the wire and at the agent: FlowEndReport (type 14), the agent's
/// filter and batches, and the authority passing a member's report on.
final class FlowEndReportTests: XCTestCase {
    let dvipa = IPAddress.v4(192, 0, 2, 100)
    let t1 = Fixture.node("t1"), t4 = Fixture.node("t4")
    let start = ClusterInstant(nanoseconds: 1_000_000_000)

    func tcp(_ sport: UInt16, to destination: IPAddress? = nil) -> InnerFiveTuple {
        InnerFiveTuple(source: .v4(10, 1, 0, 5), destination: destination ?? dvipa, sourcePort: sport, destinationPort: 8080, ipProtocol: 6)
    }

    func v6(_ text: [UInt8]) -> IPAddress { try! IPAddress(bytes: text) }

    // MARK: Wire

    /// Written by hand from the layout in FlowEndMessages.swift: frame v1 header (magic
    /// 0x5643, version 1, type 14, length 56), count 2, then TCP 10.1.0.5:40000 →
    /// 192.0.2.100:8080 and UDP [fd00:1::5]:5353 → [2001:db8::10]:8081.
    static let golden = "5643010e00000038" + "0002"
        + "06" + "040a010005" + "04c0000264" + "9c40" + "1f90"
        + "11" + "06fd000001000000000000000000000005" + "0620010db8000000000000000000000010" + "14e9" + "1f91"

    func goldenMessage() -> ClusterMessage {
        let peer6 = v6([0xfd, 0, 0, 1] + Array(repeating: 0, count: 11) + [5])
        let dvipa6 = v6([0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [0x10])
        return .flowEndReport(.init(flows: [
            tcp(40000),
            InnerFiveTuple(source: peer6, destination: dvipa6, sourcePort: 5353, destinationPort: 8081, ipProtocol: 17),
        ]))
    }

    func testTheReportHasItsGoldenBytesAndRoundTrips() throws {
        var frame = Fixture.frame(goldenMessage())
        XCTAssertEqual(frame.readableBytesView.map { String(format: "%02x", $0) }.joined(), Self.golden)
        XCTAssertEqual(try ClusterFrameDecoder().decode(&frame), goldenMessage())
        XCTAssertEqual(frame.readableBytes, 0)
        XCTAssertEqual(ClusterMessageType.flowEndReport.description, "FlowEndReport")
        XCTAssertEqual("\(goldenMessage())", "FlowEndReport(2 flows)")
    }

    func testAFullReportOfIPv6FlowsFitsAFrame() throws {
        let flows = (0..<ClusterMessage.FlowEndReport.maximumFlows + 10).map { i in
            InnerFiveTuple(source: v6(Array(repeating: 0xfd, count: 16)), destination: v6(Array(repeating: 0x20, count: 16)),
                           sourcePort: UInt16(i), destinationPort: 443, ipProtocol: 17)
        }
        let report = ClusterMessage.FlowEndReport(flows: flows)
        XCTAssertEqual(report.flows.count, ClusterMessage.FlowEndReport.maximumFlows)
        var frame = Fixture.frame(.flowEndReport(report))
        XCTAssertLessThanOrEqual(frame.readableBytes - 8, ClusterFrame.defaultMaximumBodyLength)
        XCTAssertEqual(try ClusterFrameDecoder().decode(&frame), .flowEndReport(report))
    }

    /// Bad bodies from the network: refused with the field's name, counted by the shell
    /// (`invalid-value`, `truncated`), the connection kept, the next frame read.
    func testBadBodiesAreRefusedByFieldAndTheNextFrameStillDecodes() throws {
        func body(_ build: (inout ByteBuffer) -> Void) -> ByteBuffer { var b = ByteBuffer(); build(&b); return b }
        let cases: [(String, ByteBuffer)] = [
            ("FlowEndReport flows", body { $0.writeInteger(UInt16(1025)) }),
            ("FlowEndReport protocol", body { $0.writeInteger(UInt16(1)); $0.writeInteger(UInt8(1)) }),
            ("FlowEndReport source", body { $0.writeInteger(UInt16(1)); $0.writeInteger(UInt8(6)); $0.writeInteger(UInt8(5)) }),
            ("FlowEndReport destination", body {
                $0.writeInteger(UInt16(1)); $0.writeInteger(UInt8(6))
                $0.writeBytes([4, 10, 1, 0, 5]); $0.writeBytes([6] + Array(repeating: UInt8(0), count: 16))
                $0.writeInteger(UInt16(1)); $0.writeInteger(UInt16(2))
            }),
            ("FlowEndReport destination port", body {
                $0.writeInteger(UInt16(1)); $0.writeInteger(UInt8(17))
                $0.writeBytes([4, 10, 1, 0, 5, 4, 192, 0, 2, 100]); $0.writeInteger(UInt16(1))
            }),
        ]
        for (field, bad) in cases {
            var bad = bad
            XCTAssertThrowsError(try ClusterMessage(type: .flowEndReport, parsing: &bad), field) { error in
                guard let wire = error as? ClusterWireError else { return XCTFail("\(error)") }
                XCTAssertTrue("\(wire)".contains(field), "\(wire) should name \(field)")
                XCTAssertFalse(wire.closesConnection)
                XCTAssertTrue(["invalid-value", "truncated"].contains(wire.counterName), wire.counterName)
            }
        }
        // In a stream: the bad frame is dropped alone.
        var stream = ByteBuffer()
        var badBody = ByteBuffer()
        badBody.writeInteger(UInt16(1)); badBody.writeInteger(UInt8(1))
        stream.writeInteger(UInt16(0x5643)); stream.writeInteger(UInt8(1)); stream.writeInteger(UInt8(14))
        stream.writeInteger(UInt32(badBody.readableBytes)); stream.writeBuffer(&badBody)
        var next = Fixture.frame(goldenMessage())
        stream.writeBuffer(&next)
        let decoder = ClusterFrameDecoder()
        XCTAssertThrowsError(try decoder.decode(&stream))
        XCTAssertEqual(try decoder.decode(&stream), goldenMessage())
    }

    // MARK: Authority

    func testTheAuthorityPassesAMembersReportOnAndCountsANonMembers() {
        var authority = SAAuthority(epoch: Fixture.epoch, configuration: .init(
            membership: .init(heartbeatInterval: .seconds(1), failureTimeout: .seconds(3)), installTimeout: .seconds(5)))
        _ = authority.receivedHello(.init(nodeID: t1, clusterAddress: .v4(10, 9, 0, 1), capabilities: [], maximumReplayWindow: 64,
                                          incarnation: 1, heldEpoch: .none), now: start)
        let report = ClusterMessage.FlowEndReport(flows: [tcp(40000)])
        XCTAssertEqual(authority.received(.flowEndReport(report), from: t1, now: start), [.flowsEnded([tcp(40000)], by: t1)])
        XCTAssertEqual(authority.received(.flowEndReport(.init(flows: [])), from: t1, now: start), [])
        XCTAssertEqual(authority.received(.flowEndReport(report), from: t4, now: start), [])
        XCTAssertEqual(authority.counters.fromNonMembers, 1)
    }

    // MARK: The agent's filter and batches

    func testOnlyTCPAndUDPToTheDVIPAAreKept() {
        var batcher = FlowEndBatcher(destinations: [dvipa])
        batcher.ended(tcp(1), id: nil, closed: false, now: start)
        batcher.ended(tcp(2, to: .v4(192, 0, 2, 7)), id: nil, closed: false, now: start)       // another address of the host
        var icmp = tcp(3); icmp.ipProtocol = 1
        batcher.ended(icmp, id: nil, closed: false, now: start)
        var esp = tcp(4); esp.ipProtocol = 50                                                 // the outer ESP itself
        batcher.ended(esp, id: nil, closed: false, now: start)
        var udp = tcp(5); udp.ipProtocol = 17
        batcher.ended(udp, id: nil, closed: false, now: start)
        XCTAssertEqual(batcher.counters.kept, 2)
        XCTAssertEqual(batcher.counters.filtered, 3)
        XCTAssertEqual(batcher.take(now: start + .seconds(1)).flatMap(\.flows), [tcp(1), udp])
    }

    func testABatchLeavesAfterTheDelayOrWhenFull() {
        var batcher = FlowEndBatcher(destinations: [dvipa], delay: .milliseconds(200))
        batcher.ended(tcp(1), id: nil, closed: false, now: start)
        batcher.ended(tcp(2), id: nil, closed: false, now: start + .milliseconds(150))
        XCTAssertEqual(batcher.take(now: start + .milliseconds(199)), [])
        XCTAssertEqual(batcher.take(now: start + .milliseconds(200)), [.init(flows: [tcp(1), tcp(2)])])
        XCTAssertEqual(batcher.take(now: start + .seconds(5)), [], "nothing waits")
        // 2,500 ends at once: two full batches at once (the rest too, being due with them).
        for port in 0..<2500 { batcher.ended(tcp(UInt16(port)), id: nil, closed: false, now: start + .seconds(10)) }
        let reports = batcher.take(now: start + .seconds(10))
        XCTAssertEqual(reports.map(\.flows.count), [1024, 1024, 452])
        XCTAssertEqual(reports.flatMap(\.flows).map(\.sourcePort), (0..<2500).map { UInt16($0) })
        XCTAssertEqual(batcher.counters.reports, 4)
        XCTAssertEqual(batcher.counters.reported, 2502)
        XCTAssertEqual(batcher.pendingCount, 0)
    }

    func testATCPConnectionReportedAtCloseIsNotReportedAgainWhenDestroyed() {
        var batcher = FlowEndBatcher(destinations: [dvipa], delay: .zero)
        batcher.ended(tcp(1), id: 0xc524_6eb5, closed: true, now: start)
        batcher.ended(tcp(1), id: 0xc524_6eb5, closed: true, now: start)       // a second update in TIME_WAIT
        batcher.ended(tcp(1), id: 0xc524_6eb5, closed: false, now: start)      // its destroy, 120 s later
        batcher.ended(tcp(1), id: 0xc524_6eb5, closed: false, now: start)      // a newer entry reusing the id: reported
        batcher.ended(tcp(2), id: 7, closed: false, now: start)                // destroyed without a close first (RST, timeout)
        XCTAssertEqual(batcher.take(now: start).flatMap(\.flows), [tcp(1), tcp(1), tcp(2)])
        XCTAssertEqual(batcher.counters.alreadyReported, 2)
    }

    func testPendingEndsAreCappedAndTheRestCounted() {
        var batcher = FlowEndBatcher(destinations: [dvipa], maximumPending: 3)
        for port in 0..<5 { batcher.ended(tcp(UInt16(port)), id: UInt32(port), closed: true, now: start) }
        XCTAssertEqual(batcher.pendingCount, 3)
        XCTAssertEqual(batcher.counters.lost, 2)
        // A lost close is not remembered: its destroy may still end the entry.
        _ = batcher.take(now: start + .seconds(1))
        batcher.ended(tcp(4), id: 4, closed: false, now: start)
        XCTAssertEqual(batcher.counters.alreadyReported, 0)
        XCTAssertEqual(batcher.pendingCount, 1)
    }

    func testTheRememberedIDsAreBounded() {
        var batcher = FlowEndBatcher(destinations: [dvipa], maximumClosedIDs: 4)
        for port in 0..<5 { batcher.ended(tcp(UInt16(port)), id: UInt32(port), closed: true, now: start) }
        // The fifth id made room by forgetting the three oldest: their destroy reports again.
        batcher.ended(tcp(0), id: 0, closed: false, now: start)
        XCTAssertEqual(batcher.counters.alreadyReported, 0)
        batcher.ended(tcp(4), id: 4, closed: false, now: start)
        XCTAssertEqual(batcher.counters.alreadyReported, 1)
        XCTAssertEqual(batcher.pendingCount, 6)
    }
}
