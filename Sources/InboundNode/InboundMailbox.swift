// The only meeting point of the cluster event loop and the distributor's worker thread.
// The loop posts the newest cluster snapshot (a newer one replaces an unread one: the worker
// always plans from the latest state); the loop also posts the targets' authenticated replay
// evidence, which the worker drains between batches; the worker publishes its status. One
// lock, held only to swap values: never across I/O, and the loop never waits for the worker.
import ClusterNode
import Foundation

public final class InboundMailbox: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: ClusterStateSnapshot?
    private var posted = 0
    private var published: InboundStatus?
    private var evidence: [AuthenticatedReplay] = []
    private var evidenceOverflow: UInt64 = 0

    /// Reports waiting at most (a worker that far behind loses the oldest: evidence only
    /// ever tightens the window, so losing some weakens the check, never a real packet).
    public static let evidenceCapacity = 4096

    public init() {}

    /// From the cluster event loop: one target's authenticated replay state for one SA.
    public func post(_ replay: AuthenticatedReplay) {
        lock.lock()
        if evidence.count >= Self.evidenceCapacity {
            // The older half goes at once: one shift per half capacity, not one per report.
            let lost = evidence.count / 2
            evidence.removeFirst(lost)
            evidenceOverflow += UInt64(lost)
        }
        evidence.append(replay)
        lock.unlock()
    }

    /// From the worker, between batches: every report posted since the last call, oldest first.
    public func takeEvidence() -> [AuthenticatedReplay] {
        lock.lock()
        defer { lock.unlock() }
        guard !evidence.isEmpty else { return [] }
        let taken = evidence
        evidence.removeAll(keepingCapacity: true)
        return taken
    }

    /// Reports lost because the worker fell `evidenceCapacity` behind.
    public var evidenceLost: UInt64 {
        lock.lock()
        defer { lock.unlock() }
        return evidenceOverflow
    }

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
