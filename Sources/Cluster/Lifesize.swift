/// How the routing node paces lifesize reports and rekeys (outbound claims 8–13, inbound
/// claims 13–18).
///
/// Each target reports an SA's counters every time its own byte count grows by a step: N %
/// of the SA's byte limit L, divided among the targets the SA is installed on (an inbound or
/// shared SA on h targets: N/h % each; a per-target SA: N %). So the bytes not yet reported
/// stay under N % of L however many targets share the SA: with a whole step each, an inbound
/// SA on 3 targets at N = 19 % ran 1.21 MB through a 1 MB limit before its rekey (lab
/// cluster-lifesize, part B). The routing node estimates the cluster total as the sum of
/// the latest reports plus half a step for every holder (what each has, on average, not yet
/// reported), and bounds it by the reports plus a whole step for every holder (the most it
/// can be). It asks for a rekey once that bound reaches L × (1 − margin × (1 + q)): the SA
/// has then carried less than that, whatever the targets sent since their last reports.
/// (Asking on the estimate was not enough: targets that share an SA evenly report together,
/// the estimate moves in jumps of N % of L, and one jump went from below the threshold to
/// past L.)
/// q is the queue ahead of the SA on its CHILD_SA line (`track(_:byteLimit:line:)`, the
/// reqid: per-target SAs of one line share one IKE_SA, whose window of one exchange makes
/// their rekeys run one after the other): the line's other SAs whose rekey is requested and
/// not completed, or whose estimate is as far along as this one's (they will queue first).
/// Each rekey in the queue thus gets one margin of its own (up to `maximumMargin` in all),
/// and a lone SA still rekeys at L × (1 − margin). The margin per rekey is learned too: once
/// a rekey on the line completed, what it cost (the part of L used between asking and
/// completion, divided by 1 + the rekeys queued ahead of it) × 1.25 replaces the margin when
/// larger; the cost remembered decays by a quarter per rekey. When the rekey completes (the new SA is on every target), the estimate then decides N's next value:
/// - late: the estimate reached L (the limit was, or may have been, crossed), or a target's
///   kernel expired the SA on its hard byte limit → N × `shrink`;
/// - early: it stayed below the middle of the margin → N × `grow`;
/// - otherwise N stays. N stays within `minimumPercent...maximumPercent`.
public struct LifesizePolicy: Hashable, Sendable {
    public var initialPercent: Double
    public var minimumPercent: Double
    public var maximumPercent: Double
    /// The fraction of L kept free for the rekey itself (0.1: rekey at 90 % of L).
    public var safetyMargin: Double
    public var shrink: Double
    public var grow: Double
    /// The most of L kept free when rekeys queue on one line (0.5: never before 50 % of L).
    public var maximumMargin: Double

    public init(initialPercent: Double = 5, minimumPercent: Double = 0.5, maximumPercent: Double = 20,
                safetyMargin: Double = 0.1, shrink: Double = 0.5, grow: Double = 1.25, maximumMargin: Double = 0.5) {
        self.initialPercent = initialPercent
        self.minimumPercent = minimumPercent
        self.maximumPercent = maximumPercent
        self.safetyMargin = safetyMargin
        self.shrink = shrink
        self.grow = grow
        self.maximumMargin = max(maximumMargin, safetyMargin)
    }
}

/// How a rekey's timing was judged.
public enum RekeyTiming: Equatable, Sendable {
    case early, onTime, late
}

/// The routing node's lifesize totals, per SA, and the adaptive reporting percentage N.
public struct LifesizeAccounting: Sendable {
    /// One SA's totals (for status).
    public struct Totals: Equatable, Sendable {
        public var byteLimit: UInt64
        public var reportStep: UInt64
        public var reportedBytes: UInt64
        public var reportedPackets: UInt64
        public var reporters: Int
        public var rekeyRequested: Bool
    }

    private struct Entry: Sendable {
        var byteLimit: UInt64
        var step: UInt64
        var reports: [NodeID: (bytes: UInt64, packets: UInt64)] = [:]
        var line: UInt32
        /// How many targets may be using the SA (from the last report).
        var holders = 0
        var rekeyRequested = false
        var rekeyCompleted = false
        var hardLimitReached = false
        /// The margin the rekey was asked with (judges its timing).
        var margin: Double = 0
        /// The estimate (fraction of L) and the queue ahead when the rekey was asked for.
        var requestedAt: Double = 0
        var queuedAhead = 0
    }

    public let policy: LifesizePolicy
    /// N: the current reporting percentage, used for SAs tracked from now on.
    public private(set) var percent: Double
    private var entries: [ClusterSAID: Entry] = [:]
    /// What one rekey cost on each line, as a fraction of L (a decaying maximum).
    public private(set) var rekeyCost: [UInt32: Double] = [:]

    public init(policy: LifesizePolicy = LifesizePolicy()) {
        self.policy = policy
        percent = min(max(policy.initialPercent, policy.minimumPercent), policy.maximumPercent)
    }

    /// Starts counting an SA whose cluster-wide byte limit is `byteLimit`, installed on
    /// `holders` targets; returns the report step to put into its description (0, no
    /// reports, for an unlimited SA). `line` groups the SAs whose rekeys queue on one IKE_SA
    /// (the CHILD_SA line's reqid).
    public mutating func track(_ saID: ClusterSAID, byteLimit: UInt64, line: UInt32 = 0, holders: Int = 1) -> UInt64 {
        guard byteLimit != SALifetimes.unlimited, byteLimit > 0 else { return 0 }
        let step = max(1, UInt64(Double(byteLimit) * percent / 100 / Double(max(1, holders))))
        entries[saID] = Entry(byteLimit: byteLimit, step: step, line: line)
        return step
    }

    /// Records a target's report; returns true when the SA should be rekeyed now (once).
    /// `holders` is how many targets may be using the SA. Reports only grow: an older
    /// (smaller) report arriving late is ignored.
    public mutating func record(_ report: ClusterMessage.LifesizeReport, from node: NodeID, holders: Int) -> Bool {
        guard var entry = entries[report.saID] else { return false }
        if report.hardLimitReached { entry.hardLimitReached = true }
        let previous = entry.reports[node]
        if previous == nil || report.bytes >= previous?.bytes ?? 0 {
            entry.reports[node] = (report.bytes, max(report.packets, previous?.packets ?? 0))
        }
        entry.holders = max(holders, entry.reports.count)
        let margin = margin(for: report.saID, entry)
        let threshold = Double(entry.byteLimit) * (1 - margin)
        let rekey = !entry.rekeyRequested && (Self.bound(entry) >= threshold || entry.hardLimitReached)
        if rekey {
            entry.rekeyRequested = true
            entry.margin = margin
            entry.requestedAt = Self.estimate(entry) / Double(entry.byteLimit)
            entry.queuedAhead = queueDepth(of: report.saID, entry)
        }
        entries[report.saID] = entry
        return rekey
    }

    /// The rekeys queued ahead of `saID` on its line (see the type's doc).
    public func queueDepth(of saID: ClusterSAID) -> Int {
        guard let entry = entries[saID] else { return 0 }
        return queueDepth(of: saID, entry)
    }

    private func queueDepth(of saID: ClusterSAID, _ entry: Entry) -> Int {
        let fraction = Self.estimate(entry) / Double(entry.byteLimit)
        return entries.filter { other in
            other.key != saID && other.value.line == entry.line && !other.value.rekeyCompleted
                && (other.value.rekeyRequested || Self.estimate(other.value) / Double(other.value.byteLimit) >= fraction)
        }.count
    }

    private func margin(for saID: ClusterSAID, _ entry: Entry) -> Double {
        let perRekey = max(policy.safetyMargin, 1.25 * (rekeyCost[entry.line] ?? 0))
        return min(policy.maximumMargin, perRekey * Double(1 + queueDepth(of: saID, entry)))
    }

    /// The SA's replacement is installed everywhere: judges the rekey's timing and adapts N.
    /// Only a rekey the lifesize asked for is judged early or on time; one made for another
    /// reason (the other SA of its CHILD_SA filled, the time, the peer) says nothing about N
    /// unless it came late. Returns nil for an SA not tracked or not judged.
    @discardableResult
    public mutating func rekeyCompleted(_ saID: ClusterSAID, holders: Int) -> RekeyTiming? {
        guard var entry = entries[saID] else { return nil }
        entry.holders = max(holders, entry.reports.count)
        entry.rekeyCompleted = true
        entries[saID] = entry
        let estimate = Self.estimate(entry)
        let limit = Double(entry.byteLimit)
        if entry.rekeyRequested {
            let cost = max(0, estimate / limit - entry.requestedAt) / Double(1 + entry.queuedAhead)
            rekeyCost[entry.line] = max(cost, 0.75 * (rekeyCost[entry.line] ?? 0))
        }
        // Early: less than half of the margin it was asked with was used (a queued rekey was
        // asked with a wider one).
        let margin = max(entry.margin, policy.safetyMargin)
        let timing: RekeyTiming
        if estimate >= limit || entry.hardLimitReached {
            timing = .late
            percent = max(policy.minimumPercent, percent * policy.shrink)
        } else if !entry.rekeyRequested {
            return nil
        } else if estimate < limit * (1 - margin / 2) {
            timing = .early
            percent = min(policy.maximumPercent, percent * policy.grow)
        } else {
            timing = .onTime
        }
        return timing
    }

    /// Stops counting an SA (deleted).
    public mutating func forget(_ saID: ClusterSAID) {
        entries[saID] = nil
    }

    /// The SA's totals, or nil when it is not tracked.
    public func totals(of saID: ClusterSAID) -> Totals? {
        guard let entry = entries[saID] else { return nil }
        let bytes = entry.reports.values.reduce(UInt64(0)) { $0.addingReportingOverflow($1.bytes).partialValue }
        let packets = entry.reports.values.reduce(UInt64(0)) { $0.addingReportingOverflow($1.packets).partialValue }
        return Totals(byteLimit: entry.byteLimit, reportStep: entry.step, reportedBytes: bytes, reportedPackets: packets,
                      reporters: entry.reports.count, rekeyRequested: entry.rekeyRequested)
    }

    /// The SA's bytes as far as the reports tell: each holder has half a step unreported.
    private static func estimate(_ entry: Entry) -> Double {
        reported(entry) + Double(entry.holders) * Double(entry.step) / 2
    }

    /// The most the SA can have carried: each holder has less than a step unreported.
    private static func bound(_ entry: Entry) -> Double {
        reported(entry) + Double(entry.holders) * Double(entry.step)
    }

    private static func reported(_ entry: Entry) -> Double {
        entry.reports.values.reduce(0.0) { $0 + Double($1.bytes) }
    }
}

/// The agent's side: decides when to report an SA's kernel counters.
public struct LifesizeReporter: Sendable {
    public let saID: ClusterSAID
    /// Report each time the byte count grows by this much (from the SA's description; 0: never).
    public let step: UInt64
    /// The byte count at which the next report is due.
    public private(set) var nextReportAt: UInt64

    public init(saID: ClusterSAID, step: UInt64) {
        self.saID = saID
        self.step = step
        nextReportAt = step
    }

    /// Given the kernel's counters now (cumulative since install), the report to send, if a
    /// step boundary was crossed since the last one.
    public mutating func observe(bytes: UInt64, packets: UInt64) -> ClusterMessage.LifesizeReport? {
        guard step > 0, bytes >= nextReportAt else { return nil }
        let (steps, overflow) = (bytes / step).addingReportingOverflow(1)
        let (next, overflow2) = steps.multipliedReportingOverflow(by: step)
        nextReportAt = overflow || overflow2 ? .max : next
        return ClusterMessage.LifesizeReport(saID: saID, bytes: bytes, packets: packets)
    }

    /// The last report, sent when the agent removes the SA (whatever the step), or when the
    /// kernel expired it on its hard byte limit (`hardLimitReached`).
    public func finalReport(bytes: UInt64, packets: UInt64, hardLimitReached: Bool = false) -> ClusterMessage.LifesizeReport {
        ClusterMessage.LifesizeReport(saID: saID, bytes: bytes, packets: packets, hardLimitReached: hardLimitReached)
    }
}
