import Cluster
import NIOCore
import NIOPosix
import XCTest
@testable import ClusterNode

/// A routing node (`ClusterService`) and agents (`ClusterAgent`, in-memory kernel) on
/// 127.0.0.1 over real TLS 1.3, with credentials from `scripts/cluster-ca`.
final class ClusterHarness {
    var group: MultiThreadedEventLoopGroup!
    var pki: TestPKI!
    var service: ClusterService!
    var port = 0
    var agents: [ClusterAgent] = []

    func setUp() async throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        pki = try TestPKI()
    }

    func tearDown() async throws {
        for agent in agents { await agent.stop(removingSAs: false) }
        agents = []
        await service?.stop(removingSAs: false)
        try await group.shutdownGracefully()
    }

    func startService(failureTimeout: Duration = .seconds(3), installTimeout: Duration = .seconds(2),
                      port: Int = 0, greSource: IPAddress? = nil) async throws {
        let authority = SAAuthority.Configuration(
            membership: MembershipConfiguration(heartbeatInterval: .milliseconds(100), failureTimeout: failureTimeout,
                                                greSource: greSource),
            installTimeout: installTimeout, outboundMode: .perTarget)
        service = try ClusterService(configuration: .init(nodeID: try NodeID("router"), listenHost: "127.0.0.1",
                                                          listenPort: port, authority: authority),
                                     credentials: try pki.credentials("router"), group: group)
        self.port = try await service.start()
    }

    @discardableResult
    func startAgent(_ node: String, kernel: RecordingKernel, rogue: Bool = false, grace: Duration = .seconds(30)) async throws -> ClusterAgent {
        let configuration = ClusterAgent.Configuration(
            nodeID: try NodeID(node), routingHost: "127.0.0.1", routingPort: port, clusterAddress: .v4(127, 0, 0, 1),
            grace: grace, minimumBackoff: .milliseconds(50), maximumBackoff: .milliseconds(400),
            counterInterval: .milliseconds(50), watchExpireEvents: false)
        let agent = try ClusterAgent(configuration: configuration, credentials: try pki.credentials(node, rogue: rogue),
                                     kernel: kernel, group: group)
        try await agent.start()
        agents.append(agent)
        return agent
    }

    func routingStatus() async throws -> RoutingStatus {
        let status = try await service.status().get()
        guard let routing = status.routing else { throw XFRMTestError.refused }
        return routing
    }
}

/// A test case with a fresh `ClusterHarness` (event loops, credentials) around every test.
class ClusterHarnessTestCase: XCTestCase {
    var harness: ClusterHarness!

    override func setUp() async throws {
        harness = ClusterHarness()
        try await harness.setUp()
    }

    override func tearDown() async throws {
        try await harness.tearDown()
    }
}
