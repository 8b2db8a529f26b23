// The inbound distributor's part of the routing node's status (claims 2-10): the
// classifier's counters per reason and the connection table's entries per target. Plain
// values (names and numbers) so that ClusterNode does not depend on the distributor.

/// What `vipsec status` shows of the inbound distributor (routing node, `inbound { }` set).
public struct InboundStatus: Codable, Equatable, Sendable {
    /// "direct" (claim 6) or "encapsulated".
    public var mode: String
    /// The NFQUEUE number.
    public var queue: Int
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
    /// The NFQUEUE socket's counters (received, accepted, dropped, malformed...).
    public var queueCounters: [String: UInt64]
    /// Authenticated replay reports (targets' kernels, XFRM NEWAE) applied to the windows.
    public var replayEvidence: UInt64
    /// Reports lost because the distributor's worker fell behind (nothing is dropped silently).
    public var replayEvidenceLost: UInt64
    /// Each inbound SA's window top T (SPI as `ip xfrm state` prints it, "0x0000c0de" → the
    /// highest authenticated sequence number; 0 = no evidence yet).
    public var windowTops: [String: UInt64]

    public init(mode: String, queue: Int, sas: Int = 0, forwarded: UInt64 = 0, dropped: [String: UInt64] = [:],
                local: [String: UInt64] = [:], placements: [String: UInt64] = [:], flowsPerTarget: [String: Int] = [:],
                queueCounters: [String: UInt64] = [:], replayEvidence: UInt64 = 0, replayEvidenceLost: UInt64 = 0,
                windowTops: [String: UInt64] = [:]) {
        self.mode = mode
        self.queue = queue
        self.sas = sas
        self.forwarded = forwarded
        self.dropped = dropped
        self.local = local
        self.placements = placements
        self.flowsPerTarget = flowsPerTarget
        self.queueCounters = queueCounters
        self.replayEvidence = replayEvidence
        self.replayEvidenceLost = replayEvidenceLost
        self.windowTops = windowTops
    }

    /// Total drops over every reason.
    public var droppedTotal: UInt64 { dropped.values.reduce(0, &+) }

    /// `key=value` pairs sorted by key; zeros left out unless everything is zero.
    static func pairs<V: BinaryInteger>(_ values: [String: V]) -> String {
        let shown = values.filter { $0.value != 0 }.sorted { $0.key < $1.key }
        return shown.isEmpty ? "none" : shown.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }

    /// The lines of the text status.
    public var lines: [String] {
        ["inbound (\(mode), queue \(queue)): \(sas) SAs, forwarded \(forwarded), dropped \(droppedTotal), "
            + "flows \(flowsPerTarget.values.reduce(0, +))",
         "  flows per target: \(Self.pairs(flowsPerTarget))",
         "  dropped: \(Self.pairs(dropped))",
         "  local: \(Self.pairs(local))  placements: \(Self.pairs(placements))",
         "  queue: \(Self.pairs(queueCounters))",
         "  replay evidence: \(replayEvidence) reports, \(replayEvidenceLost) lost; window tops: \(Self.pairs(windowTops))"]
    }

    /// One line for the SIGUSR1 log (`inbound: mode=direct … forwarded=… dropped=… drop_no-sa=… flows=t1:3,…`).
    public var counterLine: String {
        let flows = flowsPerTarget.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ",")
        let drops = dropped.filter { $0.value != 0 }.sorted { $0.key < $1.key }.map { " drop_\($0.key)=\($0.value)" }.joined()
        return "inbound: mode=\(mode) queue=\(queue) sas=\(sas) forwarded=\(forwarded) dropped=\(droppedTotal)\(drops) "
            + "flows=\(flows.isEmpty ? "-" : flows) replay_evidence=\(replayEvidence) replay_evidence_lost=\(replayEvidenceLost)"
    }
}
