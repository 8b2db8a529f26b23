// The agent's side of inbound claim 10's distributed connection table: of the connection
// ends its kernel's conntrack reports, keep those of inbound cluster traffic (TCP or UDP to
// an address the peer's inner packets go to: the DVIPA) and hand them to the routing node
// in batches (`ClusterMessage.FlowEndReport`). Pure: the conntrack watcher feeds it, the
// agent's tick takes the batches (ClusterNode/Agent/ConntrackWatcher.swift).

/// Filters and batches connection ends for `FlowEndReport`s.
public struct FlowEndBatcher: Sendable {
    /// What became of the ends offered so far.
    public struct Counters: Equatable, Sendable {
        /// Kept for a report.
        public var kept: UInt64 = 0
        /// Not inbound cluster traffic (another destination, or neither TCP nor UDP).
        public var filtered: UInt64 = 0
        /// A destroy of a TCP connection already reported when it closed (same conntrack id).
        public var alreadyReported: UInt64 = 0
        /// Lost because `maximumPending` were waiting (the routing node unreachable): those
        /// entries end by its idle timeout instead.
        public var lost: UInt64 = 0
        /// Flows sent in reports.
        public var reported: UInt64 = 0
        /// Reports sent.
        public var reports: UInt64 = 0
    }

    /// The destinations of inbound cluster traffic (the DVIPA).
    public var destinations: Set<IPAddress>
    /// A batch leaves when it is full or its oldest flow waited this long.
    public var delay: Duration
    /// Flows waiting at most.
    public var maximumPending: Int
    public private(set) var counters = Counters()
    private var pending: [InnerFiveTuple] = []
    private var oldest: ClusterInstant?
    /// Conntrack ids of TCP connections reported at TIME_WAIT/CLOSE, oldest first (their
    /// destroy comes up to 120 s later and must not end a newer connection's entry).
    private var closedIDs: Set<UInt32> = []
    private var closedOrder: [UInt32] = []
    private let maximumClosedIDs: Int

    public init(destinations: Set<IPAddress>, delay: Duration = .milliseconds(200), maximumPending: Int = 16384,
                maximumClosedIDs: Int = 65536) {
        self.destinations = destinations
        self.delay = delay
        self.maximumPending = maximumPending
        self.maximumClosedIDs = maximumClosedIDs
    }

    /// Whether `flow` (original direction) is inbound cluster traffic.
    public func isInbound(_ flow: InnerFiveTuple) -> Bool {
        ClusterMessage.FlowEndReport.protocols.contains(flow.ipProtocol) && destinations.contains(flow.destination)
    }

    /// A connection ended: `closed` when a TCP entry reached TIME_WAIT or CLOSE (its destroy
    /// follows later), else destroyed. `id`: conntrack's CTA_ID, when known.
    public mutating func ended(_ flow: InnerFiveTuple, id: UInt32?, closed: Bool, now: ClusterInstant) {
        guard isInbound(flow) else { counters.filtered += 1; return }
        if let id, closed ? closedIDs.contains(id) : closedIDs.remove(id) != nil {
            counters.alreadyReported += 1
            return
        }
        guard pending.count < maximumPending else { counters.lost += 1; return }
        if let id, closed { remember(id) }
        if pending.isEmpty { oldest = now }
        pending.append(flow)
        counters.kept += 1
    }

    private mutating func remember(_ id: UInt32) {
        closedIDs.insert(id)
        closedOrder.append(id)
        guard closedOrder.count > maximumClosedIDs else { return }
        let gone = closedOrder.count - maximumClosedIDs / 2
        for old in closedOrder.prefix(gone) { closedIDs.remove(old) }
        closedOrder.removeFirst(gone)
    }

    /// The reports due at `now`: full batches at once, the rest once its oldest flow has
    /// waited `delay`.
    public mutating func take(now: ClusterInstant) -> [ClusterMessage.FlowEndReport] {
        let size = ClusterMessage.FlowEndReport.maximumFlows
        guard let oldest, pending.count >= size || oldest + delay <= now else { return [] }
        var reports: [ClusterMessage.FlowEndReport] = []
        var start = 0
        while start < pending.count {
            reports.append(.init(flows: Array(pending[start..<min(start + size, pending.count)])))
            start += size
        }
        counters.reported += UInt64(pending.count)
        counters.reports += UInt64(reports.count)
        pending.removeAll(keepingCapacity: true)
        self.oldest = nil
        return reports
    }

    /// Flows waiting now.
    public var pendingCount: Int { pending.count }
}
