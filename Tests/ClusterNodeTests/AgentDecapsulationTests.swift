import Cluster
import Foundation
import XCTest
@testable import ClusterNode

/// Inbound encapsulated mode: the routing node's Welcome names its GRE source; the agent sets
/// up its decapsulation from that address once per Welcome that changes it, and removes it at
/// stop. A direct routing node's Welcome sets up nothing. Real TLS, in-memory kernel.
final class AgentDecapsulationTests: ClusterHarnessTestCase {
    func testTheWelcomeOfAnEncapsulatedRoutingNodeSetsUpDecapsulationAndStopRemovesIt() async throws {
        try await harness.startService(greSource: .v4(10, 0, 0, 1))
        let kernel = RecordingKernel()
        let agent = try await harness.startAgent("t1", kernel: kernel)
        try await agent.welcomed.get()
        let started = await eventually { kernel.decapsulations == ["start 10.0.0.1 127.0.0.1"] }
        XCTAssertTrue(started, "\(kernel.decapsulations)")
        let welcome = try await agent.loop.submit { agent.welcome }.get()
        XCTAssertEqual(welcome?.greSource, .v4(10, 0, 0, 1))

        let report = await agent.stop(removingSAs: true)
        XCTAssertTrue(report.removedDecapsulation)
        XCTAssertEqual(kernel.decapsulations, ["start 10.0.0.1 127.0.0.1", "stop"])
    }

    func testADirectRoutingNodeSetsUpNothing() async throws {
        try await harness.startService()
        let kernel = RecordingKernel()
        let agent = try await harness.startAgent("t1", kernel: kernel)
        try await agent.welcomed.get()
        let welcome = try await agent.loop.submit { agent.welcome }.get()
        XCTAssertNotNil(welcome)
        XCTAssertNil(welcome?.greSource)
        let report = await agent.stop(removingSAs: true)
        XCTAssertFalse(report.removedDecapsulation)
        XCTAssertEqual(kernel.decapsulations, [])
    }
}
