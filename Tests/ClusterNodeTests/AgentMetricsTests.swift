import Cluster
import Foundation
import NIOCore
import XCTest
@testable import ClusterNode

/// The agent's numbers for its metrics endpoint (ClusterAgent+Metrics.swift), over the real
/// cluster channel with an in-memory kernel: SAs held and the kernel's counters by direction,
/// installs with their latency, refusals, removals, lifesize reports, the connection and
/// its reconnects.
final class AgentMetricsTests: ClusterHarnessTestCase {
    func testInstallsRemovalsReportsAndTheConnectionAreCounted() async throws {
        try await harness.startService()
        let kernel = RecordingKernel()
        kernel.bytesPerRead = 50_000
        let agent = try await harness.startAgent("t1", kernel: kernel)
        try await agent.welcomed.get()
        var snapshot = try await agent.metricsSnapshot().get()
        XCTAssertTrue(snapshot.connected)
        XCTAssertEqual(snapshot.sasHeld, ["in": 0, "out": 0])
        XCTAssertEqual(snapshot.installs, ["in": 0, "out": 0])

        try await harness.service.install([testSA(1, spi: 0x5001), testSA(2, spi: 0x5002, direction: .outbound, owner: "t1")])
        snapshot = try await agent.metricsSnapshot().get()
        XCTAssertEqual(snapshot.sasHeld, ["in": 1, "out": 1])
        XCTAssertEqual(snapshot.installs, ["in": 1, "out": 1])
        XCTAssertEqual(snapshot.installLatencies.count, 2, "one latency per install")
        XCTAssertTrue(snapshot.installLatencies.allSatisfy { $0 > .zero && $0 < .seconds(10) }, "\(snapshot.installLatencies)")
        XCTAssertGreaterThan(snapshot.kernelBytes["in", default: 0], 0, "the kernel's counters, read for the scrape")
        XCTAssertEqual(snapshot.kernelPackets["in"], snapshot.kernelBytes["in"].map { $0 / 100 }, "RecordingKernel: packets = bytes / 100")
        let again = try await agent.metricsSnapshot().get()
        XCTAssertEqual(again.installLatencies, [], "a scrape takes the latencies recorded since the last one")

        // The counter reads cross the lifesize step (10 % of 1,000,000 octets): reports go out.
        let reported = await eventually(10) { ((try? await agent.metricsSnapshot().get())?.lifesizeReports ?? 0) >= 2 }
        XCTAssertTrue(reported)
        snapshot = try await agent.metricsSnapshot().get()
        XCTAssertGreaterThanOrEqual(snapshot.reportedBytes, 100_000)
        XCTAssertEqual(snapshot.reportedPackets, snapshot.reportedBytes / 100)
        XCTAssertLessThanOrEqual(snapshot.reportedBytes, snapshot.kernelBytes.values.reduce(0, +), "reports lag the kernel")

        // Removed by the routing node: counted, no longer held; its final report adds what it carried.
        await harness.service.delete(ClusterSAID(1))
        let removed = await eventually { ((try? await agent.metricsSnapshot().get())?.removals["in"] ?? 0) == 1 }
        XCTAssertTrue(removed)
        snapshot = try await agent.metricsSnapshot().get()
        XCTAssertEqual(snapshot.sasHeld, ["in": 0, "out": 1])
        XCTAssertEqual(snapshot.removals, ["in": 1, "out": 0])

        // A refused install: a failure and a kernel error, nothing held or installed.
        kernel.refuse = [0x5003]
        try? await harness.service.install([testSA(3, spi: 0x5003)])
        let refused = await eventually { ((try? await agent.metricsSnapshot().get())?.installFailures ?? 0) == 1 }
        XCTAssertTrue(refused)
        snapshot = try await agent.metricsSnapshot().get()
        XCTAssertEqual(snapshot.installs, ["in": 1, "out": 1])
        XCTAssertGreaterThanOrEqual(snapshot.kernelErrors, 1)
        XCTAssertEqual(snapshot.reconnects, 0)

        // The routing node goes away: disconnected, and each failed attempt is a reconnect.
        await harness.service.stop(removingSAs: false)
        let lost = await eventually(10) {
            guard let s = try? await agent.metricsSnapshot().get() else { return false }
            return !s.connected && s.reconnects >= 2
        }
        XCTAssertTrue(lost)
        snapshot = try await agent.metricsSnapshot().get()
        XCTAssertEqual(snapshot.sasHeld, ["in": 0, "out": 1], "kept through the grace")
    }
}
