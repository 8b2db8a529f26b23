// The inbound distributor's part of the routing node's status (claims 2-10): the
// classifier's counters per reason and the connection table's entries per target. Plain
// values (names and numbers) so that ClusterNode does not depend on the distributor.

/// What `vipsec status` shows of the inbound distributor (routing node, `inbound { }` set).
public struct InboundStatus: Codable, Equatable, Sendable {
    /// "direct" (claim 6) or "encapsulated".
    public var mode: String
    /// The first NFQUEUE number.
    public var queue: Int
    /// NFQUEUEs bound (one worker each): queues `queue`...`queue + queueCount - 1`.
    public var queueCount: Int
    /// Inbound SAs the classifier holds keys for (user space only).
    public var sas: Int
    /// Packets forwarded to a target.
    public var forwarded: UInt64
    /// Drops per reason (every reason, zeros included), e.g. `no-sa`, `replay`, `too-short`.
    public var dropped: [String: UInt64]
    /// Packets left to this host's stack per reason (IKE on 4500, keepalives).
    public var local: [String: UInt64]
    /// New connections placed, per kind (table hit, new entry, hash without entry...).
    public var placements: [String: UInt64]
    /// Connection-table entries per target (by node name).
    public var flowsPerTarget: [String: Int]
    /// The NFQUEUE sockets' counters (received, accepted, dropped, malformed...), summed over the queues.
    public var queueCounters: [String: UInt64]
    /// The same counters per queue, by queue number ("0", "1"...).
    public var perQueue: [String: [String: UInt64]]
    /// Authenticated replay reports (targets' kernels, XFRM NEWAE) applied to the windows.
    public var replayEvidence: UInt64
    /// Reports lost because the distributor's worker fell behind (nothing is dropped silently).
    public var replayEvidenceLost: UInt64
    /// Each inbound SA's window top T (SPI as `ip xfrm state` prints it, "0x0000c0de" → the
    /// highest authenticated sequence number; 0 = no evidence yet).
    public var windowTops: [String: UInt64]
    /// ICV verification at the routing node: "never", "always" or "under-attack".
    public var verify: String
    /// Packets whose ICV this node verified (wrong ones: `dropped["icv"]`).
    public var verified: UInt64
    /// `under-attack`: the SPIs whose packets are verified now (sorted).
    public var verifyingSAs: [String]
    /// Connection ends the targets reported (conntrack), per result: `ended-by-target` (the
    /// owner's entry removed), `not-owner` (another target's entry: left alone), `no-entry`,
    /// `lost` (the worker fell behind: those end by the idle timeout).
    public var flowEnds: [String: UInt64]
    /// Connections the targets reported holding after a Welcome (what a new active rebuilds
    /// its table from), per result: `placed`, `kept` (already on that target), `other-owner`,
    /// `unknown-sa`, `outside-selectors`, `table-full`, `lost` (the worker fell behind).
    public var heldFlows: [String: UInt64] = [:]

    public init(mode: String, queue: Int, queueCount: Int = 1, sas: Int = 0, forwarded: UInt64 = 0, dropped: [String: UInt64] = [:],
                local: [String: UInt64] = [:], placements: [String: UInt64] = [:], flowsPerTarget: [String: Int] = [:],
                queueCounters: [String: UInt64] = [:], perQueue: [String: [String: UInt64]] = [:], replayEvidence: UInt64 = 0, replayEvidenceLost: UInt64 = 0,
                windowTops: [String: UInt64] = [:], verify: String = "never", verified: UInt64 = 0, verifyingSAs: [String] = [],
                flowEnds: [String: UInt64] = [:], heldFlows: [String: UInt64] = [:]) {
        self.mode = mode
        self.queue = queue
        self.queueCount = queueCount
        self.sas = sas
        self.forwarded = forwarded
        self.dropped = dropped
        self.local = local
        self.placements = placements
        self.flowsPerTarget = flowsPerTarget
        self.queueCounters = queueCounters
        self.perQueue = perQueue
        self.replayEvidence = replayEvidence
        self.replayEvidenceLost = replayEvidenceLost
        self.windowTops = windowTops
        self.verify = verify
        self.verified = verified
        self.verifyingSAs = verifyingSAs
        self.flowEnds = flowEnds
        self.heldFlows = heldFlows
    }

    /// Total drops over every reason.
    public var droppedTotal: UInt64 { dropped.values.reduce(0, &+) }

    /// `key=value` pairs sorted by key; zeros left out unless everything is zero.
    static func pairs<V: BinaryInteger>(_ values: [String: V]) -> String {
        let shown = values.filter { $0.value != 0 }.sorted { $0.key < $1.key }
        return shown.isEmpty ? "none" : shown.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }

    /// `0` or `0-3`, as the configuration writes it.
    public var queueText: String { queueCount <= 1 ? "\(queue)" : "\(queue)-\(queue + queueCount - 1)" }

    /// The per-queue counters in queue order (numbers, not text order).
    var perQueueSorted: [(queue: String, counters: [String: UInt64])] {
        perQueue.sorted { (Int($0.key) ?? 0) < (Int($1.key) ?? 0) }.map { ($0.key, $0.value) }
    }

    /// The lines of the text status.
    public var lines: [String] {
        var lines = ["inbound (\(mode), \(queueCount <= 1 ? "queue" : "\(queueCount) queues") \(queueText)): \(sas) SAs, "
            + "forwarded \(forwarded), dropped \(droppedTotal), flows \(flowsPerTarget.values.reduce(0, +))",
         "  flows per target: \(Self.pairs(flowsPerTarget))",
         "  dropped: \(Self.pairs(dropped))",
         "  local: \(Self.pairs(local))  placements: \(Self.pairs(placements))",
         "  queue\(queueCount <= 1 ? "" : "s (sum)"): \(Self.pairs(queueCounters))"]
        if queueCount > 1 {
            for (number, counters) in perQueueSorted { lines.append("  queue \(number): \(Self.pairs(counters))") }
        }
        lines.append("  replay evidence: \(replayEvidence) reports, \(replayEvidenceLost) lost; window tops: \(Self.pairs(windowTops))")
        var icv = "  icv verification: \(verify), verified \(verified), icv failures \(dropped["icv"] ?? 0)"
        if verify == "under-attack" { icv += "; verifying: \(verifyingSAs.isEmpty ? "none" : verifyingSAs.joined(separator: " "))" }
        lines.append(icv)
        lines.append("  flow ends reported by targets: \(Self.pairs(flowEnds))")
        lines.append("  connections reported held by targets: \(Self.pairs(heldFlows))")
        return lines
    }

    /// One line for the SIGUSR1 log (`inbound: mode=direct queue=0-1 … forwarded=… dropped=… drop_no-sa=… flows=t1:3,… q0_received=…`).
    public var counterLine: String {
        let flows = flowsPerTarget.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ",")
        let drops = dropped.filter { $0.value != 0 }.sorted { $0.key < $1.key }.map { " drop_\($0.key)=\($0.value)" }.joined()
        let queues = queueCount <= 1 ? "" : perQueueSorted.map { " q\($0.queue)_received=\($0.counters["received"] ?? 0)" }.joined()
        return "inbound: mode=\(mode) queue=\(queueText) sas=\(sas) forwarded=\(forwarded) dropped=\(droppedTotal)\(drops) "
            + "flows=\(flows.isEmpty ? "-" : flows) replay_evidence=\(replayEvidence) replay_evidence_lost=\(replayEvidenceLost)"
            + " verify=\(verify) verified=\(verified) verifying_sas=\(verifyingSAs.count)"
            + " flow_ended_by_target=\(flowEnds["ended-by-target"] ?? 0) flow_end_not_owner=\(flowEnds["not-owner"] ?? 0)"
            + " flow_end_no_entry=\(flowEnds["no-entry"] ?? 0)"
            + " held_flows_placed=\(heldFlows["placed"] ?? 0) held_flows_kept=\(heldFlows["kept"] ?? 0)"
            + " held_flows_dropped=\(heldFlows.filter { !["placed", "kept"].contains($0.key) }.values.reduce(0, &+))\(queues)"
    }
}
