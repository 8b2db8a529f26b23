import Cluster
import Foundation
import NIOCore
import XCTest
@testable import ClusterNode

/// The agent's kernel calls run on a thread of their own: a slow install (seconds while the
/// kernel loads crypto modules) must not stop the agent's heartbeats, or the routing node
/// would declare a healthy target dead in the middle of an install.
final class AgentKernelThreadTests: ClusterHarnessTestCase {
    func testHeartbeatsFlowWhileAnInstallBlocksTheKernel() async throws {
        // Heartbeats every 100 ms, dead after 600 ms of silence; the install takes 1.5 s.
        try await harness.startService(failureTimeout: .milliseconds(600), installTimeout: .seconds(5))
        let kernel = RecordingKernel()
        try await harness.startAgent("t1", kernel: kernel).welcomed.get()
        kernel.installDelay = 1.5

        let service = harness.service!
        let install = Task { try await service.install([testSA(1, spi: 0x5001)]) }
        var polls = 0
        var droppedDuringInstall = false
        let start = Date()
        while Date().timeIntervalSince(start) < 1.4 {
            let members = await service.liveMembers().map(\.name)
            if members != ["t1"] { droppedDuringInstall = true }
            polls += 1
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        try await install.value
        XCTAssertGreaterThan(polls, 5)
        XCTAssertFalse(droppedDuringInstall, "t1 stayed a live member through a 1.5 s install (failure timeout 600 ms)")
        XCTAssertEqual(kernel.spis, [0x5001])
        let sa = try await harness.routingStatus().sas.first { $0.saID == 1 }
        XCTAssertEqual(sa?.holders, ["t1"], "the slow install was acknowledged")
        let reconnects = try await harness.agents[0].status().get().target?.reconnects
        XCTAssertEqual(reconnects, 0, "the agent never lost its connection")
    }

    func testInstallsDeletesAndStatusRunOnTheKernelThreadInOrder() async throws {
        try await harness.startService()
        let kernel = RecordingKernel()
        let agent = try await harness.startAgent("t1", kernel: kernel)
        try await agent.welcomed.get()
        try await harness.service.install([testSA(1, spi: 0x5101), testSA(2, spi: 0x5102)])
        XCTAssertEqual(kernel.installThreads.count, 1, "one kernel thread: \(kernel.installThreads)")
        XCTAssertFalse(kernel.installThreads.contains { $0.contains("NIO-ELT") },
                       "installs never ran on an event loop: \(kernel.installThreads)")
        let inKernel = try await agent.status().get().target?.sas.filter(\.inKernel).map(\.spi)
        XCTAssertEqual(inKernel, ["0x00005101", "0x00005102"])

        await harness.service.delete(ClusterSAID(1))
        let gone = await eventually { kernel.spis == [0x5102] }
        XCTAssertTrue(gone, "the delete reached the kernel after the install: \(kernel.spis)")
        let held = try await agent.status().get().target?.sas.map(\.spi)
        XCTAssertEqual(held, ["0x00005102"])
    }
}
