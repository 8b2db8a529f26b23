// The only meeting point of the cluster event loop and the distributor's worker thread.
// The loop posts the newest cluster snapshot (a newer one replaces an unread one: the worker
// always plans from the latest state); the worker publishes its status. One lock, held only
// to swap values: never across I/O, and the loop never waits for the worker.
import ClusterNode
import Foundation

public final class InboundMailbox: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: ClusterStateSnapshot?
    private var posted = 0
    private var published: InboundStatus?

    public init() {}

    /// From the cluster event loop: the state now.
    public func post(_ snapshot: ClusterStateSnapshot) {
        lock.lock()
        pending = snapshot
        posted += 1
        lock.unlock()
    }

    /// From the worker, between batches: the newest unread snapshot, if any.
    public func take() -> ClusterStateSnapshot? {
        lock.lock()
        defer { lock.unlock() }
        let snapshot = pending
        pending = nil
        return snapshot
    }

    /// Snapshots posted so far (coalesced ones included).
    public var postedCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return posted
    }

    /// From the worker: its status now.
    public func publish(_ status: InboundStatus) {
        lock.lock()
        published = status
        lock.unlock()
    }

    /// For `vipsec status` and SIGUSR1.
    public var status: InboundStatus? {
        lock.lock()
        defer { lock.unlock() }
        return published
    }
}
