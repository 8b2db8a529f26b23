// The routing node's metrics (README, "Operations: metrics"), kept with swift-metrics on a
// swift-prometheus registry. At each scrape the daemon's counters (the same numbers as
// SIGUSR1 and `vipsec list-sas`) are read and moved into the metrics: counters advance by
// what happened since the last scrape, gauges take the current value.
import CoreMetrics

import IKEDaemon
import Prometheus

/// What a scrape reads besides the IKE daemon: the cluster's members by health (routing
/// node in a cluster), nil standalone.
public struct ClusterMetricsSnapshot: Equatable, Sendable {
    /// "live" and "silent" members.
    public var membersByHealth: [String: Int]
    /// Installs finished since the last scrape: CHILD_SA negotiated to targets' acknowledgement.
    public var installLatencies: [Duration]
    /// The targets' lifesize reports summed over the SAs the routing node holds.
    public var reportedBytes: UInt64
    public var reportedPackets: UInt64
    /// The inbound distributor's counters (nil: no `inbound { }`).
    public var inbound: InboundMetrics?
    /// The targets' reports by kind (`replay`, `replay_below_high_water`, `flow_reports`,
    /// `flows_reported`, `flows_unknown_sa`).
    public var targetReports: [String: Int] = [:]
    /// HA: the inbound replay marks in etcd by event (`written`, `deleted`, `kept`, `fenced`,
    /// `failed`, `adopted`, `refused`); empty without `ha { seal_key }`.
    public var replayMarks: [String: Int] = [:]

    public struct InboundMetrics: Equatable, Sendable {
        public var forwarded: UInt64
        /// Per reason (`no-sa`, `replay`, `too-short`...), zeros included.
        public var dropped: [String: UInt64]
        /// Per NFQUEUE number ("0", "1"...): its socket's counters (`received`, `accepted`, `dropped`...).
        public var queues: [String: [String: UInt64]]
        /// Packets whose ICV the routing node verified (`verify`; wrong ones: `dropped["icv"]`).
        public var verified: UInt64
        /// `under-attack`: SAs being verified now.
        public var verifyingSAs: Int
        /// Connection ends the targets reported, per result (`ended-by-target`, `not-owner`, `no-entry`, `lost`).
        public var flowEnds: [String: UInt64]
        /// Connections the targets reported holding after a Welcome, per result (`placed`, `kept`, ...).
        public var heldFlows: [String: UInt64]
        public init(forwarded: UInt64, dropped: [String: UInt64], queues: [String: [String: UInt64]] = [:],
                    verified: UInt64 = 0, verifyingSAs: Int = 0, flowEnds: [String: UInt64] = [:],
                    heldFlows: [String: UInt64] = [:]) {
            (self.forwarded, self.dropped, self.queues) = (forwarded, dropped, queues)
            (self.verified, self.verifyingSAs, self.flowEnds) = (verified, verifyingSAs, flowEnds)
            self.heldFlows = heldFlows
        }
    }

    public init(membersByHealth: [String: Int], installLatencies: [Duration] = [], reportedBytes: UInt64 = 0,
                reportedPackets: UInt64 = 0, inbound: InboundMetrics? = nil) {
        self.membersByHealth = membersByHealth
        self.installLatencies = installLatencies
        self.reportedBytes = reportedBytes
        self.reportedPackets = reportedPackets
        self.inbound = inbound
    }
}

/// The metrics objects and their last values. Used from one scrape at a time (the HTTP
/// server serialises updates with a lock).
public final class RoutingMetrics: @unchecked Sendable {
    private let book: MetricsBook
    public var registry: PrometheusCollectorRegistry { book.registry }

    /// The install latency histogram's buckets: 5 ms to 20 s (the install timeout's range).
    public static let installLatencyBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(20),
    ]
    static let installLatencyName = "vipsec_cluster_sa_install_seconds"

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        book = MetricsBook(registry: registry, histogramBuckets: [Self.installLatencyName: Self.installLatencyBuckets])
    }

    /// Status fields that count refusals of a peer's IKE_SA (our notify) and drops, with
    /// the `reason` label they get on vipsec_ike_sa_setup_failures_total.
    static let refusalFields: [String: String] = [
        "no_connection": "no_connection", "half_open_limit_drops": "half_open_limit",
        "half_open_per_peer_drops": "half_open_per_peer", "half_open_timeouts": "half_open_timeout",
        "bad_cookies": "bad_cookie",
    ]

    /// Moves a snapshot into the metrics.
    public func update(_ snapshot: GatewayMetricsSnapshot, cluster: ClusterMetricsSnapshot?) {
        let f = snapshot.fields
        gauge("vipsec_ike_sas", [], f["ike_sas"] ?? 0)
        gauge("vipsec_ike_sas_half_open", [], f["half_open"] ?? 0)
        gauge("vipsec_child_sas", [], f["child_sas"] ?? 0)
        count("vipsec_ike_sa_established_total", [], f["established_total"] ?? 0)
        // Setup failures: IKE_SAs that closed before IKE_AUTH completed (either side), the
        // peers' requests we refused with a notify, and those dropped by the limits.
        for (reason, value) in snapshot.setupFailures { count("vipsec_ike_sa_setup_failures_total", [("reason", reason)], value) }
        for (name, value) in f where name.hasPrefix("refused_") {
            count("vipsec_ike_sa_setup_failures_total", [("reason", String(name.dropFirst("refused_".count)))], value)
        }
        for (field, reason) in Self.refusalFields { count("vipsec_ike_sa_setup_failures_total", [("reason", reason)], f[field] ?? 0) }
        count("vipsec_ike_sa_rekeys_total", [], f["ike_rekeys"] ?? 0)
        count("vipsec_ike_sa_rekey_failures_total", [], f["ike_rekeys_failed"] ?? 0)
        count("vipsec_child_sa_rekeys_total", [], snapshot.childRekeys)
        count("vipsec_child_sa_install_failures_total", [], f["child_sa_install_failures"] ?? 0)
        count("vipsec_dpd_checks_total", [], snapshot.livenessChecks)
        count("vipsec_dpd_dead_peers_total", [], snapshot.deadPeers)
        count("vipsec_ike_messages_dropped_total", [("reason", "malformed")], f["malformed"] ?? 0)
        count("vipsec_ike_messages_dropped_total", [("reason", "unknown_spi")], f["unknown_spi"] ?? 0)
        count("vipsec_ike_messages_dropped_total", [("reason", "integrity")], f["integrity_failures"] ?? 0)
        count("vipsec_ike_retransmissions_total", [], f["retransmissions_sent"] ?? 0)
        // RFC 7383: authentic fragments taken, whole messages made of them or sent as them,
        // fragments dropped by a reassembly bound.
        count("vipsec_ike_fragments_received_total", [], f["fragments_received"] ?? 0)
        count("vipsec_ike_fragmented_messages_total", [("direction", "in")], f["fragmented_messages_reassembled"] ?? 0)
        count("vipsec_ike_fragmented_messages_total", [("direction", "out")], f["fragmented_messages_sent"] ?? 0)
        for (name, value) in f where name.hasPrefix("fragments_dropped_") {
            count("vipsec_ike_fragments_dropped_total", [("reason", String(name.dropFirst("fragments_dropped_".count)))], value)
        }
        if let cluster {
            for health in ["live", "silent"] {
                gauge("vipsec_cluster_members", [("health", health)], cluster.membersByHealth[health] ?? 0)
            }
            book.record(Self.installLatencyName, cluster.installLatencies)
            for (kind, value) in cluster.targetReports { count("vipsec_cluster_target_reports_total", [("kind", kind)], value) }
            for (event, value) in cluster.replayMarks { count("vipsec_ha_replay_marks_total", [("event", event)], value) }
            gauge("vipsec_cluster_lifesize_reported_bytes", [], Int(clamping: cluster.reportedBytes))
            gauge("vipsec_cluster_lifesize_reported_packets", [], Int(clamping: cluster.reportedPackets))
            if let inbound = cluster.inbound {
                count("vipsec_inbound_forwarded_total", [], Int(clamping: inbound.forwarded))
                for (reason, value) in inbound.dropped {
                    count("vipsec_inbound_dropped_total", [("reason", reason)], Int(clamping: value))
                }
                count("vipsec_inbound_verified_total", [], Int(clamping: inbound.verified))
                gauge("vipsec_inbound_verifying_sas", [], inbound.verifyingSAs)
                for (result, value) in inbound.flowEnds {
                    count("vipsec_inbound_flow_ends_total", [("result", result)], Int(clamping: value))
                }
                for (result, value) in inbound.heldFlows {
                    count("vipsec_inbound_held_flows_total", [("result", result)], Int(clamping: value))
                }
                gauge("vipsec_inbound_queues", [], inbound.queues.count)
                for (queue, counters) in inbound.queues {
                    count("vipsec_inbound_queue_packets_total", [("queue", queue)], Int(clamping: counters["received"] ?? 0))
                    for verdict in ["accepted", "dropped"] {
                        count("vipsec_inbound_queue_verdicts_total", [("queue", queue), ("verdict", verdict)],
                              Int(clamping: counters[verdict] ?? 0))
                    }
                }
            }
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    public func exposition() -> [UInt8] { book.exposition() }

    static func nanoseconds(_ duration: Duration) -> Int64 { MetricsBook.nanoseconds(duration) }

    private func count(_ name: String, _ labels: [(String, String)], _ value: Int) { book.count(name, labels, value) }
    private func gauge(_ name: String, _ labels: [(String, String)], _ value: Int) { book.gauge(name, labels, value) }
}
