import Foundation
import IKECrypto
import IKEv2
import Logging
import NIOCore
import NIOPosix
import VipsecTestSupport
import XCTest
@testable import IKEDaemon

/// The workers' side of HA persistence (IKESAPersistence.swift, DaemonCore+Persistence.swift)
/// and adoption (IKEGateway+Adopt.swift, IKEDaemonControl.adopt): a real daemon shell (one
/// worker, datagrams in through the socket handler's dispatch, out through `transmit`),
/// a coupling facility in memory whose commits complete when the test says, and our own
/// IKESA as the peer.
final class PersistenceShellTests: XCTestCase {
    static let gateway = IKEEndpoint(address: [192, 0, 2, 100], port: 500)
    static let peerEndpoint = IKEEndpoint(address: [192, 0, 2, 1], port: 500)
    let provider = OpenSSLCryptoProvider()

    struct Refused: Error {}

    /// Commits wait until `complete` (in order); completed ones are `durable`.
    final class HeldStore: IKESAPersistence, @unchecked Sendable {
        private let lock = NSLock()
        private var pending: [(spi: UInt64, record: IKESARecord?, promise: EventLoopPromise<Void>)] = []
        private var stored: [UInt64: IKESARecord] = [:]

        func commit(localSPI: UInt64, record: IKESARecord?, on loop: EventLoop) -> EventLoopFuture<Void> {
            let promise = loop.makePromise(of: Void.self)
            lock.withLock { pending.append((localSPI, record, promise)) }
            return promise.futureResult
        }

        var pendingCount: Int { lock.withLock { pending.count } }
        var durable: [UInt64: IKESARecord] { lock.withLock { stored } }

        /// Completes the oldest commit; returns its record.
        @discardableResult
        func complete(failing: Bool = false) -> IKESARecord?? {
            guard let next = lock.withLock({ pending.isEmpty ? nil : pending.removeFirst() }) else { return nil }
            if failing {
                next.promise.fail(Refused())
            } else {
                lock.withLock { stored[next.spi] = next.record }
                next.promise.succeed(())
            }
            return .some(next.record)
        }
    }

    final class Wire: @unchecked Sendable {
        private let lock = NSLock()
        private var inbox: [[UInt8]] = []
        func deliver(_ bytes: [UInt8]) { lock.withLock { inbox.append(bytes) } }
        func take() -> [UInt8]? { lock.withLock { inbox.isEmpty ? nil : inbox.removeFirst() } }
        var isEmpty: Bool { lock.withLock { inbox.isEmpty } }
    }

    struct Daemon {
        let group: MultiThreadedEventLoopGroup
        let workers: IKEWorkerSet
        let store = HeldStore()
        let wire = Wire()
        let control = IKEDaemonControl()
    }

    var daemons: [Daemon] = []

    override func tearDownWithError() throws {
        for daemon in daemons { try daemon.group.syncShutdownGracefully() }
    }

    func makeDaemon() throws -> Daemon {
        let config = try DaemonConfig(parsing: LabGatewayConfig.text(connection: ["dpd_delay = 0"]), file: "t.conf")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let core = try DaemonCore(config: config, installer: ConfinedChildSAInstaller(NullChildSAInstaller()),
                                  logger: Logger(label: "test"), loop: group.next())
        let daemon = Daemon(group: group, workers: IKEWorkerSet(cores: [core]))
        let wire = daemon.wire
        core.transmit = { bytes, _, _ in wire.deliver(bytes) }
        core.persistence = daemon.store
        daemon.control.attach(daemon.workers)
        daemons.append(daemon)
        return daemon
    }

    func makePeer() throws -> IKESA {
        let configuration = try LabPeerConfiguration.make()
        return try IKESA.initiator(configuration: configuration, provider: provider, local: Self.peerEndpoint, remote: Self.gateway)
    }

    func send(_ actions: [IKEAction], to daemon: Daemon) throws {
        for case .send(let bytes) in actions {
            let remote = try SocketAddress(ipAddress: "192.0.2.1", port: 500)
            daemon.workers.dispatch(ByteBuffer(bytes: bytes), localAddress: "192.0.2.100", localPort: 500, remote: remote)
        }
    }

    func eventually(_ seconds: Double = 10, _ condition: () -> Bool) async -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        return condition()
    }

    /// The daemon's next datagram (none within `seconds`: nil).
    func reply(from daemon: Daemon, within seconds: Double = 10) async -> [UInt8]? {
        var found: [UInt8]?
        _ = await eventually(seconds) { found = daemon.wire.take(); return found != nil }
        return found
    }

    /// Sends the peer's request and lets every commit it causes complete; returns what the
    /// peer did with the answer.
    func exchange(_ peer: inout IKESA, _ actions: [IKEAction], with daemon: Daemon) async throws -> [IKEAction] {
        try send(actions, to: daemon)
        var answer: [UInt8]?
        _ = await eventually {
            daemon.store.complete()
            answer = daemon.wire.take()
            return answer != nil
        }
        return peer.receiveInstalling(try XCTUnwrap(answer, "no answer"), now: 0)
    }

    func establish(_ peer: inout IKESA, with daemon: Daemon) async throws {
        let auth = try await exchange(&peer, peer.start(now: 0), with: daemon)
        _ = try await exchange(&peer, auth, with: daemon)
        XCTAssertEqual(peer.phase, .established)
    }

    func sendsDropped(_ daemon: Daemon) async throws -> Int {
        try await daemon.workers.collect { $0.persistenceState.sendsDropped }.get().reduce(0, +)
    }

    // MARK: Tests

    func testAResponseLeavesOnlyOnceItsRecordIsDurable() async throws {
        let daemon = try makeDaemon()
        var peer = try makePeer()
        // --> IKE_SA_INIT: answered at once (half-open IKE_SAs are never recorded).
        try send(peer.start(now: 0), to: daemon)
        let initResponse = await reply(from: daemon)
        XCTAssertNotNil(initResponse)
        XCTAssertEqual(daemon.store.pendingCount, 0)
        let auth = peer.receiveInstalling(try XCTUnwrap(initResponse), now: 0)
        // --> IKE_AUTH: the response waits for the commit of the established IKE_SA's record.
        try send(auth, to: daemon)
        let committing = await eventually { daemon.store.pendingCount == 1 }
        XCTAssertTrue(committing)
        let early = await reply(from: daemon, within: 0.3)
        XCTAssertNil(early, "IKE_AUTH answered before its record was durable")
        let record = try XCTUnwrap(daemon.store.complete() ?? nil)
        XCTAssertEqual(record.messageIDs.expectedRequest, 2)
        XCTAssertEqual(record.childSAs.count, 1)
        XCTAssertEqual(record.peerIdentity.identificationData, [192, 0, 2, 1])
        let authResponse = await reply(from: daemon)
        _ = peer.receiveInstalling(try XCTUnwrap(authResponse), now: 0)
        XCTAssertEqual(peer.phase, .established)

        // --> DPD; the commit fails (etcd down, deposed): no answer, counted.
        let dpd = peer.checkLiveness(now: 1)
        try send(dpd, to: daemon)
        let committingDPD = await eventually { daemon.store.pendingCount == 1 }
        XCTAssertTrue(committingDPD)
        daemon.store.complete(failing: true)
        let dropped = try await sendsDropped(daemon)
        XCTAssertEqual(dropped, 1)
        let unanswered = await reply(from: daemon, within: 0.3)
        XCTAssertNil(unanswered, "a response whose record is not durable went out")
        // The peer retransmits: the cached response needs the record again, which now commits.
        _ = try await exchange(&peer, dpd, with: daemon)
        XCTAssertTrue(peer.canSendDelete, "the DPD is answered")
        XCTAssertEqual(daemon.store.durable.values.first?.messageIDs.expectedRequest, 3)
    }

    func testANewActiveAdoptsTheRecordAndCarriesOn() async throws {
        let old = try makeDaemon()
        var peer = try makePeer()
        try await establish(&peer, with: old)
        _ = try await exchange(&peer, peer.checkLiveness(now: 1), with: old)
        let record = try XCTUnwrap(old.store.durable.values.first)
        XCTAssertEqual(record.messageIDs.expectedRequest, 3)

        // The old active is gone; a new one adopts what was durable.
        try await old.group.shutdownGracefully()
        daemons.removeFirst()
        let new = try makeDaemon()
        let decoded = try IKESARecord(decoding: record.encoded())
        let outcome = await new.control.adopt([decoded])
        XCTAssertEqual(outcome?.adopted.count, 1)
        XCTAssertEqual(outcome?.refused.count, 0)
        let held = try await new.workers.collect { Array($0.gateway.sas.keys) }.get().flatMap { $0 }
        XCTAssertEqual(held, [record.localSPI])

        // --> DPD with the next message ID: answered by the new active, accepted by the peer.
        _ = try await exchange(&peer, peer.checkLiveness(now: 2), with: new)
        XCTAssertTrue(peer.canSendDelete)
        XCTAssertEqual(peer.counters.integrityFailures, 0)
        XCTAssertEqual(peer.sequencerCounters.responsesDroppedUnexpected, 0)

        // --> CREATE_CHILD_SA (rekey) and the Delete of the old CHILD_SA, through the new active.
        let oldChild = peer.childSAs[0]
        let rekeyAnswer = try await exchange(&peer, peer.rekeyChildSA(inboundSPI: oldChild.inbound.spi, now: 3), with: new)
        XCTAssertTrue(rekeyAnswer.contains { if case .install = $0 { return true }; return false }, "\(rekeyAnswer)")
        _ = try await exchange(&peer, rekeyAnswer, with: new)   // the Delete of the old one
        XCTAssertEqual(peer.childSAs.count, 1)
        XCTAssertNotEqual(peer.childSAs[0].inbound.spi, oldChild.inbound.spi)
        let recorded = await eventually { new.store.durable.values.first?.childSAs.map(\.inbound.spi) == [peer.childSAs[0].outbound.spi] }
        XCTAssertTrue(recorded, "the new active recorded the rekeyed CHILD_SA")
        XCTAssertEqual(new.store.durable.values.first?.localSPI, record.localSPI, "the same IKE_SA")
    }

    func testARecordOfAnotherConnectionIsRefusedNotAdopted() async throws {
        let daemon = try makeDaemon()
        var peer = try makePeer()
        try await establish(&peer, with: daemon)
        var record = try XCTUnwrap(daemon.store.durable.values.first)
        record.connection = "gone"
        let other = try makeDaemon()
        let outcome = await other.control.adopt([record])
        XCTAssertEqual(outcome?.adopted.count, 0)
        XCTAssertEqual(outcome?.refused.first?.spi, record.localSPI)
        XCTAssertTrue(outcome?.refused.first?.reason.contains("no connection gone") == true, "\(String(describing: outcome?.refused))")
    }
}
