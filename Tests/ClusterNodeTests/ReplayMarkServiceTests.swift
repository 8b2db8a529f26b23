import Cluster
import NIOConcurrencyHelpers
import NIOCore
import XCTest
@testable import ClusterNode

/// Inbound replay marks through the real ClusterService and agent over TLS (inbound claim 22,
/// issue 19 item 2): a target's kernel evidence (ReplayReport) asks for a mark once per block,
/// rounded down; a deleted SA's mark is forgotten; a new active's adopt starts the SA's
/// high-water and the distributor's window at the recorded mark.
final class ReplayMarkServiceTests: ClusterHarnessTestCase {
    private func routingNode(_ recorder: (@Sendable (ReplayMarkChange) -> Void)?) async throws -> ClusterService {
        let authority = SAAuthority.Configuration(
            membership: MembershipConfiguration(heartbeatInterval: .milliseconds(100), failureTimeout: .seconds(3)),
            installTimeout: .seconds(2), outboundMode: .perTarget)
        let service = try ClusterService(configuration: .init(nodeID: try NodeID("router"), listenHost: "127.0.0.1",
                                                              listenPort: 0, authority: authority),
                                         credentials: try harness.pki.credentials("router"), group: harness.group)
        service.replayMarkRecorder = recorder
        return service
    }

    private func inboundHighWater(_ service: ClusterService) async throws -> UInt64? {
        try await service.status().get().routing?.sas.first { $0.saID == 1 }?.inboundHighWater
    }

    func testEvidenceAsksForAMarkPerBlockAndAGoneSAsMarkIsForgotten() async throws {
        let changes = NIOLockedValueBox<[ReplayMarkChange]>([])
        let service = try await routingNode { change in changes.withLockedValue { $0.append(change) } }
        harness.service = service
        harness.port = try await service.start()
        let agent = try await harness.startAgent("t1", kernel: RecordingKernel())
        let joined = await eventually(10) { (try? await harness.routingStatus().members.map(\.node)) == ["t1"] }
        XCTAssertTrue(joined)
        try await service.install([testSA(1, spi: 0x7001)])

        // The kernel's NEWAE events as the agent passes them on (tops from several events,
        // one going back: reports may cross).
        for top: UInt64 in [100, 4095, 4096, 5000, 3000, 8191, 9000] {
            try await agent.loop.submit { agent.replayObserved(destination: .v4(192, 0, 2, 100), spi: 0x7001, top: top, bitmap: [1]) }.get()
        }
        let reached = await eventually(5) { (try? await self.inboundHighWater(service)) == 9000 }
        XCTAssertTrue(reached, "the authority's high-water follows the evidence")
        XCTAssertEqual(changes.withLockedValue { $0 }, [.record(ClusterSAID(1), mark: 4096), .record(ClusterSAID(1), mark: 8192)],
                       "one mark per block crossed, rounded down, none for evidence that went back")

        // The deletion itself forgets the mark (no periodic sweep): by the time it returns.
        await service.delete(ClusterSAID(1))
        XCTAssertEqual(changes.withLockedValue { $0.last }, .forget(ClusterSAID(1)), "the deleted SA's mark is forgotten with its deletion")
        await service.delete(ClusterSAID(1))
        XCTAssertEqual(changes.withLockedValue { $0.filter { $0 == .forget(ClusterSAID(1)) }.count }, 1, "once")
    }

    func testATakeoverStartsTheHighWaterAndTheDistributorsWindowAtTheRecordedMark() async throws {
        let changes = NIOLockedValueBox<[ReplayMarkChange]>([])
        let service = try await routingNode { change in changes.withLockedValue { $0.append(change) } }
        harness.service = service
        harness.port = try await service.start()
        let evidence = NIOLockedValueBox<[AuthenticatedReplay]>([])
        service.setInbound(observer: { _ in }, replay: { replay in evidence.withLockedValue { $0.append(replay) } }, status: { nil })

        var inbound = testSA(1, spi: 0x7001), outbound = testSA(2, spi: 0x7002, direction: .outbound, owner: "t1")
        inbound.epoch = ClusterEpoch(rawValue: 77)
        outbound.epoch = inbound.epoch
        try await service.adopt(epoch: inbound.epoch, sas: [inbound, outbound],
                                replayMarks: [ClusterSAID(1): 8192, ClusterSAID(2): 4096, ClusterSAID(5): 4096])
        let floors = evidence.withLockedValue { $0 }
        XCTAssertEqual(floors, [AuthenticatedReplay(saID: ClusterSAID(1), destination: inbound.destination, spi: 0x7001,
                                                    top: 8192, bitmap: [UInt64](repeating: .max, count: 64))],
                       "the inbound SA's window starts at its mark; no floor for outbound or unknown SAs")
        let highWater = try await inboundHighWater(service)
        XCTAssertEqual(highWater, 8192)

        // An agent of the epoch rejoins; its kernel's evidence asks for nothing until it
        // passes the restored mark's block.
        let agent = try await harness.startAgent("t1", kernel: RecordingKernel())
        let resynced = await eventually(10) {
            (try? await harness.routingStatus().sas.first { $0.saID == 1 }?.holders) == ["t1"]
        }
        XCTAssertTrue(resynced)
        for top: UInt64 in [8200, 12_287, 12_288] {
            try await agent.loop.submit { agent.replayObserved(destination: inbound.destination, spi: 0x7001, top: top, bitmap: [1]) }.get()
        }
        let moved = await eventually(5) { (try? await self.inboundHighWater(service)) == 12_288 }
        XCTAssertTrue(moved)
        XCTAssertEqual(changes.withLockedValue { $0.filter { if case .record = $0 { return true }; return false } },
                       [.record(ClusterSAID(1), mark: 12_288)], "8192 is in etcd already")
    }
}
