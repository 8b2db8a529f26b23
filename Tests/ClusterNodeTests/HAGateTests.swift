import Cluster
import Foundation
import IKECrypto
import IKEv2
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import XCTest
import VipsecTestSupport
@testable import ClusterNode
@testable import IKEDaemon

/// HA phase 1: what a standby does not do. Its IKE daemon answers nothing while the serving
/// gate says no (and answers once it says yes); its cluster service refuses agents; an agent
/// given several routing nodes finds the one that accepts it.
final class HAGateTests: ClusterHarnessTestCase {
    /// A switch the gates read (any thread).
    final class Gate: Sendable {
        let open = NIOLockedValueBox(false)
        var isOpen: Bool { open.withLockedValue { $0 } }
    }

    func testAClosedServingGateAnswersNoIKEAndAnOpenOneDoes() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { group.shutdownGracefully(queue: .global()) { _ in } }   // not the blocking sync form: an async test
        let loop = group.next()
        let config = try DaemonConfig(parsing: LabGatewayConfig.text(remoteAddrs: "%any"), file: "t.conf")
        let core = try DaemonCore(config: config, installer: ConfinedChildSAInstaller(NullChildSAInstaller()),
                                  logger: Logger(label: "test"), loop: loop)
        let sent = NIOLockedValueBox<[[UInt8]]>([])
        core.transmit = { bytes, _, _ in sent.withLockedValue { $0.append(bytes) } }
        let gate = Gate()
        core.servingGate = { gate.isOpen }

        let provider = OpenSSLCryptoProvider()
        func initSA() throws -> [UInt8] {
            let configuration = try LabPeerConfiguration.make()
            var sa = try IKESA.initiator(configuration: configuration, provider: provider,
                                         local: IKEEndpoint(address: [192, 0, 2, 1], port: 500),
                                         remote: IKEEndpoint(address: [192, 0, 2, 100], port: 500))
            for case .send(let bytes) in sa.start(now: 0) { return bytes }
            throw XFRMTestError.refused
        }
        let remote = try SocketAddress(ipAddress: "192.0.2.1", port: 500)

        let first = try initSA()
        try await loop.submit { core.received(ByteBuffer(bytes: first), localAddress: "192.0.2.100", localPort: 500, remote: remote) }.get()
        XCTAssertTrue(sent.withLockedValue { $0.isEmpty }, "a standby must not answer IKE_SA_INIT")
        let drops = try await loop.submit { core.standbyDrops }.get()
        XCTAssertEqual(drops, 1)
        let sas = try await loop.submit { core.gateway.sas.count }.get()
        XCTAssertEqual(sas, 0, "nothing was even parsed")

        gate.open.withLockedValue { $0 = true }
        let second = try initSA()
        try await loop.submit { core.received(ByteBuffer(bytes: second), localAddress: "192.0.2.100", localPort: 500, remote: remote) }.get()
        XCTAssertEqual(sent.withLockedValue { $0.count }, 1, "the active answers")

        // Closed again (step-down): whatever the daemon would send now is suppressed.
        gate.open.withLockedValue { $0 = false }
        try await loop.submit { core.send([1, 2, 3], local: IKEEndpoint(address: [192, 0, 2, 100], port: 500),
                                          remote: IKEEndpoint(address: [192, 0, 2, 1], port: 500)) }.get()
        XCTAssertEqual(sent.withLockedValue { $0.count }, 1)
    }

    func startGatedService(_ gate: Gate) async throws {
        let authority = SAAuthority.Configuration(
            membership: MembershipConfiguration(heartbeatInterval: .milliseconds(100), failureTimeout: .seconds(3)),
            installTimeout: .seconds(2), outboundMode: .perTarget)
        harness.service = try ClusterService(configuration: .init(nodeID: try NodeID("router"), listenHost: "127.0.0.1",
                                                                  listenPort: 0, authority: authority),
                                             credentials: try harness.pki.credentials("router"), group: harness.group)
        harness.service.admission = { gate.isOpen }
        harness.port = try await harness.service.start()
    }

    func testAStandbyRefusesAgentsUntilItIsActive() async throws {
        let gate = Gate()
        try await startGatedService(gate)
        let agent = try await harness.startAgent("t1", kernel: RecordingKernel())
        let refused = await eventually(5) { (try? await harness.routingStatus().drops.frames["standby"] ?? 0) ?? 0 >= 1 }
        XCTAssertTrue(refused, "the standby closes the agent's connection and counts it")
        let members = try await harness.routingStatus().members
        XCTAssertEqual(members.count, 0)
        gate.open.withLockedValue { $0 = true }
        let joined = await eventually(10) { (try? await harness.routingStatus().members.map(\.node)) == ["t1"] }
        XCTAssertTrue(joined, "once active, the agent's next try is accepted")
        _ = agent
    }

    func testAnAgentWithSeveralRoutingNodesFindsTheOneThatAccepts() async throws {
        try await harness.startService()
        let dead = try Self.unusedPort()
        var configuration = ClusterAgent.Configuration(
            nodeID: try NodeID("t1"), routingHost: "127.0.0.1", routingPort: dead, clusterAddress: .v4(127, 0, 0, 1),
            minimumBackoff: .milliseconds(50), maximumBackoff: .milliseconds(400), counterInterval: .milliseconds(50),
            watchExpireEvents: false)
        configuration.otherRoutingNodes = [RoutingEndpoint(host: "127.0.0.1", port: harness.port)]
        let agent = try ClusterAgent(configuration: configuration, credentials: try harness.pki.credentials("t1"),
                                     kernel: RecordingKernel(), group: harness.group)
        try await agent.start()
        harness.agents.append(agent)
        let joined = await eventually(10) { (try? await harness.routingStatus().members.map(\.node)) == ["t1"] }
        XCTAssertTrue(joined, "the agent moves on from the dead address to the live one")
    }

    /// No split brain (issue 19 item 4), over real TLS: routing node A admits the agent under
    /// term 9 and installs an SA. A is deposed; B, which only knows an older term (5), admits
    /// agents: the agent's Hello shows term 9, B refuses it (`newer-term`), the agent never
    /// joins term 5, and its SA stays in its kernel and its cache, its term stays 9. B then
    /// wins term 12 and continues A's epoch: the agent follows term 12 and keeps the SA (the
    /// resync's identical InstallSA touches no kernel).
    func testAnAgentRefusesAnOlderTermAndFollowsANewerOne() async throws {
        let gateA = Gate(), gateB = Gate()
        let termA = NIOLockedValueBox(ClusterTerm(9)), termB = NIOLockedValueBox(ClusterTerm(5))
        gateA.open.withLockedValue { $0 = true }
        let (a, portA) = try await gatedRoutingNode(gateA) { termA.withLockedValue { $0 } }
        harness.service = a   // stopped by the harness
        let (b, portB) = try await gatedRoutingNode(gateB) { termB.withLockedValue { $0 } }
        let (agent, kernel) = try await startAgent(primary: portA, other: portB)
        func target() async throws -> TargetStatus { try await targetStatus(agent) }

        let joinedA = await eventually(10) { (try? await a.status().get().routing?.members.map(\.node)) == ["t1"] }
        XCTAssertTrue(joinedA)
        try await a.install([testSA(1, spi: 0x7001)])
        XCTAssertEqual(kernel.spis, [0x7001])
        let followsNine = try await target().term
        XCTAssertEqual(followsNine, 9, "status shows the term the agent follows")

        // A is deposed; B admits agents but only knows term 5.
        let sasOfA = await a.descriptions(spis: [0x7001])
        XCTAssertEqual(sasOfA.count, 1)
        try await b.adopt(epoch: a.epoch, sas: sasOfA)
        gateA.open.withLockedValue { $0 = false }
        gateB.open.withLockedValue { $0 = true }
        a.closeAgentConnections()
        // The agent's Hellos carry its term 9: B, of term 5, learns it was deposed and refuses
        // them before any Welcome (the agent's own refusal of a stale Welcome, for a routing
        // node that does not read agents' terms, is AgentStaleTermTests').
        let refused = await eventually(10) { b.drops.snapshot["newer-term", default: 0] >= 2 }
        XCTAssertTrue(refused, "the agent's Hellos of term 9 are refused by B and counted")
        var status = try await target()
        XCTAssertFalse(status.connected, "never joined to the deposed term")
        XCTAssertEqual(status.term, 9)
        XCTAssertEqual(status.sas.count, 1, "the cache keeps the SA")
        XCTAssertEqual(kernel.spis, [0x7001], "the kernel keeps the SA")
        XCTAssertEqual(kernel.installCount, 1)

        // B wins a newer term: the agent follows it into the same epoch, SA kept.
        termB.withLockedValue { $0 = ClusterTerm(12) }
        let followsTwelve = await eventually(10) { (try? await target()).map { $0.connected && $0.term == 12 } ?? false }
        XCTAssertTrue(followsTwelve, "a newer term (a takeover) is accepted")
        let resynced = await eventually(5) { (try? await b.status().get().routing?.sas.first?.holders) == ["t1"] }
        XCTAssertTrue(resynced, "B's resync reached the agent, which holds the SA")
        status = try await target()
        XCTAssertEqual(status.sas.count, 1)
        XCTAssertEqual(kernel.spis, [0x7001])
        XCTAssertEqual(kernel.installCount, 1, "identical InstallSA in the same epoch: the kernel is not touched")
        await b.stop(removingSAs: false)
    }

    /// Issue 19 item 4, the other direction, over real TLS: agents echo the highest leader term
    /// they follow in every frame (the Hello first). Routing node A admits the agent under
    /// term 9; B wins term 12 and continues A's epoch; the agent follows 12. A never heard (its
    /// gate still open: a node that has not noticed yet). When the agent comes back to A, its
    /// Hello shows 12: A refuses it (`newer-term`, connection closed, never welcomed) and
    /// reports the deposition once, however often the agent retries.
    func testARoutingNodeShownANewerTermByAnAgentIsDeposedOnce() async throws {
        let deposed = NIOLockedValueBox<[ClusterTerm]>([])
        let gateA = Gate(), gateB = Gate()
        gateA.open.withLockedValue { $0 = true }
        let (a, portA) = try await gatedRoutingNode(gateA, deposed: { newer in deposed.withLockedValue { $0.append(newer) } }) {
            ClusterTerm(9)
        }
        harness.service = a
        let (b, portB) = try await gatedRoutingNode(gateB) { ClusterTerm(12) }
        let (agent, kernel) = try await startAgent(primary: portA, other: portB)
        func target() async throws -> TargetStatus { try await targetStatus(agent) }

        let joinedA = await eventually(10) { (try? await target()).map { $0.connected && $0.term == 9 } ?? false }
        XCTAssertTrue(joinedA)
        try await a.install([testSA(1, spi: 0x7001)])
        XCTAssertEqual(a.drops.snapshot["newer-term", default: 0], 0, "the agent's own term 9 is A's: accepted")

        // B takes over in A's epoch; the agent loses A and finds B.
        let sasOfA = await a.descriptions(spis: [0x7001])
        try await b.adopt(epoch: a.epoch, sas: sasOfA)
        gateB.open.withLockedValue { $0 = true }
        gateA.open.withLockedValue { $0 = false }
        a.closeAgentConnections()
        let followsB = await eventually(10) { (try? await target()).map { $0.connected && $0.term == 12 } ?? false }
        XCTAssertTrue(followsB, "the agent follows B's newer term")
        XCTAssertEqual(b.drops.snapshot["newer-term", default: 0], 0, "B's own term: accepted")

        // A, not knowing, admits again; B goes away: the agent comes back to A with term 12.
        gateA.open.withLockedValue { $0 = true }
        gateB.open.withLockedValue { $0 = false }
        b.closeAgentConnections()
        let refusedTwice = await eventually(10) { a.drops.snapshot["newer-term", default: 0] >= 3 }
        XCTAssertTrue(refusedTwice, "every Hello of term 12 is refused and counted")
        XCTAssertEqual(deposed.withLockedValue { $0 }, [ClusterTerm(12)], "reported once, with the newer term")
        let status = try await target()
        XCTAssertFalse(status.connected, "A never welcomed it")
        XCTAssertEqual(status.term, 12)
        XCTAssertEqual(kernel.spis, [0x7001], "the agent keeps its SA")
        let events = try await a.status().get().routing?.events ?? []
        XCTAssertEqual(events.filter { $0.contains("deposed: t1 follows term 12") }.count, 1, "\(events)")
        await b.stop(removingSAs: false)
    }

    // MARK: Two routing nodes and one agent (the term tests)

    /// A routing node that admits agents while `gate` is open and stamps `term()` on its
    /// frames (and reports a newer term an agent shows to `deposed`); quick heartbeats, a 3 s
    /// failure timeout, per-target outbound SAs.
    func gatedRoutingNode(_ gate: Gate, deposed: (@Sendable (ClusterTerm) -> Void)? = nil,
                          term: @escaping @Sendable () -> ClusterTerm) async throws -> (ClusterService, Int) {
        let authority = SAAuthority.Configuration(
            membership: MembershipConfiguration(heartbeatInterval: .milliseconds(100), failureTimeout: .seconds(3)),
            installTimeout: .seconds(2), outboundMode: .perTarget)
        let service = try ClusterService(configuration: .init(nodeID: try NodeID("router"), listenHost: "127.0.0.1",
                                                              listenPort: 0, authority: authority),
                                         credentials: try harness.pki.credentials("router"), group: harness.group)
        service.admission = { gate.isOpen }
        service.term = term
        service.deposed = deposed
        return (service, try await service.start())
    }

    /// Agent t1, started toward the routing node on `primary` and knowing the one on `other`,
    /// with a recording kernel; the harness stops it.
    func startAgent(primary: Int, other: Int) async throws -> (ClusterAgent, RecordingKernel) {
        var configuration = ClusterAgent.Configuration(
            nodeID: try NodeID("t1"), routingHost: "127.0.0.1", routingPort: primary, clusterAddress: .v4(127, 0, 0, 1),
            minimumBackoff: .milliseconds(50), maximumBackoff: .milliseconds(200), counterInterval: .milliseconds(50),
            watchExpireEvents: false)
        configuration.otherRoutingNodes = [RoutingEndpoint(host: "127.0.0.1", port: other)]
        let kernel = RecordingKernel()
        let agent = try ClusterAgent(configuration: configuration, credentials: try harness.pki.credentials("t1"),
                                     kernel: kernel, group: harness.group)
        try await agent.start()
        harness.agents.append(agent)
        return (agent, kernel)
    }

    func targetStatus(_ agent: ClusterAgent) async throws -> TargetStatus {
        let status = try await agent.status().get()
        return try XCTUnwrap(status.target)
    }

    static func unusedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                bind(fd, pointer, length) == 0 ? getsockname(fd, pointer, &length) : -1
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
