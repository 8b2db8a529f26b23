import Foundation
import ClusterNode
import IKEDaemon
import NIOCore
import NIOPosix
import XCTest
@testable import OperatorMetrics

/// The routing node's metrics: the daemon's numbers moved into swift-metrics on a
/// swift-prometheus registry, and the NIOHTTP1 endpoint that serves them.
final class OperatorMetricsTests: XCTestCase {
    func snapshot(established: Int = 3, ikeSAs: Int = 2, refusedNoProposal: Int = 1, timeouts: Int = 2) -> GatewayMetricsSnapshot {
        var snapshot = GatewayMetricsSnapshot()
        snapshot.fields = ["ike_sas": ikeSAs, "half_open": 0, "child_sas": 4, "established_total": established,
                           "refused_NO_PROPOSAL_CHOSEN": refusedNoProposal, "ike_rekeys": 1, "malformed": 7,
                           "fragments_received": 9, "fragmented_messages_reassembled": 3, "fragmented_messages_sent": 2,
                           "fragments_dropped_too_long": 4]
        snapshot.setupFailures = ["timeout": timeouts]
        snapshot.childRekeys = 5
        snapshot.livenessChecks = 6
        snapshot.deadPeers = 1
        return snapshot
    }

    /// value of `line` ("name{labels}") in the exposition, nil when absent.
    func value(_ exposition: String, _ line: String) -> Double? {
        exposition.split(separator: "\n").first { $0.hasPrefix(line + " ") }.flatMap { Double($0.split(separator: " ").last!) }
    }

    func testTheNumbersBecomeCountersAndGauges() {
        let metrics = RoutingMetrics()
        metrics.update(snapshot(), cluster: ClusterMetricsSnapshot(membersByHealth: ["live": 3]))
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        XCTAssertEqual(value(text, "vipsec_ike_sas"), 2)
        XCTAssertEqual(value(text, "vipsec_child_sas"), 4)
        XCTAssertEqual(value(text, "vipsec_ike_sa_established_total"), 3)
        XCTAssertEqual(value(text, #"vipsec_ike_sa_setup_failures_total{reason="NO_PROPOSAL_CHOSEN"}"#), 1)
        XCTAssertEqual(value(text, #"vipsec_ike_sa_setup_failures_total{reason="timeout"}"#), 2)
        XCTAssertEqual(value(text, "vipsec_ike_sa_rekeys_total"), 1)
        XCTAssertEqual(value(text, "vipsec_child_sa_rekeys_total"), 5)
        XCTAssertEqual(value(text, "vipsec_dpd_checks_total"), 6)
        XCTAssertEqual(value(text, "vipsec_dpd_dead_peers_total"), 1)
        XCTAssertEqual(value(text, #"vipsec_ike_messages_dropped_total{reason="malformed"}"#), 7)
        XCTAssertEqual(value(text, "vipsec_ike_fragments_received_total"), 9)
        XCTAssertEqual(value(text, #"vipsec_ike_fragmented_messages_total{direction="in"}"#), 3)
        XCTAssertEqual(value(text, #"vipsec_ike_fragmented_messages_total{direction="out"}"#), 2)
        XCTAssertEqual(value(text, #"vipsec_ike_fragments_dropped_total{reason="too_long"}"#), 4)
        XCTAssertEqual(value(text, #"vipsec_cluster_members{health="live"}"#), 3)
        XCTAssertEqual(value(text, #"vipsec_cluster_members{health="silent"}"#), 0)
        XCTAssertTrue(text.contains("# TYPE vipsec_ike_sa_established_total counter"), text)
        XCTAssertTrue(text.contains("# TYPE vipsec_ike_sas gauge"), text)
    }

    /// Cluster: install latencies into a histogram with the configured buckets (each
    /// scrape adds the installs finished since the last), the lifesize totals as gauges, the
    /// inbound distributor's counters with a reason label.
    func testClusterInstallLatencyLifesizeAndInboundCounters() {
        let metrics = RoutingMetrics()
        let inbound = ClusterMetricsSnapshot.InboundMetrics(
            forwarded: 12, dropped: ["no-sa": 2, "replay": 0, "icv": 4],
            queues: ["0": ["received": 5, "accepted": 4, "dropped": 1], "1": ["received": 9, "accepted": 9, "dropped": 0]],
            verified: 12, verifyingSAs: 1, flowEnds: ["ended-by-target": 17, "not-owner": 2],
            heldFlows: ["placed": 5, "unknown-sa": 1])
        var first = ClusterMetricsSnapshot(
            membersByHealth: ["live": 1], installLatencies: [.milliseconds(3), .milliseconds(40), .milliseconds(700)],
            reportedBytes: 4096, reportedPackets: 30, inbound: inbound)
        first.targetReports = ["replay": 9, "flows_unknown_sa": 2]
        first.replayMarks = ["written": 3, "adopted": 1, "failed": 1]
        metrics.update(snapshot(), cluster: first)
        metrics.update(snapshot(), cluster: ClusterMetricsSnapshot(membersByHealth: ["live": 1], installLatencies: [.seconds(3)],
                                                                  reportedBytes: 8192, reportedPackets: 60, inbound: inbound))
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        XCTAssertTrue(text.contains("# TYPE vipsec_cluster_sa_install_seconds histogram"), text)
        XCTAssertEqual(value(text, "vipsec_cluster_sa_install_seconds_count"), 4)
        XCTAssertEqual(value(text, #"vipsec_cluster_sa_install_seconds_bucket{le="0.005"}"#), 1)
        XCTAssertEqual(value(text, #"vipsec_cluster_sa_install_seconds_bucket{le="0.05"}"#), 2)
        XCTAssertEqual(value(text, #"vipsec_cluster_sa_install_seconds_bucket{le="1.0"}"#), 3)
        XCTAssertEqual(value(text, #"vipsec_cluster_sa_install_seconds_bucket{le="+Inf"}"#), 4)
        XCTAssertEqual(try XCTUnwrap(value(text, "vipsec_cluster_sa_install_seconds_sum")), 3.743, accuracy: 0.0001)
        XCTAssertEqual(value(text, "vipsec_cluster_lifesize_reported_bytes"), 8192)
        XCTAssertEqual(value(text, "vipsec_cluster_lifesize_reported_packets"), 60)
        XCTAssertEqual(value(text, "vipsec_inbound_forwarded_total"), 12)
        XCTAssertEqual(value(text, #"vipsec_inbound_dropped_total{reason="no-sa"}"#), 2)
        XCTAssertEqual(value(text, #"vipsec_inbound_dropped_total{reason="replay"}"#), 0)
        // `verify`: ICV failures are a drop reason; packets verified; SAs under attack.
        XCTAssertEqual(value(text, #"vipsec_inbound_dropped_total{reason="icv"}"#), 4)
        XCTAssertEqual(value(text, "vipsec_inbound_verified_total"), 12)
        XCTAssertEqual(value(text, "vipsec_inbound_verifying_sas"), 1)
        XCTAssertEqual(value(text, #"vipsec_inbound_flow_ends_total{result="ended-by-target"}"#), 17)
        XCTAssertEqual(value(text, #"vipsec_inbound_flow_ends_total{result="not-owner"}"#), 2)
        XCTAssertEqual(value(text, #"vipsec_inbound_held_flows_total{result="placed"}"#), 5)
        XCTAssertEqual(value(text, #"vipsec_inbound_held_flows_total{result="unknown-sa"}"#), 1)
        XCTAssertEqual(value(text, #"vipsec_cluster_target_reports_total{kind="replay"}"#), 9)
        XCTAssertEqual(value(text, #"vipsec_cluster_target_reports_total{kind="flows_unknown_sa"}"#), 2)
        XCTAssertEqual(value(text, #"vipsec_ha_replay_marks_total{event="written"}"#), 3)
        XCTAssertEqual(value(text, #"vipsec_ha_replay_marks_total{event="adopted"}"#), 1)
        XCTAssertEqual(value(text, #"vipsec_ha_replay_marks_total{event="failed"}"#), 1)
        // `queue = 0-1`: the queues bound, and each queue's packets and verdicts.
        XCTAssertEqual(value(text, "vipsec_inbound_queues"), 2)
        XCTAssertEqual(value(text, #"vipsec_inbound_queue_packets_total{queue="0"}"#), 5)
        XCTAssertEqual(value(text, #"vipsec_inbound_queue_packets_total{queue="1"}"#), 9)
        XCTAssertEqual(value(text, #"vipsec_inbound_queue_verdicts_total{queue="0",verdict="dropped"}"#), 1)
        XCTAssertEqual(value(text, #"vipsec_inbound_queue_verdicts_total{queue="1",verdict="accepted"}"#), 9)
    }

    func testCountersAdvanceByWhatHappenedAndNeverGoBack() {
        let metrics = RoutingMetrics()
        metrics.update(snapshot(established: 3, ikeSAs: 2), cluster: nil)
        metrics.update(snapshot(established: 5, ikeSAs: 1), cluster: nil)
        var text = String(decoding: metrics.exposition(), as: UTF8.self)
        XCTAssertEqual(value(text, "vipsec_ike_sa_established_total"), 5, "3, then 2 more")
        XCTAssertEqual(value(text, "vipsec_ike_sas"), 1, "a gauge takes the value")
        metrics.update(snapshot(established: 4), cluster: nil)   // a source that went back (never should)
        text = String(decoding: metrics.exposition(), as: UTF8.self)
        XCTAssertEqual(value(text, "vipsec_ike_sa_established_total"), 5, "a counter does not go back")
        XCTAssertNil(value(text, #"vipsec_cluster_members{health="live"}"#), "standalone: no cluster metrics")
    }

    // MARK: The endpoint

    func get(_ port: Int, _ path: String, method: String = "GET") throws -> (Int, String) { httpGet(port, path, method: method) }

    func testTheEndpointServesMetricsAndRefusesTheRest() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let running = LockedRunning()
        let snapshotNow = snapshot()
        let server = try await MetricsHTTPServer.start(host: "127.0.0.1", port: 0, metrics: RoutingMetrics(), group: group) {
            guard running.value else { return nil }
            return group.next().makeSucceededFuture((snapshotNow, nil))
        }
        let port = try XCTUnwrap(server.localAddress.port)
        XCTAssertEqual(try get(port, "/metrics").0, 503, "the daemon is not running yet")
        running.value = true
        let (status, body) = try get(port, "/metrics")
        XCTAssertEqual(status, 200)
        XCTAssertEqual(value(body, "vipsec_ike_sa_established_total"), 3, body)
        XCTAssertEqual(try get(port, "/metrics?x=1").0, 200)
        XCTAssertEqual(try get(port, "/").0, 404)
        XCTAssertEqual(try get(port, "/metrics", method: "POST").0, 405)
        let (headStatus, headBody) = try get(port, "/metrics", method: "HEAD")
        XCTAssertEqual(headStatus, 200)
        XCTAssertEqual(headBody, "")
        // The close is awaited: once it returns, the port takes no connection.
        await server.close()
        XCTAssertFalse(connects(port), "closed: nothing listens on \(port) any more")
        try await group.shutdownGracefully()
    }
}

final class LockedRunning: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = false
    var value: Bool {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

/// `vipsec target`'s metrics: the agent's numbers moved into swift-metrics on a
/// swift-prometheus registry, served by the same NIOHTTP1 endpoint.
final class AgentMetricsTests: XCTestCase {
    func snapshot(installs: Int = 2, latencies: [Duration] = [.microseconds(300), .milliseconds(7)]) -> AgentMetricsSnapshot {
        AgentMetricsSnapshot(connected: true, reconnects: 1, sasHeld: ["in": 2, "out": 1],
                             kernelBytes: ["in": 4096, "out": 100], kernelPackets: ["in": 40, "out": 1],
                             installs: ["in": installs, "out": 1], installFailures: 1, removals: ["in": 0, "out": 0],
                             installLatencies: latencies, lifesizeReports: 3, reportedBytes: 3000, reportedPackets: 30,
                             kernelErrors: 1, framesDropped: ["bad-length": 2])
    }

    func value(_ exposition: String, _ line: String) -> Double? {
        exposition.split(separator: "\n").first { $0.hasPrefix(line + " ") }.flatMap { Double($0.split(separator: " ").last!) }
    }

    func testTheAgentsNumbersBecomeCountersGaugesAndAHistogram() {
        let metrics = AgentMetrics()
        metrics.update(snapshot())
        var text = String(decoding: metrics.exposition(), as: UTF8.self)
        XCTAssertEqual(value(text, "vipsec_agent_connected"), 1)
        XCTAssertEqual(value(text, "vipsec_agent_reconnects_total"), 1)
        XCTAssertEqual(value(text, #"vipsec_agent_sas{direction="in"}"#), 2)
        XCTAssertEqual(value(text, #"vipsec_agent_sas{direction="out"}"#), 1)
        XCTAssertEqual(value(text, #"vipsec_agent_kernel_bytes{direction="in"}"#), 4096)
        XCTAssertEqual(value(text, #"vipsec_agent_kernel_packets{direction="in"}"#), 40)
        XCTAssertEqual(value(text, #"vipsec_agent_sa_installs_total{direction="in"}"#), 2)
        XCTAssertEqual(value(text, #"vipsec_agent_sa_removals_total{direction="out"}"#), 0)
        XCTAssertEqual(value(text, "vipsec_agent_sa_install_failures_total"), 1)
        XCTAssertEqual(value(text, "vipsec_agent_lifesize_reports_total"), 3)
        XCTAssertEqual(value(text, "vipsec_agent_lifesize_reported_bytes_total"), 3000)
        XCTAssertEqual(value(text, "vipsec_agent_lifesize_reported_packets_total"), 30)
        XCTAssertEqual(value(text, "vipsec_agent_kernel_errors_total"), 1)
        XCTAssertEqual(value(text, #"vipsec_agent_cluster_frames_dropped_total{reason="bad-length"}"#), 2)
        XCTAssertEqual(value(text, "vipsec_agent_sa_install_seconds_count"), 2)
        XCTAssertEqual(value(text, #"vipsec_agent_sa_install_seconds_bucket{le="0.00025"}"#), 0)
        XCTAssertEqual(value(text, #"vipsec_agent_sa_install_seconds_bucket{le="0.0005"}"#), 1)
        XCTAssertEqual(value(text, #"vipsec_agent_sa_install_seconds_bucket{le="0.01"}"#), 2)
        XCTAssertTrue(text.contains("# TYPE vipsec_agent_sa_installs_total counter"), text)
        XCTAssertTrue(text.contains("# TYPE vipsec_agent_sas gauge"), text)
        XCTAssertTrue(text.contains("# TYPE vipsec_agent_sa_install_seconds histogram"), text)

        // The next scrape: counters advance by the difference, the histogram by the new latencies.
        var next = snapshot(installs: 5, latencies: [.seconds(2)])
        next.connected = false
        metrics.update(next)
        text = String(decoding: metrics.exposition(), as: UTF8.self)
        XCTAssertEqual(value(text, #"vipsec_agent_sa_installs_total{direction="in"}"#), 5)
        XCTAssertEqual(value(text, "vipsec_agent_connected"), 0)
        XCTAssertEqual(value(text, "vipsec_agent_sa_install_seconds_count"), 3)
        XCTAssertEqual(value(text, #"vipsec_agent_sa_install_seconds_bucket{le="1.0"}"#), 2)
        XCTAssertEqual(value(text, #"vipsec_agent_sa_install_seconds_bucket{le="+Inf"}"#), 3)
    }

    func testTheAgentsEndpointServesItsMetrics() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let now = snapshot()
        let server = try await MetricsHTTPServer.start(host: "127.0.0.1", port: 0, metrics: AgentMetrics(), group: group) {
            group.next().makeSucceededFuture(now)
        }
        let port = try XCTUnwrap(server.localAddress.port)
        let (status, body) = httpGet(port, "/metrics")
        XCTAssertEqual(status, 200)
        XCTAssertEqual(value(body, #"vipsec_agent_sas{direction="in"}"#), 2, body)
        XCTAssertEqual(httpGet(port, "/nothing").0, 404)
        await server.close()
        XCTAssertFalse(connects(port))
        try await group.shutdownGracefully()
    }
}

/// Connects the TCP socket `fd` to 127.0.0.1:`port`; true when accepted.
func connectLoopback(_ fd: Int32, _ port: Int) -> Bool {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

/// Whether a TCP connection to 127.0.0.1:`port` is accepted.
func connects(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    return connectLoopback(fd, port)
}

/// One HTTP/1.1 request on a fresh connection; returns (status code, body).
func httpGet(_ port: Int, _ path: String, method: String = "GET") -> (Int, String) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    XCTAssertTrue(connectLoopback(fd, port), "connect to 127.0.0.1:\(port)")
    let request = Array("\(method) \(path) HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
    var data = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        data += chunk[0..<n]
    }
    let text = String(decoding: data, as: UTF8.self)
    let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
    let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
    return (status, body)
}
