import Foundation
import IKECrypto
import IKEv2
import Logging
import NIOCore
import NIOPosix
import VipsecTestSupport
import XCTest
@testable import IKEDaemon

/// Redirect (RFC 5685) on a daemon with three IKE workers (IKEWorkerSet, DaemonCore, each on
/// its own event loop): every datagram of the peers goes in through the socket handler's
/// `dispatch`, so IKEShardRouting picks the worker and the pass-on ring finds IKE_SAs whose
/// SPIs moved (IKE_SA rekey); the workers' datagrams come back through `transmit`. Whichever
/// worker owns an IKE_SA, a new peer is redirected in IKE_SA_INIT with its own nonce,
/// "above N IKE_SAs" counts the whole daemon, and `vipsec redirect --established` reaches
/// every established IKE_SA, whose answer and Delete find their owner.
final class RedirectWorkersTests: XCTestCase {
    static let gateway = IKEEndpoint(address: [192, 0, 2, 100], port: 500)
    static let elsewhere = RedirectNotification.Gateway.ipv4([192, 0, 2, 200])
    let provider = OpenSSLCryptoProvider()

    /// What the workers sent, by the peer it went to (any thread).
    final class Wire: @unchecked Sendable {
        private let lock = NSLock()
        private var inbox: [IKEEndpoint: [[UInt8]]] = [:]
        func deliver(_ bytes: [UInt8], to peer: IKEEndpoint) { lock.withLock { inbox[peer, default: []].append(bytes) } }
        func take(for peer: IKEEndpoint) -> [UInt8]? {
            lock.withLock { inbox[peer]?.isEmpty == false ? inbox[peer]!.removeFirst() : nil }
        }
    }

    var group: MultiThreadedEventLoopGroup!
    var workers: IKEWorkerSet!
    let wire = Wire()
    var nextPeer: UInt8 = 1

    override func setUpWithError() throws {
        let config = try DaemonConfig(parsing: LabGatewayConfig.text(remoteAddrs: "%any"), file: "t.conf")
        group = MultiThreadedEventLoopGroup(numberOfThreads: 3)
        let cores = try group.makeIterator().map { loop in
            try DaemonCore(config: config, installer: ConfinedChildSAInstaller(NullChildSAInstaller()),
                           logger: Logger(label: "test"), loop: loop)
        }
        let wire = self.wire
        for core in cores { core.transmit = { bytes, _, remote in wire.deliver(bytes, to: remote) } }
        workers = IKEWorkerSet(cores: cores)
    }

    override func tearDownWithError() throws {
        try group?.syncShutdownGracefully()
    }

    // MARK: The peers and the wire

    /// A peer (announcing REDIRECT_SUPPORTED) from an address of its own whose IKE_SA_INIT
    /// goes to worker `worker`.
    func peer(onWorker worker: Int) throws -> IKESA {
        while true {
            let address: [UInt8] = [192, 0, 2, nextPeer]
            nextPeer += 1
            var configuration = try LabPeerConfiguration.make()
            configuration.followRedirects = true
            let sa = try IKESA.initiator(configuration: configuration, provider: provider,
                                         local: IKEEndpoint(address: address, port: 500), remote: Self.gateway)
            if workers.routing.worker(forInitiatorSPI: sa.initiatorSPI) == worker { return sa }
        }
    }

    /// The peer's datagrams in through the socket handler.
    func send(_ actions: [IKEAction], from peer: IKESA) throws {
        for case .send(let bytes) in actions {
            let remote = try SocketAddress(ipAddress: IPPrefix.format(peer.local.address), port: 500)
            workers.dispatch(ByteBuffer(bytes: bytes), localAddress: "192.0.2.100", localPort: 500, remote: remote)
        }
    }

    /// The workers' next datagram to `peer`.
    func reply(to peer: IKESA, within seconds: Double = 10) async throws -> [UInt8] {
        var found: [UInt8]?
        _ = await eventually(seconds) { found = wire.take(for: peer.local); return found != nil }
        return try XCTUnwrap(found, "no datagram to \(peer.local)")
    }

    func exchange(_ peer: inout IKESA, _ actions: [IKEAction]) async throws -> [IKEAction] {
        try send(actions, from: peer)
        return peer.receiveInstalling(try await reply(to: peer), now: 0)
    }

    func establish(_ peer: inout IKESA) async throws {
        let auth = try await exchange(&peer, peer.start(now: 0))   // IKE_SA_INIT
        _ = try await exchange(&peer, auth)                         // IKE_AUTH
        XCTAssertEqual(peer.phase, .established)
    }

    /// Every worker's IKE_SAs by the gateway's local SPI, and the workers' summed counters.
    func heldSPIs() async throws -> [[UInt64]] { try await workers.collect { Array($0.gateway.sas.keys) }.get() }
    func counter(_ name: String) async throws -> Int {
        try await workers.collect { core in core.gateway.statusFields.first { $0.0 == name }?.1 ?? 0 }.get().reduce(0, +)
    }

    /// `vipsec redirect --to 192.0.2.200 [--above-ike-sas N] [--established]`, as the control
    /// socket carries it out.
    func setRedirect(aboveIKESAs: Int = 0, established: Bool = false) async throws -> OperatorResponse {
        let control = IKEDaemonControl()
        control.attach(workers)
        var request = OperatorRequest(command: .redirect)
        request.gateway = "192.0.2.200"
        request.aboveIKESAs = aboveIKESAs
        request.established = established
        let response = try await OperatorService(control: control).handle(request, on: group.next()).get()
        XCTAssertTrue(response.ok, "\(response)")
        return response
    }

    /// Polls `condition` until it holds or `seconds` pass.
    func eventually(_ seconds: Double, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if try await condition() { return true }
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        return try await condition()
    }

    static func redirected(_ actions: [IKEAction]) -> RedirectNotification.Gateway? {
        for case .redirect(let gateway) in actions { return gateway }
        return nil
    }

    // MARK: Tests

    func testEveryWorkerRedirectsANewPeerWithItsOwnNonce() async throws {
        _ = try await setRedirect()
        for worker in 0..<3 {
            var peer = try peer(onWorker: worker)
            let answer = try await exchange(&peer, peer.start(now: 0))
            XCTAssertEqual(Self.redirected(answer), Self.elsewhere, "worker \(worker): N(REDIRECT) with this peer's Ni")
            XCTAssertEqual(peer.counters.redirectsIgnored, 0, "worker \(worker)")
        }
        let sent = try await workers.collect { $0.gateway.counters.redirectsSent }.get()
        XCTAssertEqual(sent, [1, 1, 1], "each worker answered its own peer")
        let held = try await heldSPIs()
        XCTAssertEqual(held.flatMap { $0 }, [], "stateless: nothing kept")
    }

    /// `above_ike_sas = 3` with one IKE_SA on each worker: the daemon holds 3, so the next
    /// peer is redirected whichever worker it lands on, although no worker holds 3 itself.
    /// With 2 held it is served.
    func testAboveIKESAsCountsTheIKESAsOfEveryWorker() async throws {
        _ = try await setRedirect(aboveIKESAs: 3)
        var held: [IKESA] = []
        for worker in 0..<2 {
            var peer = try peer(onWorker: worker)
            try await establish(&peer)
            held.append(peer)
        }
        var served = try peer(onWorker: 2)
        try await establish(&served)   // 2 held before it: served, and now 3
        var counts = try await heldSPIs().map(\.count)
        XCTAssertEqual(counts, [1, 1, 1])
        for worker in 0..<3 {
            var peer = try peer(onWorker: worker)
            let answer = try await exchange(&peer, peer.start(now: 0))
            XCTAssertEqual(Self.redirected(answer), Self.elsewhere, "worker \(worker) counts the daemon's 3 IKE_SAs, not its own 1")
        }
        let redirects = try await counter("redirects_sent")
        XCTAssertEqual(redirects, 3)
        counts = try await heldSPIs().map(\.count)
        XCTAssertEqual(counts, [1, 1, 1])
    }

    /// One established IKE_SA owned by each worker, and one whose SPIs moved by an IKE_SA
    /// rekey (its new SPIi names another worker than the one that holds it): `vipsec redirect
    /// --established` asks each peer to move; each answer, and each peer's Delete after it
    /// moved, reach the owner (through the pass-on ring where the SPI names another worker);
    /// no worker is left with an IKE_SA, none counted an unknown SPI.
    func testEstablishedIKESAsAreRedirectedWhicheverWorkerOwnsThem() async throws {
        var peers: [IKESA] = []
        for worker in 0..<3 {
            var peer = try peer(onWorker: worker)
            try await establish(&peer)
            peers.append(peer)
        }
        // Rekey IKE_SAs until one's new SPIi names another worker than its owner.
        var moved = false
        for _ in 0..<16 where !moved {
            var peer = try peer(onWorker: 0)
            try await establish(&peer)
            // CREATE_CHILD_SA rekeying the IKE_SA; the answer makes the new IKE_SA and the
            // old one's Delete, which the gateway answers.
            let deletion = try await exchange(&peer, peer.rekeyIKESA(now: 1))
            let successor = try XCTUnwrap(peer.takeSuccessors().first, "the rekeyed IKE_SA")
            _ = try await exchange(&peer, deletion)
            XCTAssertEqual(peer.phase, .closed, "the old IKE_SA is deleted")
            var new = successor.sa
            if workers.routing.worker(forInitiatorSPI: new.initiatorSPI) != 0 {
                moved = true
                let onFirst = try await heldSPIs()[0].count
                XCTAssertEqual(onFirst, 2, "the rekeyed IKE_SA stays with worker 0")
                peers.append(new)
            } else {
                _ = try await exchange(&new, new.delete(now: 2))
            }
        }
        XCTAssertTrue(moved, "no rekeyed IKE_SA whose SPI names another worker in 16 tries")
        let before = try await heldSPIs().map(\.count)
        XCTAssertEqual(before, [2, 1, 1])

        let response = try await setRedirect(established: true)
        XCTAssertTrue(response.messages.contains { $0.hasPrefix("4 established IKE_SA(s) asked to move") }, "\(response.messages)")
        for index in peers.indices {
            let request = try await reply(to: peers[index])
            let answer = peers[index].receiveInstalling(request, now: 3)
            XCTAssertEqual(Self.redirected(answer), Self.elsewhere, "peer \(index)")
            try send(answer, from: peers[index])          // the INFORMATIONAL response, to the owner
            // Moved: the peer deletes its IKE_SA here.
            _ = try await exchange(&peers[index], peers[index].delete(now: 4))
            XCTAssertEqual(peers[index].phase, .closed, "peer \(index): its Delete was answered")
        }
        var left: [[UInt64]] = []
        _ = try await eventually(10) { left = try await self.heldSPIs(); return left.allSatisfy(\.isEmpty) }
        XCTAssertEqual(left.map(\.count), [0, 0, 0], "every owner removed its IKE_SA")
        let redirects = try await counter("redirects_sent"), unknown = try await counter("unknown_spi")
        XCTAssertEqual(redirects, 4)
        XCTAssertEqual(unknown, 0, "every datagram found its IKE_SA")
    }
}
