import Cluster

/// What `vipsec status` shows: a routing node's or a target's view, JSON-encodable. Built
/// by the routing node's `ClusterService` or a target's `ClusterAgent`; never holds key bytes.
public struct NodeStatus: Codable, Equatable, Sendable {
    /// "routing" or "target".
    public var role: String
    public var node: String
    public var routing: RoutingStatus?
    public var target: TargetStatus?

    public init(role: String, node: String, routing: RoutingStatus? = nil, target: TargetStatus? = nil) {
        self.role = role
        self.node = node
        self.routing = routing
        self.target = target
    }
}

/// Drops on the cluster channel, by reason (see `ClusterDropCounters`), and the SA
/// authority's own counts of messages it ignored.
public struct DropStatus: Codable, Equatable, Sendable {
    public var frames: [String: Int]
    public var connectionsClosedForFraming: Int
    public var fromNonMembers: Int
    public var unexpected: Int
    public var unknownSA: Int

    /// Everything dropped, whatever the reason.
    public var total: Int { frames.values.reduce(0, +) + fromNonMembers + unexpected + unknownSA }
}

/// The routing node's view of the cluster.
public struct RoutingStatus: Codable, Equatable, Sendable {
    /// The routing node's epoch, hex.
    public var epoch: String
    public var listen: String
    public var heartbeatIntervalMilliseconds: Int
    public var failureTimeoutMilliseconds: Int
    public var installTimeoutMilliseconds: Int
    /// N: the lifesize reporting percentage for SAs distributed from now on.
    public var reportingPercent: Double
    public var members: [MemberStatus]
    /// The SA authority's SAs, as its snapshot (`SAAuthority.status(now:)`) has them.
    public var sas: [ClusterStatus.SAStatus]
    /// IKE responses held until their SAs are acknowledged.
    public var heldResponses: Int
    public var drops: DropStatus
    /// The targets' replay and held-connection reports (taken, below the mark, dropped).
    public var reports: ClusterStatus.ReportStatus? = nil
    /// Recent membership events, newest last (joins, drops, refusals).
    public var events: [String]
    /// The inbound distributor (nil: `inbound { }` not configured; absent from the JSON).
    public var inbound: InboundStatus? = nil
    /// The HA election as this node sees it (nil: no `ha { }`; absent from the JSON).
    public var ha: HAStatus? = nil
}

/// `vipsec { cluster { ha { } } }`: this routing node's role in the election (issue 19).
public struct HAStatus: Codable, Equatable, Sendable {
    /// "active", "standby", "campaigning", "starting" (getting a lease) or "stopped".
    public var role: String
    /// The term this node holds while active (the last one it held, after).
    public var term: Int64?
    /// Who holds the leader key as last read, and its term.
    public var leader: String?
    public var leaderTerm: Int64?
    /// "reachable" when the last request to etcd succeeded, else "unreachable".
    public var etcd: String
    /// Active: milliseconds before this node must stop serving unless a keepalive is acknowledged.
    public var servingMillisecondsLeft: Int64?
    /// Step-downs since start, by reason (deadline, lease-lost, fenced, shutdown).
    public var stepDowns: [String: Int]
    /// When the role last changed, CLOCK_MONOTONIC in ms: nodes on one host (the lab's
    /// namespaces) can be put in order by it.
    public var roleSinceMonotonicMilliseconds: Int64
    /// With `ha.seal_key` (IKE state kept in etcd), else nil.
    public var takeover: TakeoverStatus?

    /// The IKE state in etcd (docs/takeover.md): whether this node's takeover is done (it then
    /// answers IKE and admits agents), records written and deleted, writes refused because
    /// another node leads or failed, records adopted and refused at this node's takeovers.
    public struct TakeoverStatus: Codable, Equatable, Sendable {
        public var ready: Bool
        public var puts: Int
        public var deletes: Int
        public var fenced: Int
        public var failed: Int
        public var adopted: Int
        public var refused: Int
        /// When this node last became ready (CLOCK_MONOTONIC, ms): a takeover's end, exactly.
        public var readySinceMonotonicMilliseconds: Int64?
        /// The inbound replay marks in etcd (claim 22): written, deleted, kept (etcd held one
        /// as high), fenced, failed; adopted and refused at this node's takeovers.
        public var replayMarks: ReplayMarkStatus?

        public struct ReplayMarkStatus: Codable, Equatable, Sendable {
            public var written: Int
            public var deleted: Int
            public var kept: Int
            public var fenced: Int
            public var failed: Int
            public var adopted: Int
            public var refused: Int
            public init(written: Int, deleted: Int, kept: Int, fenced: Int, failed: Int, adopted: Int, refused: Int) {
                (self.written, self.deleted, self.kept, self.fenced) = (written, deleted, kept, fenced)
                (self.failed, self.adopted, self.refused) = (failed, adopted, refused)
            }
        }
        public init(ready: Bool, puts: Int, deletes: Int, fenced: Int, failed: Int, adopted: Int, refused: Int,
                    readySinceMonotonicMilliseconds: Int64? = nil, replayMarks: ReplayMarkStatus? = nil) {
            self.readySinceMonotonicMilliseconds = readySinceMonotonicMilliseconds
            self.replayMarks = replayMarks
            self.ready = ready
            self.puts = puts
            self.deletes = deletes
            self.fenced = fenced
            self.failed = failed
            self.adopted = adopted
            self.refused = refused
        }
    }

    public init(role: String, term: Int64?, leader: String?, leaderTerm: Int64?, etcd: String,
                servingMillisecondsLeft: Int64?, stepDowns: [String: Int], roleSinceMonotonicMilliseconds: Int64,
                takeover: TakeoverStatus? = nil) {
        self.takeover = takeover
        self.roleSinceMonotonicMilliseconds = roleSinceMonotonicMilliseconds
        self.role = role
        self.term = term
        self.leader = leader
        self.leaderTerm = leaderTerm
        self.etcd = etcd
        self.servingMillisecondsLeft = servingMillisecondsLeft
        self.stepDowns = stepDowns
    }

    var lines: [String] {
        ["HA: \(role)\(term.map { ", term \($0)" } ?? ""), leader \(leader ?? "none")\(leaderTerm.map { " (term \($0))" } ?? ""), etcd \(etcd)"
            + (servingMillisecondsLeft.map { ", serving for \($0) ms more" } ?? "")
            + (stepDowns.isEmpty ? "" : ", step-downs " + stepDowns.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " "))]
            + (takeover.map { ["HA IKE state in etcd: \($0.ready ? "ready" : "not ready"), records put \($0.puts), deleted \($0.deletes), "
                + "fenced \($0.fenced), failed \($0.failed); takeovers adopted \($0.adopted), refused \($0.refused)"] } ?? [])
            + (takeover?.replayMarks.map { ["HA replay marks in etcd: written \($0.written), deleted \($0.deleted), kept \($0.kept), "
                + "fenced \($0.fenced), failed \($0.failed); takeovers adopted \($0.adopted), refused \($0.refused)"] } ?? [])
    }
}

/// One live target.
public struct MemberStatus: Codable, Equatable, Sendable {
    public var node: String
    public var clusterAddress: String
    public var incarnation: String
    /// "live", or "silent" once not heard from for more than two heartbeat intervals.
    public var health: String
    public var lastHeardMillisecondsAgo: Int
    public var memberForSeconds: Int
}

/// A target's view: its shadow SA cache and kernel counters.
public struct TargetStatus: Codable, Equatable, Sendable {
    public var epoch: String
    public var connected: Bool
    public var routing: String
    public var dvipa: String?
    public var graceSeconds: Double
    public var lastContactMillisecondsAgo: Int?
    public var sas: [ShadowSAStatus]
    public var drops: DropStatus
    /// Kernel operations that failed, newest last (text from the kernel, never keys).
    public var kernelErrors: [String]
    public var reconnects: Int
    /// HA: the highest leader term this target accepted (absent without HA: frames carry none).
    public var term: UInt64? = nil
    /// What this agent reported after the resyncs that follow Welcomes (`rounds`,
    /// `replay-states`, `flow-reports`, `flows`, `unmatched`, `failures`); absent before the first.
    public var reportsAfterWelcome: [String: Int]? = nil
}

/// One SA of the shadow cache with what the kernel says about it.
public struct ShadowSAStatus: Codable, Equatable, Sendable {
    public var id: UInt64
    public var spi: String
    public var direction: String
    public var source: String
    public var destination: String
    public var sequencing: String
    /// False when the kernel does not hold it (e.g. a shared SA waiting for its block).
    public var inKernel: Bool
    public var bytes: UInt64
    public var packets: UInt64
    public var outputSequence: UInt64?
    public var sequenceBlock: String?
}

extension NodeStatus {
    /// The human-readable table `vipsec status` prints without `--json`.
    public var table: String {
        var lines: [String] = []
        if let routing {
            lines.append("routing node \(node), epoch \(routing.epoch), listening on \(routing.listen)")
            if let ha = routing.ha { lines += ha.lines }
            lines.append("members (\(routing.members.count)):")
            for member in routing.members {
                lines.append("  \(member.node.padding(12)) \(member.clusterAddress.padding(16)) \(member.health.padding(7)) heard \(member.lastHeardMillisecondsAgo) ms ago, member for \(member.memberForSeconds) s")
            }
            lines.append("SAs (\(routing.sas.count)), lifesize reporting every \(routing.reportingPercent) % of the byte limit:")
            for sa in routing.sas {
                lines.append("  sa#\(sa.saID) spi \(sa.spi) \(sa.direction) \(sa.source) -> \(sa.destination) \(sa.mode) reqid \(sa.reqid) \(sa.sequencing)")
                lines.append("      holders: \(sa.holders.joined(separator: ",").orNone)  pending: \(sa.pending.joined(separator: ",").orNone)  refused: \(sa.refused.map { "\($0.key)(\($0.value))" }.sorted().joined(separator: ",").orNone)")
                if let life = sa.lifesize {
                    lines.append("      lifesize: \(life.reportedBytes) of \(life.byteLimit) bytes, \(life.reportedPackets) packets, \(life.reporters) reporters, step \(life.reportStep)\(life.rekeyRequested ? ", rekey requested" : "")")
                }
                if let blocks = sa.sequence {
                    let held = blocks.blocks.map { "\($0.key): \($0.value.joined(separator: " "))" }.sorted().joined(separator: "; ")
                    lines.append("      sequence blocks of \(blocks.blockSize), high-water mark \(blocks.highWaterMark): \(held.orNone)")
                }
            }
            lines.append("held IKE responses: \(routing.heldResponses)")
            lines.append("dropped: \(routing.drops.summary)")
            if let reports = routing.reports {
                lines.append("target reports: replay \(reports.replayReports) (\(reports.replayBelowHighWater) below the high-water mark, kept); "
                    + "held connections \(reports.flowsReported) in \(reports.flowReports) reports, \(reports.flowsUnknownSA) of unknown SAs dropped")
            }
            if let inbound = routing.inbound { lines += inbound.lines }
        }
        if let target {
            lines.append("target \(node), \(target.connected ? "connected to" : "NOT connected to") \(target.routing), epoch \(target.epoch)\(target.term.map { ", term \($0)" } ?? ""), DVIPA \(target.dvipa ?? "-"), reconnects \(target.reconnects)")
            lines.append("shadow SA cache (\(target.sas.count)):")
            for sa in target.sas {
                var line = "  sa#\(sa.id) spi \(sa.spi) \(sa.direction) \(sa.source) -> \(sa.destination) \(sa.sequencing) \(sa.inKernel ? "in kernel" : "NOT in kernel") bytes \(sa.bytes) packets \(sa.packets)"
                if let block = sa.sequenceBlock { line += " block \(block)" }
                if let oseq = sa.outputSequence { line += " oseq \(oseq)" }
                lines.append(line)
            }
            lines.append("dropped: \(target.drops.summary)")
            if let reports = target.reportsAfterWelcome {
                lines.append("reported after Welcomes: " + reports.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
            }
            if !target.kernelErrors.isEmpty { lines.append("kernel errors: \(target.kernelErrors.joined(separator: "; "))") }
        }
        return lines.joined(separator: "\n")
    }
}

extension DropStatus {
    var summary: String {
        let frames = self.frames.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
        return "\(total) (frames: \(frames.orNone); closed for framing: \(connectionsClosedForFraming); from non-members: \(fromNonMembers); unexpected: \(unexpected); unknown SA: \(unknownSA))"
    }
}

extension String {
    fileprivate var orNone: String { isEmpty ? "-" : self }
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
