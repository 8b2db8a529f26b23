// `vipsec target`'s metrics (README, "Operations: metrics"): the agent's numbers
// (ClusterNode/Agent/ClusterAgent+Metrics.swift) kept with swift-metrics on a
// swift-prometheus registry. Counters advance by what happened since the last scrape,
// gauges take the current value.
import ClusterNode
import Prometheus

public final class AgentMetrics: @unchecked Sendable {
    private let book: MetricsBook

    /// The install latency histogram's buckets: 100 µs to 5 s (one netlink round trip and
    /// the policies, up to a kernel busy under load).
    public static let installLatencyBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
    ]
    static let installLatencyName = "vipsec_agent_sa_install_seconds"

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        book = MetricsBook(registry: registry, histogramBuckets: [Self.installLatencyName: Self.installLatencyBuckets])
    }

    /// Moves a snapshot into the metrics.
    public func update(_ snapshot: AgentMetricsSnapshot) {
        book.gauge("vipsec_agent_connected", [], snapshot.connected ? 1 : 0)
        book.count("vipsec_agent_reconnects_total", [], snapshot.reconnects)
        for direction in AgentMetricsSnapshot.directions {
            let label = [("direction", direction)]
            book.gauge("vipsec_agent_sas", label, snapshot.sasHeld[direction] ?? 0)
            book.gauge("vipsec_agent_kernel_bytes", label, Int(clamping: snapshot.kernelBytes[direction] ?? 0))
            book.gauge("vipsec_agent_kernel_packets", label, Int(clamping: snapshot.kernelPackets[direction] ?? 0))
            book.count("vipsec_agent_sa_installs_total", label, snapshot.installs[direction] ?? 0)
            book.count("vipsec_agent_sa_removals_total", label, snapshot.removals[direction] ?? 0)
        }
        book.count("vipsec_agent_sa_install_failures_total", [], snapshot.installFailures)
        book.record(Self.installLatencyName, snapshot.installLatencies)
        book.count("vipsec_agent_lifesize_reports_total", [], snapshot.lifesizeReports)
        book.count("vipsec_agent_lifesize_reported_bytes_total", [], Int(clamping: snapshot.reportedBytes))
        book.count("vipsec_agent_lifesize_reported_packets_total", [], Int(clamping: snapshot.reportedPackets))
        book.count("vipsec_agent_kernel_errors_total", [], snapshot.kernelErrors)
        for (reason, value) in snapshot.framesDropped {
            book.count("vipsec_agent_cluster_frames_dropped_total", [("reason", reason)], value)
        }
        for (kind, value) in snapshot.reportsAfterWelcome {
            book.count("vipsec_agent_reports_after_welcome_total", [("kind", kind)], value)
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    public func exposition() -> [UInt8] { book.exposition() }
}
