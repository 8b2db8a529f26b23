// What `vipsec target`'s metrics endpoint reports (OperatorMetrics/AgentMetrics.swift turns
// it into Prometheus metrics): the agent's own counters, kept on its loop as things happen,
// and at each scrape the SAs it holds with the kernel's counters (the same read as
// `vipsec status`, so the numbers agree with `ip -s xfrm state`).
import Cluster
import NIOCore

/// The agent's counters since it started (touched on its loop only).
struct AgentMetricCounters {
    /// SAs the kernel took (installs acknowledged to the routing node), by direction.
    var installs: [String: Int] = [:]
    /// Installs the kernel refused.
    var installFailures = 0
    /// SAs taken out of the kernel (told by the routing node, its grace run out, a hard
    /// expiry, the stop), by direction.
    var removals: [String: Int] = [:]
    /// Install latencies since the last scrape: the routing node's install message received
    /// to the kernel's answer (XFRM_MSG_NEWSA and its policies).
    var installLatencies: [Duration] = []
    /// Lifesize reports sent, and the bytes and packets they added to what this agent had
    /// reported for each SA before (every report carries the SA's running total).
    var lifesizeReports = 0
    var reportedBytes: UInt64 = 0
    var reportedPackets: UInt64 = 0
    var lastReported: [ClusterSAID: (bytes: UInt64, packets: UInt64)] = [:]
    /// Kernel calls that failed (kernelErrors keeps only the last 20 texts).
    var kernelErrors = 0
    /// What the agent reported after the resyncs that follow Welcomes (ClusterAgent+HeldState.swift):
    /// `rounds`, `replay-states`, `flow-reports`, `flows`, `unmatched`, `failures`.
    var reportsAfterWelcome: [String: Int] = [:]

    mutating func reported(_ report: ClusterMessage.LifesizeReport) {
        let last = lastReported[report.saID] ?? (0, 0)
        lifesizeReports += 1
        if report.bytes > last.bytes { reportedBytes += report.bytes - last.bytes }
        if report.packets > last.packets { reportedPackets += report.packets - last.packets }
        lastReported[report.saID] = (max(last.bytes, report.bytes), max(last.packets, report.packets))
    }
}

/// One scrape's numbers.
public struct AgentMetricsSnapshot: Sendable, Equatable {
    /// The cluster channel is up (the routing node's Welcome received).
    public var connected: Bool
    /// Connection attempts that failed or ended, each followed by a retry.
    public var reconnects: Int
    /// SAs in this kernel now, by direction ("in": peer to DVIPA, "out"), zeros included.
    public var sasHeld: [String: Int]
    /// The kernel's byte and packet counters summed over those SAs, by direction; an
    /// inbound SA's packets are the peer's ESP the routing node forwarded to this target and
    /// the kernel decrypted (the agent does not see the packets themselves).
    public var kernelBytes: [String: UInt64]
    public var kernelPackets: [String: UInt64]
    public var installs: [String: Int]
    public var installFailures: Int
    public var removals: [String: Int]
    /// Since the last scrape.
    public var installLatencies: [Duration]
    public var lifesizeReports: Int
    public var reportedBytes: UInt64
    public var reportedPackets: UInt64
    public var kernelErrors: Int
    /// Cluster frames dropped, by reason.
    public var framesDropped: [String: Int]
    /// Reports after the resyncs that follow Welcomes, by kind (`rounds`, `replay-states`,
    /// `flow-reports`, `flows`, `unmatched`, `failures`).
    public var reportsAfterWelcome: [String: Int] = [:]

    public static let directions = ["in", "out"]

    public init(connected: Bool, reconnects: Int, sasHeld: [String: Int], kernelBytes: [String: UInt64],
                kernelPackets: [String: UInt64], installs: [String: Int], installFailures: Int, removals: [String: Int],
                installLatencies: [Duration], lifesizeReports: Int, reportedBytes: UInt64, reportedPackets: UInt64,
                kernelErrors: Int, framesDropped: [String: Int]) {
        self.connected = connected
        self.reconnects = reconnects
        self.sasHeld = sasHeld
        self.kernelBytes = kernelBytes
        self.kernelPackets = kernelPackets
        self.installs = installs
        self.installFailures = installFailures
        self.removals = removals
        self.installLatencies = installLatencies
        self.lifesizeReports = lifesizeReports
        self.reportedBytes = reportedBytes
        self.reportedPackets = reportedPackets
        self.kernelErrors = kernelErrors
        self.framesDropped = framesDropped
    }
}

extension ClusterAgent {
    /// The numbers for one scrape (the install latencies recorded since the last one are
    /// handed over and forgotten). Safe from any thread.
    public func metricsSnapshot() -> EventLoopFuture<AgentMetricsSnapshot> {
        status().flatMap { [self] status in
            loop.submit { [self] in
                func zeros<T: Numeric>() -> [String: T] { Dictionary(uniqueKeysWithValues: AgentMetricsSnapshot.directions.map { ($0, 0) }) }
                var held: [String: Int] = zeros(), bytes: [String: UInt64] = zeros(), packets: [String: UInt64] = zeros()
                for sa in status.target?.sas ?? [] where sa.inKernel {
                    held[sa.direction, default: 0] += 1
                    bytes[sa.direction, default: 0] += sa.bytes
                    packets[sa.direction, default: 0] += sa.packets
                }
                let removals = metricCounters.removals.merging(zeros()) { counted, _ in counted }
                let installs = metricCounters.installs.merging(zeros()) { counted, _ in counted }
                let latencies = metricCounters.installLatencies
                metricCounters.installLatencies = []
                var snapshot = AgentMetricsSnapshot(
                    connected: welcome != nil, reconnects: reconnects, sasHeld: held, kernelBytes: bytes, kernelPackets: packets,
                    installs: installs, installFailures: metricCounters.installFailures, removals: removals,
                    installLatencies: latencies, lifesizeReports: metricCounters.lifesizeReports,
                    reportedBytes: metricCounters.reportedBytes, reportedPackets: metricCounters.reportedPackets,
                    kernelErrors: metricCounters.kernelErrors, framesDropped: drops.snapshot)
                snapshot.reportsAfterWelcome = metricCounters.reportsAfterWelcome
                return snapshot
            }
        }
    }
}
