import Cluster
import Foundation
import NIOCore
import NIOPosix
import XCTest
@testable import ClusterNode

/// The agent's stop in each phase of its connection, against real sockets and TLS: prompt
/// (well within its bound), nothing reconnects after it, every held SA leaves the kernel,
/// the status socket file goes.
final class AgentShutdownTests: ClusterHarnessTestCase {
    var directory = ""

    override func setUp() async throws {
        try await super.setUp()
        directory = NSTemporaryDirectory() + "vipsec-stop-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() async throws {
        try? FileManager.default.removeItem(atPath: directory)
        try await super.tearDown()
    }

    func agent(_ node: String = "t1", port: Int, kernel: RecordingKernel, stopTimeout: Duration = .seconds(2),
               handshakeTimeout: Duration = .seconds(10)) throws -> ClusterAgent {
        let configuration = ClusterAgent.Configuration(
            nodeID: try NodeID(node), routingHost: "127.0.0.1", routingPort: port, clusterAddress: .v4(127, 0, 0, 1),
            statusSocketPath: directory + "/\(node).sock", minimumBackoff: .milliseconds(50), maximumBackoff: .milliseconds(400),
            counterInterval: .milliseconds(50), watchExpireEvents: false, stopTimeout: stopTimeout,
            handshakeTimeout: handshakeTimeout)
        return try ClusterAgent(configuration: configuration, credentials: try harness.pki.credentials(node),
                                kernel: kernel, group: harness.group)
    }

    /// A port on 127.0.0.1 where nothing listens (connections are refused).
    func closedPort() async throws -> Int {
        let channel = try await ServerBootstrap(group: harness.group).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress!.port!
        try await channel.close()
        return port
    }

    func timed(_ body: () async -> ClusterAgent.StopReport) async -> (ClusterAgent.StopReport, Double) {
        let start = Date()
        let report = await body()
        return (report, Date().timeIntervalSince(start))
    }

    func testStopWhileBackingOffIsPromptAndNothingReconnects() async throws {
        let agent = try agent(port: try await closedPort(), kernel: RecordingKernel())
        try await agent.start()
        let backedOff = await eventually { (try? await agent.status().get().target?.reconnects ?? 0) ?? 0 >= 2 }
        XCTAssertTrue(backedOff)
        let (report, seconds) = await timed { await agent.stop(removingSAs: true) }
        XCTAssertLessThan(seconds, 1.0, "stop while backing off")
        XCTAssertEqual(report.removedStatusSocket, directory + "/t1.sock")
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/t1.sock"))
        let phase = try await agent.loop.submit { agent.machine.phase }.get()
        XCTAssertEqual(phase, .stopped)
        try await Task.sleep(nanoseconds: 500_000_000)
        let channel = try await agent.loop.submit { agent.channel ?? agent.pendingChannel }.get()
        XCTAssertNil(channel, "no connection attempt after the stop")
    }

    func testStopDuringATLSHandshakeThatNeverEndsIsPrompt() async throws {
        // Accepts TCP, never answers the ClientHello.
        let silent = try await ServerBootstrap(group: harness.group)
            .childChannelInitializer { channel in channel.eventLoop.makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { silent.close(promise: nil) }
        let agent = try agent(port: silent.localAddress!.port!, kernel: RecordingKernel())
        try await agent.start()
        let handshaking = try await eventually {
            if case .handshaking = try await agent.loop.submit({ agent.machine.phase }).get() { return true }
            return false
        }
        XCTAssertTrue(handshaking)
        let (_, seconds) = await timed { await agent.stop(removingSAs: true) }
        XCTAssertLessThan(seconds, 1.0, "stop during the handshake")
    }

    func testAHandshakeThatNeverEndsIsAbandonedAndRetried() async throws {
        let silent = try await ServerBootstrap(group: harness.group)
            .childChannelInitializer { channel in channel.eventLoop.makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { silent.close(promise: nil) }
        let agent = try agent(port: silent.localAddress!.port!, kernel: RecordingKernel(), handshakeTimeout: .milliseconds(300))
        try await agent.start()
        let retried = await eventually(5) { (try? await agent.status().get().target?.reconnects ?? 0) ?? 0 >= 2 }
        XCTAssertTrue(retried, "a listener that never speaks TLS does not hold the agent forever")
        await agent.stop(removingSAs: true)
    }

    func testStopWhenJoinedRemovesEverySAAndTheSocket() async throws {
        try await harness.startService()
        let kernel = RecordingKernel()
        let agent = try agent(port: harness.port, kernel: kernel)
        try await agent.start()
        try await agent.welcomed.get()
        try await harness.service.install([testSA(1, spi: 0x6001), testSA(2, spi: 0x6002)])
        XCTAssertEqual(kernel.spis, [0x6001, 0x6002])
        let (report, seconds) = await timed { await agent.stop(removingSAs: true) }
        XCTAssertLessThan(seconds, 1.5)
        XCTAssertEqual(report.removedSAs, 2)
        XCTAssertTrue(kernel.spis.isEmpty)
        XCTAssertFalse(report.hurried, "a live routing node answers the close")
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/t1.sock"))
    }

    func testStopDuringASlowInstallWaitsForTheKernelThenRemoves() async throws {
        try await harness.startService(installTimeout: .seconds(5))
        let kernel = RecordingKernel()
        let agent = try agent(port: harness.port, kernel: kernel)
        try await agent.start()
        try await agent.welcomed.get()
        kernel.installDelay = 0.6
        let service = harness.service!
        let install = Task { try? await service.install([testSA(3, spi: 0x6003)]) }
        let installing = try await eventually { try await agent.heldSAs().get().count == 1 }
        XCTAssertTrue(installing)
        let (_, seconds) = await timed { await agent.stop(removingSAs: true) }
        XCTAssertLessThan(seconds, 2.0, "the install (0.6 s) finished, then the removal")
        XCTAssertTrue(kernel.spis.isEmpty, "the SA installed during the stop is removed too")
        _ = await install.value
    }

    func testStopInTheGraceAfterLosingTheRoutingNodeRemovesTheHeldSAs() async throws {
        try await harness.startService()
        let kernel = RecordingKernel()
        let agent = try agent(port: harness.port, kernel: kernel)
        try await agent.start()
        try await agent.welcomed.get()
        try await harness.service.install([testSA(4, spi: 0x6004)])
        await harness.service.stop(removingSAs: false)   // lost, as after a crash
        let lost = await eventually { (try? await agent.status().get().target?.connected) == false }
        XCTAssertTrue(lost)
        XCTAssertEqual(kernel.spis, [0x6004], "held for the grace")
        let (report, seconds) = await timed { await agent.stop(removingSAs: true) }
        XCTAssertLessThan(seconds, 1.0)
        XCTAssertEqual(report.removedSAs, 1)
        XCTAssertTrue(kernel.spis.isEmpty)
    }

    func testConcurrentStopsWaitForTheFirstAndHurryIsHarmless() async throws {
        let agent = try agent(port: try await closedPort(), kernel: RecordingKernel())
        try await agent.start()
        agent.hurry()   // before any stop: nothing happens
        async let first = agent.stop(removingSAs: true)
        async let second = agent.stop(removingSAs: true)
        agent.hurry()
        let (a, b) = await (first, second)
        XCTAssertEqual(a.removedStatusSocket, b.removedStatusSocket)
        agent.hurry()
    }

    func testAStopBeforeStartAndAFailedStartLeaveNothing() async throws {
        let agent = try agent(port: try await closedPort(), kernel: RecordingKernel())
        let report = await agent.stop(removingSAs: true)
        XCTAssertNil(report.removedStatusSocket)
        // A start after a stop does not connect.
        try? await agent.start()
        let channel = try await agent.loop.submit { agent.channel ?? agent.pendingChannel }.get()
        XCTAssertNil(channel)
    }
}
