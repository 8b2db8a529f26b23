import Cluster
import Foundation
import IKECrypto
import IKEv2
import Logging
import NIOCore
import NIOPosix
import XCTest
import VipsecTestSupport
@testable import ClusterNode
@testable import IKEDaemon

/// The IKE daemon's workers (DaemonCore, IKEWorkerSet) in front of the cluster, with one
/// target that does not acknowledge: the CHILD_SA waiting for it holds only its own
/// IKE_AUTH response; every worker goes on serving new and existing IKE_SAs meanwhile; the
/// pending CHILD_SA resolves at `install_timeout` by the documented rule (the laggard is
/// dropped, the install succeeds on the target that holds it).
final class PendingClusterInstallTests: ClusterHarnessTestCase {
    static let gateway = IKEEndpoint(address: [192, 0, 2, 100], port: 500)

    /// What the workers sent, by the peer it went to (any thread).
    final class Wire: @unchecked Sendable {
        private let lock = NSLock()
        private var inbox: [IKEEndpoint: [[UInt8]]] = [:]
        func deliver(_ bytes: [UInt8], to peer: IKEEndpoint) { lock.withLock { inbox[peer, default: []].append(bytes) } }
        func take(for peer: IKEEndpoint) -> [UInt8]? {
            lock.withLock { inbox[peer]?.isEmpty == false ? inbox[peer]!.removeFirst() : nil }
        }
    }

    var workerGroup: MultiThreadedEventLoopGroup!
    var workers: IKEWorkerSet!
    let wire = Wire()
    let provider = OpenSSLCryptoProvider()
    var nextPeer: UInt8 = 1

    override func tearDown() async throws {
        try await workerGroup?.shutdownGracefully()
        try await super.tearDown()
    }

    func startWorkers(count: Int) throws {
        let config = try DaemonConfig(parsing: LabGatewayConfig.text(remoteAddrs: "%any"), file: "t.conf")
        let installer = ClusterChildSAInstaller(service: harness.service)
        workerGroup = MultiThreadedEventLoopGroup(numberOfThreads: count)
        let cores = try workerGroup.makeIterator().map { loop in
            try DaemonCore(config: config, installer: installer, logger: Logger(label: "test"), loop: loop)
        }
        let wire = self.wire
        for core in cores { core.transmit = { bytes, _, remote in wire.deliver(bytes, to: remote) } }
        workers = IKEWorkerSet(cores: cores)
    }

    /// A peer from an address of its own whose IKE_SA_INIT goes to worker `worker`.
    func peer(onWorker worker: Int) throws -> IKESA {
        while true {
            let address: [UInt8] = [192, 0, 2, nextPeer]
            nextPeer += 1
            let configuration = try LabPeerConfiguration.make()
            let sa = try IKESA.initiator(configuration: configuration, provider: provider,
                                         local: IKEEndpoint(address: address, port: 500), remote: Self.gateway)
            if workers.routing.worker(forInitiatorSPI: sa.initiatorSPI) == worker { return sa }
        }
    }

    /// The peer's datagrams to the workers (through the socket handler's dispatch).
    func send(_ actions: [IKEAction], from peer: IKESA) throws {
        for case .send(let bytes) in actions {
            let remote = try SocketAddress(ipAddress: IPPrefix.format(peer.local.address), port: 500)
            workers.dispatch(ByteBuffer(bytes: bytes), localAddress: "192.0.2.100", localPort: 500, remote: remote)
        }
    }

    /// The workers' next datagram to `peer`, waiting up to `seconds`.
    func reply(to peer: IKESA, within seconds: Double = 10) async throws -> [UInt8] {
        var found: [UInt8]?
        _ = await eventually(seconds) { found = wire.take(for: peer.local); return found != nil }
        return try XCTUnwrap(found, "no reply to \(peer.local)")
    }

    /// One request of the peer's, and its answer processed.
    func exchange(_ peer: inout IKESA, _ actions: [IKEAction]) async throws -> [IKEAction] {
        try send(actions, from: peer)
        return peer.receive(try await reply(to: peer), now: 0)
    }

    func establish(_ peer: inout IKESA) async throws {
        var actions = peer.start(now: 0)
        actions = try await exchange(&peer, actions)   // IKE_SA_INIT
        _ = try await exchange(&peer, actions)         // IKE_AUTH
        XCTAssertEqual(peer.phase, .established)
    }

    func testAnUnacknowledgedInstallHoldsOnlyItsOwnResponse() async throws {
        let installTimeout = 2.0
        try await harness.startService(installTimeout: .seconds(2))
        let fast = RecordingKernel(), slow = RecordingKernel()
        try await harness.startAgent("t1", kernel: fast).welcomed.get()
        try await harness.startAgent("t2", kernel: slow).welcomed.get()
        try startWorkers(count: 2)
        // Existing IKE_SAs, one on each worker, their CHILD_SAs on both targets.
        var existing = [try peer(onWorker: 0), try peer(onWorker: 1)]
        for index in existing.indices { try await establish(&existing[index]) }
        XCTAssertTrue(existing.allSatisfy { fast.spis.contains($0.childSAs[0].outbound.spi) && slow.spis.contains($0.childSAs[0].outbound.spi) },
                      "both targets hold the inbound SAs so far")

        // t2 stops acknowledging; a new IKE_SA's IKE_AUTH now waits for it.
        slow.installDelay = 4
        var pending = try peer(onWorker: 0)
        let authRequest = try await exchange(&pending, pending.start(now: 0))
        let start = Date()
        try send(authRequest, from: pending)

        // Meanwhile, on every worker: a new IKE_SA is answered, and an existing one too.
        for worker in 0..<2 {
            var fresh = try peer(onWorker: worker)
            let answered = try await exchange(&fresh, fresh.start(now: 0))
            XCTAssertEqual(fresh.phase, .authenticating, "worker \(worker): IKE_SA_INIT answered")
            XCTAssertFalse(answered.isEmpty, "worker \(worker): IKE_AUTH request ready")
            let liveness = existing[worker].checkLiveness(now: 1)
            XCTAssertFalse(liveness.isEmpty)
            _ = try await exchange(&existing[worker], liveness)   // throws if the INFORMATIONAL is not answered
        }
        XCTAssertNil(wire.take(for: pending.local), "all that was served while the IKE_AUTH response was still held")
        XCTAssertLessThan(Date().timeIntervalSince(start), installTimeout, "(the test machine was too slow to tell)")

        // At install_timeout: t2 is dropped, t1 holds the CHILD_SA, the response goes out.
        let response = try await reply(to: pending, within: installTimeout + 5)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), installTimeout - 0.1, "released by the timeout rule")
        _ = pending.receive(response, now: 2)
        XCTAssertEqual(pending.phase, .established)
        XCTAssertEqual(pending.childSAs.count, 1, "the CHILD_SA is usable")
        XCTAssertTrue(fast.spis.contains(pending.childSAs[0].outbound.spi), "t1 holds its inbound SA")
        let live = await harness.service.liveMembers()
        XCTAssertEqual(live, [try NodeID("t1")], "the laggard was dropped")
    }
}
