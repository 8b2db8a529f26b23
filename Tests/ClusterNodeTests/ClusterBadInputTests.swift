import Cluster
import Foundation
import NIOCore
import NIOPosix
import XCTest
@testable import ClusterNode

/// Hostile or broken input on the cluster channel, and failures of members: dropped,
/// counted, and nothing else disturbed.
final class ClusterBadInputTests: ClusterHarnessTestCase {
    func welcomed(_ client: RawClusterClient) async -> Bool {
        await eventually(3) { client.messages.contains { if case .welcome = $0 { return true } else { return false } } }
    }

    func testMalformedBodiesAreDroppedAndCountedWhileTheConnectionAndOthersKeepWorking() async throws {
        try await harness.startService()
        let kernel = RecordingKernel()
        try await harness.startAgent("t1", kernel: kernel).welcomed.get()
        let client = try await RawClusterClient.connect(port: harness.port, credentials: try harness.pki.credentials("t2"),
                                                        group: harness.group)
        try await client.send(try RawClusterClient.hello("t2"))
        let isWelcome = await welcomed(client)
        XCTAssertTrue(isWelcome)

        // A heartbeat body cut short, garbage in an InstallSA, an unknown type, trailing bytes.
        try await client.sendRaw(RawClusterClient.frame(type: ClusterMessageType.heartbeat.rawValue, body: [1, 2, 3]))
        try await client.sendRaw(RawClusterClient.frame(type: ClusterMessageType.installSA.rawValue, body: [UInt8](repeating: 0xff, count: 40)))
        try await client.sendRaw(RawClusterClient.frame(type: 200, body: [0, 1]))
        try await client.sendRaw(RawClusterClient.frame(type: ClusterMessageType.resyncRequest.rawValue, body: [UInt8](repeating: 0, count: 12)))
        // Messages about SAs nobody knows.
        try await client.send(.ack(.init(saID: ClusterSAID(999), operation: .installSA)))
        try await client.send(.lifesizeReport(.init(saID: ClusterSAID(998), bytes: 1, packets: 1)))
        // A message an agent must never send.
        try await client.send(.installSA(.init(sa: testSA(5, spi: 0x5005))))

        let counted = await eventually {
            guard let drops = try? await self.harness.routingStatus().drops else { return false }
            return drops.frames["truncated"] == 1 && drops.frames["invalid-value"] == 1 && drops.frames["unknown-type"] == 1
                && drops.frames["trailing-bytes"] == 1 && drops.unknownSA == 2 && drops.unexpected == 1
        }
        let drops = try await harness.routingStatus().drops
        XCTAssertTrue(counted, "drops: \(drops)")
        XCTAssertEqual(drops.connectionsClosedForFraming, 0)
        XCTAssertTrue(client.channel.isActive, "malformed bodies do not cost the connection")

        // Both members still work: an install reaches t1's kernel and t2 acknowledges by hand.
        let install = Task { try await self.harness.service.install([testSA(1, spi: 0x5001)]) }
        let offered = await eventually { client.messages.contains { if case .installSA = $0 { return true } else { return false } } }
        XCTAssertTrue(offered)
        try await client.send(.ack(.init(saID: ClusterSAID(1), operation: .installSA)))
        try await install.value
        XCTAssertEqual(kernel.spis, [0x5001])
        let observed1 = try await harness.routingStatus().sas.first?.holders
        XCTAssertEqual(observed1, ["t1", "t2"])
    }

    func testLostFramingClosesOnlyThatConnection() async throws {
        try await harness.startService()
        let kernel = RecordingKernel()
        try await harness.startAgent("t1", kernel: kernel).welcomed.get()
        for (name, bytes) in [
            ("unsupported-version", RawClusterClient.frame(version: 9, type: 3, body: [UInt8](repeating: 0, count: 16))),
            ("bad-magic", [0x47, 0x45, 0x54, 0x20, 0x2f, 0x20, 0x48, 0x54, 0x54, 0x50]),
            ("frame-too-large", RawClusterClient.frame(type: 3, body: [], claimedLength: 10_000_000)),
        ] {
            let client = try await RawClusterClient.connect(port: harness.port, credentials: try harness.pki.credentials("t2"),
                                                            group: harness.group)
            try await client.send(try RawClusterClient.hello("t2"))
            let isWelcome = await welcomed(client)
            XCTAssertTrue(isWelcome)
            try await client.sendRaw(bytes)
            let closed = await eventually(3) { !client.channel.isActive }
            XCTAssertTrue(closed, "\(name): the connection is closed once framing is lost")
            let observed2 = try await harness.routingStatus().drops.frames[name]
            XCTAssertEqual(observed2, 1, name)
        }
        let observed3 = try await harness.routingStatus().drops.connectionsClosedForFraming
        XCTAssertEqual(observed3, 3)
        let observed4 = try await harness.routingStatus().members.map(\.node)
        XCTAssertEqual(observed4, ["t1"])
        try await harness.service.install([testSA(1, spi: 0x6001)])
        XCTAssertEqual(kernel.spis, [0x6001], "t1 was not disturbed")
    }

    func testTruncatedFrameAtCloseIsCounted() async throws {
        try await harness.startService()
        let client = try await RawClusterClient.connect(port: harness.port, credentials: try harness.pki.credentials("t2"),
                                                        group: harness.group)
        try await client.send(try RawClusterClient.hello("t2"))
        _ = await welcomed(client)
        try await client.sendRaw(Array(RawClusterClient.frame(type: 3, body: [UInt8](repeating: 0, count: 16)).prefix(12)))
        try await client.channel.close()
        let counted = await eventually { (try? await self.harness.routingStatus().drops.frames["truncated-at-close"]) == 1 }
        XCTAssertTrue(counted)
    }

    func testMessagesBeforeHelloAreDropped() async throws {
        try await harness.startService()
        let client = try await RawClusterClient.connect(port: harness.port, credentials: try harness.pki.credentials("t2"),
                                                        group: harness.group)
        try await client.send(.heartbeat(.init(epoch: .none, counter: 1)))
        let counted = await eventually { (try? await self.harness.routingStatus().drops.frames["before-hello"]) == 1 }
        XCTAssertTrue(counted)
        let observed5 = try await harness.routingStatus().members.isEmpty
        XCTAssertTrue(observed5)
    }

    // MARK: Failures of members

    func testSilentMemberIsDroppedWithinTheFailureTimeout() async throws {
        try await harness.startService(failureTimeout: .milliseconds(600))
        let client = try await RawClusterClient.connect(port: harness.port, credentials: try harness.pki.credentials("t2"),
                                                        group: harness.group)
        try await client.send(try RawClusterClient.hello("t2"))
        _ = await welcomed(client)
        let observed6 = try await harness.routingStatus().members.map(\.node)
        XCTAssertEqual(observed6, ["t2"])
        let start = Date()
        let dropped = await eventually(3) { !client.channel.isActive }
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertTrue(dropped, "a member that says nothing is dropped")
        XCTAssertLessThan(elapsed, 2.0, "dropped within the failure timeout (plus a tick), took \(elapsed) s")
        let observed7 = try await harness.routingStatus().members.isEmpty
        XCTAssertTrue(observed7)
    }

    func testAgentThatNeverAcknowledgesIsDroppedAtTheInstallTimeoutAndTheInstallStillSucceeds() async throws {
        try await harness.startService(installTimeout: .milliseconds(500))
        let kernel = RecordingKernel()
        try await harness.startAgent("t1", kernel: kernel).welcomed.get()
        let client = try await RawClusterClient.connect(port: harness.port, credentials: try harness.pki.credentials("t2"),
                                                        group: harness.group)
        try await client.send(try RawClusterClient.hello("t2"))
        _ = await welcomed(client)
        let start = Date()
        try await harness.service.install([testSA(1, spi: 0x7001)])
        XCTAssertLessThan(Date().timeIntervalSince(start), 2.0, "bounded by the install timeout")
        let status = try await harness.routingStatus()
        XCTAssertEqual(status.sas.first?.holders, ["t1"])
        XCTAssertEqual(status.members.map(\.node), ["t1"], "the laggard was dropped")
        XCTAssertTrue(status.events.contains { $0.contains("dropped t2") }, "\(status.events)")
    }

    func testRoutingNodeRestartGivesANewEpochAndTheAgentDropsOldSAsThenResyncs() async throws {
        try await harness.startService()
        let kernel = RecordingKernel()
        let agent = try await harness.startAgent("t1", kernel: kernel)
        try await agent.welcomed.get()
        try await harness.service.install([testSA(1, spi: 0x8001)])
        let oldEpoch = harness.service.epoch
        let port = harness.port
        await harness.service.stop(removingSAs: false)

        try await harness.startService(port: port)
        XCTAssertNotEqual(harness.service.epoch, oldEpoch)
        let rejoined = await eventually(5) { (try? await self.harness.routingStatus().members.map(\.node)) == ["t1"] }
        XCTAssertTrue(rejoined, "the agent reconnected with backoff")
        let dropped = await eventually { kernel.spis.isEmpty }
        XCTAssertTrue(dropped, "SAs of the old epoch do not survive the routing node's restart")
        try await harness.service.install([testSA(1, spi: 0x8002)])
        XCTAssertEqual(kernel.spis, [0x8002])
    }

    func testAgentLosingTheClusterLongerThanTheGraceDropsItsSAs() async throws {
        try await harness.startService()
        let kernel = RecordingKernel()
        try await harness.startAgent("t1", kernel: kernel, grace: .milliseconds(500)).welcomed.get()
        try await harness.service.install([testSA(1, spi: 0x9001)])
        await harness.service.stop(removingSAs: false)
        let kept = await eventually(0.2) { kernel.spis.isEmpty }
        XCTAssertFalse(kept, "the SA stays during the grace")
        let dropped = await eventually(3) { kernel.spis.isEmpty }
        XCTAssertTrue(dropped, "and goes after it")
    }

    func testRoutingNodeShuttingDownTakesItsSAsOffTheTargetsAtOnce() async throws {
        try await harness.startService()
        let kernels = [RecordingKernel(), RecordingKernel()]
        for (i, kernel) in kernels.enumerated() {
            try await harness.startAgent("t\(i + 1)", kernel: kernel, grace: .seconds(30)).welcomed.get()
        }
        try await harness.service.install([testSA(1, spi: 0x9101), testSA(2, spi: 0x9102, direction: .outbound, owner: "t2")])
        XCTAssertEqual(kernels.map(\.spis), [[0x9101], [0x9101, 0x9102]])
        await harness.service.stop(removingSAs: true)
        let removed = await eventually(3) { kernels.allSatisfy { $0.spis.isEmpty } }
        XCTAssertTrue(removed, "every target deleted every SA long before its 30 s grace: \(kernels.map(\.spis))")
    }

    func testLifesizeReportsReachTheTotals() async throws {
        try await harness.startService()
        let kernel = RecordingKernel()
        kernel.bytesPerRead = 30_000
        try await harness.startAgent("t1", kernel: kernel).welcomed.get()
        try await harness.service.install([testSA(1, spi: 0xa001)])
        let reported = await eventually(5) {
            ((try? await self.harness.routingStatus().sas.first?.lifesize?.reportedBytes) ?? 0) ?? 0 >= 100_000
        }
        XCTAssertTrue(reported, "the agent's counter reads crossed the 5 % step and were reported")
        let observed8 = try await harness.routingStatus().sas.first?.lifesize
        let life = try XCTUnwrap(observed8)
        XCTAssertEqual(life.byteLimit, 1_000_000)
        XCTAssertEqual(life.reporters, 1)
    }
}
