// The only meeting point of the cluster event loop and the distributor's worker thread.
// The loop posts the cluster state's updates (ClusterStateUpdate: the whole state first, then
// what changed; an unread one is merged with the newer one, so the worker always plans from
// the latest state in one step); the loop also posts the targets' authenticated replay
// evidence and connection ends, which the worker drains between batches; the worker
// publishes its status. One
// lock, held only to swap values: never across I/O, and the loop never waits for the worker.
import ClusterNode
import Foundation
import Inbound

public final class InboundMailbox: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: ClusterStateUpdate?
    private var posted = 0
    private var published: InboundStatus?
    private var evidence: [AuthenticatedReplay] = []
    private var evidenceOverflow: UInt64 = 0
    private var verification: ICVVerification?
    private var ends = FlowReports<TargetFlowEnds>(capacity: InboundMailbox.flowEndCapacity)
    private var held = FlowReports<TargetHeldFlows>(capacity: InboundMailbox.heldFlowCapacity)

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

    /// Reported connection ends waiting at most (a worker that far behind loses the newest:
    /// their entries end by the idle timeout instead, counted in `flowEndsLost`).
    public static let flowEndCapacity = 65536

    /// From the cluster event loop: one target's connection ends.
    public func post(_ report: TargetFlowEnds) {
        lock.withLock { ends.post(report, flows: report.flows.count) }
    }

    /// From the worker, between batches: every report of ends posted since the last call.
    public func takeFlowEnds() -> [TargetFlowEnds] {
        lock.withLock { ends.take() }
    }

    /// Reported ends lost because the worker fell `flowEndCapacity` behind.
    public var flowEndsLost: UInt64 {
        lock.withLock { ends.lost }
    }

    /// Reported held connections waiting at most (the distributor's own cap is
    /// `maximumFlows`; a worker that far behind loses the newest, counted in `heldFlowsLost`:
    /// those connections' packets follow the hash instead).
    public static let heldFlowCapacity = 65536

    /// From the cluster event loop: connections one target reported holding (after a Welcome).
    public func post(_ report: TargetHeldFlows) {
        lock.withLock { held.post(report, flows: report.flows.count) }
    }

    /// From the worker, between batches: every report of held connections since the last call.
    public func takeHeldFlows() -> [TargetHeldFlows] {
        lock.withLock { held.take() }
    }

    /// Reported held connections lost because the worker fell `heldFlowCapacity` behind.
    public var heldFlowsLost: UInt64 {
        lock.withLock { held.lost }
    }

    /// From the cluster event loop: what changed (merged into an unread update: the cost is
    /// that of the newer update, not of the whole state).
    public func post(_ update: ClusterStateUpdate) {
        lock.lock()
        if pending == nil { pending = update } else { pending!.merge(update) }
        posted += 1
        lock.unlock()
    }

    /// From the worker, between batches: every update not yet read, as one (nil: none).
    public func take() -> ClusterStateUpdate? {
        lock.lock()
        defer { lock.unlock() }
        let update = pending
        pending = nil
        return update
    }

    /// An update is waiting (any worker applies it before its next batch).
    public var hasPending: Bool {
        lock.lock()
        defer { lock.unlock() }
        return pending != nil
    }

    /// Updates posted so far (merged ones included).
    public var postedCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return posted
    }

    /// From a reload (`verify` changed in the file): the worker switches at its next batch.
    public func post(_ verification: ICVVerification) {
        lock.lock()
        self.verification = verification
        lock.unlock()
    }

    /// From the worker, between batches: a verification mode posted since the last call.
    public func takeVerification() -> ICVVerification? {
        lock.lock()
        defer { lock.unlock() }
        let taken = verification
        verification = nil
        return taken
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

/// Targets' reports of flows waiting for the worker, bounded by the flows they carry: a report
/// that would pass `capacity` is lost whole (the newest go; counted in `lost`). Used under
/// the mailbox's lock.
struct FlowReports<Report> {
    let capacity: Int
    private var reports: [Report] = []
    private var waiting = 0
    private(set) var lost: UInt64 = 0

    init(capacity: Int) { self.capacity = capacity }

    mutating func post(_ report: Report, flows: Int) {
        guard waiting + flows <= capacity else {
            lost += UInt64(flows)
            return
        }
        reports.append(report)
        waiting += flows
    }

    mutating func take() -> [Report] {
        guard !reports.isEmpty else { return [] }
        defer { reports.removeAll(keepingCapacity: true); waiting = 0 }
        return reports
    }
}
