// The daemon's IKE workers: one DaemonCore (own IKEGateway, own timers) per event loop.
// The UDP sockets live on worker 0's loop; their handler passes each datagram to the
// worker IKEShardRouting names, which hops onto that worker's loop. Each worker's IKE_SAs
// are touched only on its loop, so the IKE core stays single-threaded per IKE_SA while
// the workers' key exchanges, prf+ and AUTH computations run on different cores.
import Foundation
import Logging
import NIOCore

/// The workers of one daemon (one per `vipsec { workers = N }`, default one per CPU).
final class IKEWorkerSet: @unchecked Sendable {
    let cores: [DaemonCore]
    let routing: IKEShardRouting
    /// Shutdown has begun (touched on worker 0's loop only).
    var stopping = false
    /// The file a reload reads (nil: the daemon was given its configuration, not a file).
    let configPath: String?
    /// Whether a reload is under way (touched on worker 0's loop only: Operator/ConfigReload.swift).
    var reloading = false
    /// A reload changed `vipsec.cluster.inbound.verify` (the inbound distributor switches).
    var onInboundVerify: (@Sendable (InboundSettings.Verify) -> Void)?
    /// The IKE_SAs each worker holds, as each last published them (any thread, under the
    /// lock): a redirect rule "above N IKE_SAs" counts the whole daemon, not one worker.
    private let heldLock = NSLock()
    private var held: [Int]

    init(cores: [DaemonCore], configPath: String? = nil) {
        self.cores = cores
        held = Array(repeating: 0, count: cores.count)
        self.configPath = configPath
        routing = IKEShardRouting(workerCount: cores.count)
        for (index, core) in cores.enumerated() {
            core.worker = index
            core.workers = self
        }
    }

    /// Worker 0: it holds the sockets and initiates configured connections.
    var first: DaemonCore { cores[0] }

    /// A datagram from a socket (any loop): to the worker that owns its IKE_SA.
    func dispatch(_ datagram: ByteBuffer, localAddress: String, localPort: Int, remote: SocketAddress) {
        let markerLength = localPort == first.config.settings.natTraversalPort ? 4 : 0
        let view = datagram.readableBytesView
        let worker = view.count > markerLength ? routing.worker(for: view.dropFirst(markerLength)) : 0
        pass(datagram, to: worker, localAddress: localAddress, localPort: localPort, remote: remote, hops: 0)
    }

    /// Hands a datagram to worker `index` on its loop.
    func pass(_ datagram: ByteBuffer, to index: Int, localAddress: String, localPort: Int, remote: SocketAddress, hops: Int) {
        let core = cores[index]
        if core.loop.inEventLoop {
            core.received(datagram, localAddress: localAddress, localPort: localPort, remote: remote, hops: hops)
        } else {
            core.loop.execute {
                core.received(datagram, localAddress: localAddress, localPort: localPort, remote: remote, hops: hops)
            }
        }
    }

    /// Worker `from` does not know the message's SPI: the next worker may (IKE_SA rekeyed
    /// to new SPIs). False when every worker has seen it; then `from` handles it.
    func passOn(_ datagram: ByteBuffer, from index: Int, localAddress: String, localPort: Int, remote: SocketAddress,
                hops: Int) -> Bool {
        guard hops + 1 < cores.count else { return false }
        pass(datagram, to: routing.next(after: index), localAddress: localAddress, localPort: localPort, remote: remote,
             hops: hops + 1)
        return true
    }

    /// Worker `index` now holds `count` IKE_SAs (DaemonCore.perform, on its loop).
    func publish(worker index: Int, ikeSAs count: Int) {
        heldLock.withLock { held[index] = count }
    }

    /// The IKE_SAs the workers other than `index` hold, as last published.
    func ikeSAs(except index: Int) -> Int {
        heldLock.withLock { held.indices.reduce(0) { $1 == index ? $0 : $0 + held[$1] } }
    }

    /// Runs `body` on every worker's loop; the results in worker order.
    func collect<T: Sendable>(_ body: @escaping @Sendable (DaemonCore) -> T) -> EventLoopFuture<[T]> {
        let futures = cores.map { core in core.loop.submit { body(core) } }
        return EventLoopFuture.whenAllSucceed(futures, on: first.loop)
    }

    /// The summed counters line of all workers (on worker 0's loop).
    func statusLine() -> EventLoopFuture<String> {
        if cores.count == 1 {
            return first.loop.submit { self.first.gateway.statusLine }
        }
        return collect { $0.gateway.statusFields }.map { WorkerStatus.line($0) }
    }

    /// Each worker's settings: the half-open limit and COOKIE threshold are shared out, so
    /// that the daemon as a whole keeps the configured values (rounded up per worker).
    static func workerSettings(_ settings: DaemonSettings, workers: Int) -> DaemonSettings {
        guard workers > 1 else { return settings }
        var result = settings
        result.halfOpenLimit = (settings.halfOpenLimit + workers - 1) / workers
        result.cookieThreshold = (settings.cookieThreshold + workers - 1) / workers
        result.halfOpenPerPeer = (settings.halfOpenPerPeer + workers - 1) / workers
        return result
    }
}
