import Cluster
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import XCTest
@testable import ClusterNode

/// The cluster channel: join, install and ack, deletes, late joiners, credentials.
final class ClusterChannelTests: ClusterHarnessTestCase {
    var service: ClusterService { harness.service }
    var pki: TestPKI { harness.pki }
    var port: Int { harness.port }
    var group: MultiThreadedEventLoopGroup { harness.group }

    func startService(failureTimeout: Duration = .seconds(3), installTimeout: Duration = .seconds(2)) async throws {
        try await harness.startService(failureTimeout: failureTimeout, installTimeout: installTimeout)
    }

    @discardableResult
    func startAgent(_ node: String, kernel: RecordingKernel, rogue: Bool = false) async throws -> ClusterAgent {
        try await harness.startAgent(node, kernel: kernel, rogue: rogue)
    }

    func routingStatus() async throws -> RoutingStatus { try await harness.routingStatus() }

    // MARK: Join, install, ack, delete

    func testAgentJoinsAndInstallIsAcknowledged() async throws {
        try await startService()
        let kernel = RecordingKernel()
        let agent = try await startAgent("t1", kernel: kernel)
        try await agent.welcomed.get()
        let members = try await routingStatus().members.map(\.node)
        XCTAssertEqual(members, ["t1"])

        try await service.install([testSA(1, spi: 0x1001)])
        XCTAssertEqual(kernel.spis, [0x1001], "install resolved only after the agent put the SA into its kernel")
        let observed1 = try await routingStatus().sas.first
        let sa = try XCTUnwrap(observed1)
        XCTAssertEqual(sa.spi, "0x00001001")
        XCTAssertEqual(sa.holders, ["t1"])
        XCTAssertEqual(sa.pending, [])

        await service.delete(ClusterSAID(1))
        let gone = await eventually { kernel.spis.isEmpty }
        XCTAssertTrue(gone, "DeleteSA removed the SA from the agent's kernel")
        let remaining = try await routingStatus().sas
        XCTAssertTrue(remaining.isEmpty)
    }

    /// Inbound claims 9, 22 over the real channel: the agent passes its kernel's replay state
    /// of an inbound SA it holds (NEWAE) on as a ReplayReport; the routing node records the
    /// high-water mark and hands the evidence to the inbound distributor's observer. Events
    /// about outbound or unknown SAs go nowhere.
    func testReplayStateOfAHeldInboundSAReachesTheDistributor() async throws {
        try await startService()
        let received = NIOLockedValueBox<[AuthenticatedReplay]>([])
        service.setInbound(observer: { _ in }, replay: { item in received.withLockedValue { $0.append(item) } }, status: { nil })
        let agent = try await startAgent("t1", kernel: RecordingKernel())
        try await agent.welcomed.get()
        let inbound = testSA(1, spi: 0x3001), outbound = testSA(2, spi: 0x3002, direction: .outbound, owner: "t1")
        try await service.install([inbound, outbound])
        try await agent.loop.submit {
            agent.replayObserved(destination: outbound.destination, spi: outbound.spi, top: 40, bitmap: [1])
            agent.replayObserved(destination: inbound.destination, spi: 0x9999, top: 40, bitmap: [1])
            agent.replayObserved(destination: inbound.destination, spi: inbound.spi, top: 300, bitmap: [0b1011])
        }.get()
        let arrived = await eventually { received.withLockedValue { $0 }.count == 1 }
        XCTAssertTrue(arrived)
        XCTAssertEqual(received.withLockedValue { $0 },
                       [AuthenticatedReplay(saID: ClusterSAID(1), destination: inbound.destination, spi: 0x3001,
                                            top: 300, bitmap: [0b1011])])
        let sas = try await routingStatus().sas
        XCTAssertEqual(sas.first { $0.spi == "0x00003001" }?.inboundHighWater, 300)
        XCTAssertNil(sas.first { $0.spi == "0x00003002" }?.inboundHighWater, "outbound SAs have no inbound mark")
    }

    /// Issue 19 item 2 over the real channel: after the resync that follows a Welcome, the
    /// agent reports its kernel's replay top of each inbound SA it holds; the routing node's
    /// high-water mark and the distributor's evidence move to it (a new active's window
    /// closes the gap its rounded-down etcd mark left). SAs the kernel does not hold, and
    /// outbound SAs, are not reported.
    func testAfterEveryWelcomeTheAgentReportsItsKernelsReplayTops() async throws {
        try await startService()
        let received = NIOLockedValueBox<[AuthenticatedReplay]>([])
        service.setInbound(observer: { _ in }, replay: { item in received.withLockedValue { $0.append(item) } }, status: { nil })
        let kernel = RecordingKernel()
        let agent = try await startAgent("t1", kernel: kernel)
        try await agent.welcomed.get()
        let inbound = testSA(1, spi: 0x5101), outbound = testSA(2, spi: 0x5102, direction: .outbound, owner: "t1")
        try await service.install([inbound, outbound])
        kernel.setReplayTop(ClusterSAID(1), 9000)
        kernel.setReplayTop(ClusterSAID(2), 77)
        XCTAssertEqual(received.withLockedValue { $0 }, [], "nothing before the next Welcome")
        // The routing node loses the connection (as at a takeover): the agent comes back.
        service.loop.execute { self.service.connections[try! NodeID("t1")]?.close(promise: nil) }
        let arrived = await eventually(10) { received.withLockedValue { $0 }.contains { $0.top == 9000 } }
        XCTAssertTrue(arrived)
        XCTAssertEqual(received.withLockedValue { $0 }.map(\.saID), [ClusterSAID(1)], "outbound SAs have no replay window to report")
        let sas = try await routingStatus().sas
        XCTAssertEqual(sas.first { $0.spi == "0x00005101" }?.inboundHighWater, 9000)
        let reports = try await agent.status().get().target?.reportsAfterWelcome
        XCTAssertEqual(reports?["rounds"], 2)
        XCTAssertEqual(reports?["replay-states"], 1)
        XCTAssertEqual(reports?["failures"], 0)
        let routingReports = try await routingStatus().reports
        XCTAssertEqual(routingReports?.replayReports, 1)
    }

    /// Inbound claim 10 over the real channel: the agent's conntrack ends of TCP/UDP to the
    /// DVIPA leave in a FlowEndReport from its tick and reach the distributor's observer with
    /// the sender's node id; other ends (another destination, ICMP) never leave the target.
    func testConnectionEndsAtATargetReachTheDistributorWithTheTargetsName() async throws {
        try await startService()
        let received = NIOLockedValueBox<[TargetFlowEnds]>([])
        service.setInbound(observer: { _ in }, flowEnds: { item in received.withLockedValue { $0.append(item) } }, status: { nil })
        let agent = try await startAgent("t1", kernel: RecordingKernel())
        try await agent.welcomed.get()
        let dvipa = IPAddress.v4(192, 0, 2, 100)
        func flow(_ port: UInt16, _ proto: UInt8 = 6, to destination: IPAddress = dvipa) -> InnerFiveTuple {
            InnerFiveTuple(source: .v4(10, 1, 0, 5), destination: destination, sourcePort: port, destinationPort: 8080, ipProtocol: proto)
        }
        try await agent.loop.submit {
            agent.flowEnds = FlowEndBatcher(destinations: [dvipa], delay: .zero)
            agent.connectionsEnded([(flow(1), 11, true), (flow(2, 1), nil, false), (flow(3, to: .v4(192, 0, 2, 7)), nil, false),
                                    (flow(4, 17), 12, false), (flow(1), 11, false)], malformed: 0, overruns: 0)
        }.get()
        let arrived = await eventually { received.withLockedValue { $0 }.flatMap(\.flows).count >= 2 }
        XCTAssertTrue(arrived)
        XCTAssertEqual(received.withLockedValue { $0 }, [TargetFlowEnds(target: try NodeID("t1"), flows: [flow(1), flow(4, 17)])])
        let counters = try await agent.loop.submit { agent.flowEnds?.counters }.get()
        XCTAssertEqual(counters?.filtered, 2)
        XCTAssertEqual(counters?.alreadyReported, 1, "the destroy after the close")
        XCTAssertEqual(counters?.reports, 1)
    }

    /// The inbound distributor knows every holder of an SA before the IKE response that lets
    /// the peer use it is released: the release and the update come out of the same step, the
    /// update first. (Published a turn later, a loaded host let the peer's first packet on a
    /// rekeyed SA meet a classifier that lacked one holder; it re-placed the SA's live TCP flow
    /// on another target, which answered with a reset.)
    func testTheDistributorHearsOfEveryHolderBeforeTheResponseIsReleased() async throws {
        try await startService()
        final class Seen: @unchecked Sendable {
            private let lock = NSLock()
            private var state = ClusterStateSnapshot()
            func apply(_ update: ClusterStateUpdate) { lock.withLock { update.apply(to: &state) } }
            func holders(of id: ClusterSAID) -> Set<NodeID> { lock.withLock { state.inboundSAs[id]?.holders ?? [] } }
        }
        let seen = Seen()
        service.setInbound(observer: { seen.apply($0) }, status: { nil })
        try await startAgent("t1", kernel: RecordingKernel()).welcomed.get()
        try await startAgent("t2", kernel: RecordingKernel()).welcomed.get()
        let sa = testSA(1, spi: 0x4001)
        // What the distributor holds at the very moment the response is released: the
        // answered future's callbacks run on the loop, inside the step that releases it.
        let atRelease: EventLoopFuture<Set<NodeID>> = service.loop.flatSubmit { [service] in
            let token = service.nextResponseToken()
            service.execute(service.authority.childSANegotiated([sa], response: token.token, replacing: [], now: ClusterService.now()))
            return token.answered.map { seen.holders(of: sa.saID) }
        }
        let holders = try await atRelease.get()
        let both: Set<NodeID> = [try NodeID("t1"), try NodeID("t2")]
        XCTAssertEqual(holders, both, "the distributor lacked a holder when the response was released")
    }

    func testLateJoinerGetsEverySAAndPerTargetSAsStayWithTheirOwner() async throws {
        try await startService()
        let first = RecordingKernel()
        try await startAgent("t1", kernel: first).welcomed.get()
        try await service.install([testSA(1, spi: 0x2001), testSA(2, spi: 0x2002, direction: .outbound, owner: "t1")])
        XCTAssertEqual(first.spis, [0x2001, 0x2002])

        let late = RecordingKernel()
        try await startAgent("t2", kernel: late).welcomed.get()
        let synced = await eventually { late.spis == [0x2001] }
        XCTAssertTrue(synced, "the late joiner got the shared inbound SA and not t1's outbound SA: \(late.spis)")
        let holders = await eventually { (try? await self.routingStatus().sas.first { $0.saID == 1 }?.holders) == ["t1", "t2"] }
        XCTAssertTrue(holders)
    }

    func testInstallFailsWhenTheOnlyTargetRefuses() async throws {
        try await startService()
        let kernel = RecordingKernel()
        kernel.refuse = [0x3001]
        try await startAgent("t1", kernel: kernel).welcomed.get()
        do {
            try await service.install([testSA(1, spi: 0x3001)])
            XCTFail("an SA that no target could install must fail the install")
        } catch let error as ClusterInstallError {
            guard case .notInstalled = error else { return XCTFail("\(error)") }
        }
        let observed2 = try await routingStatus().sas.first
        let sa = try XCTUnwrap(observed2)
        XCTAssertEqual(sa.refused["t1"], "kernel-rejected")
    }

    func testInstallWithoutTargetsFails() async throws {
        try await startService()
        do {
            try await service.install([testSA(1, spi: 0x3101)])
            XCTFail("no target: nothing holds the SA")
        } catch ClusterInstallError.notInstalled {
        }
    }

    // MARK: Credentials

    func testAgentFromAnotherCAIsRefusedAndGetsNoKey() async throws {
        try await startService()
        let good = RecordingKernel()
        try await startAgent("t2", kernel: good).welcomed.get()
        try await service.install([testSA(1, spi: 0x4001)])

        let rogueKernel = RecordingKernel()
        let rogue = try await startAgent("t1", kernel: rogueKernel, rogue: true)
        let refused = await eventually(3) { (try? await self.routingStatus().drops.frames["tls-handshake"] ?? 0) ?? 0 >= 1 }
        XCTAssertTrue(refused, "the routing node counted the failed TLS handshake")
        try await Task.sleep(nanoseconds: 300_000_000)
        XCTAssertEqual(rogueKernel.installCount, 0, "the rogue agent received no SA")
        let observed3 = try await routingStatus().members.map(\.node)
        XCTAssertEqual(observed3, ["t2"])
        let rogueStatus = try await rogue.status().get()
        XCTAssertEqual(rogueStatus.target?.connected, false)
        XCTAssertGreaterThanOrEqual(rogueStatus.target?.drops.frames["tls-handshake"] ?? 0, 1,
                                    "the rogue side sees the handshake fail too")
    }

    func testHelloForAnotherNodeThanTheCertificateIsRefused() async throws {
        try await startService()
        let client = try await RawClusterClient.connect(port: port, credentials: try pki.credentials("t2"), group: group)
        try await client.send(try RawClusterClient.hello("t1"))
        let closed = await eventually(3) { !client.channel.isActive }
        XCTAssertTrue(closed, "the routing node closed the connection")
        let observed4 = try await routingStatus().drops.frames["node-id-mismatch"]
        XCTAssertEqual(observed4, 1)
        let observed5 = try await routingStatus().members.isEmpty
        XCTAssertTrue(observed5)
        XCTAssertFalse(client.messages.contains { if case .welcome = $0 { return true } else { return false } })
    }

    func testLooseKeyPermissionsAreRefusedNamingTheFile() throws {
        let key = pki.directory.appendingPathComponent("t3.key").path
        chmod(key, 0o640)
        XCTAssertThrowsError(try pki.credentials("t3")) { error in
            XCTAssertEqual(error as? ClusterCredentialError,
                           .loosePermissions(path: key, mode: 0o640, rule: "a key file must not be accessible by group or others"))
            XCTAssertTrue("\(error)".contains(key))
        }
        chmod(key, 0o600)
        let certificate = pki.directory.appendingPathComponent("t3.crt").path
        chmod(certificate, 0o666)
        XCTAssertThrowsError(try pki.credentials("t3")) { error in
            XCTAssertTrue("\(error)".contains(certificate), "\(error)")
        }
        chmod(certificate, 0o644)
        XCTAssertNoThrow(try pki.credentials("t3"), "a world-readable certificate is fine, a world-readable key is not")
    }

    func testCertificateMustNameTheNode() throws {
        let credentials = try pki.credentials("t2")
        XCTAssertEqual(credentials.nodeNames, ["t2"])
        XCTAssertThrowsError(try credentials.checkIdentity(try NodeID("t1")))
    }
}
