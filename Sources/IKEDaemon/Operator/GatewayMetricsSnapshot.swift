// The IKE daemon's numbers for the metrics endpoint (OperatorMetrics): the SIGUSR1 status
// counters and the operator bookkeeping (IKEGateway+Operator.swift), summed over workers.
import Dispatch
import NIOCore

/// Counters and gauges of the whole daemon at one moment.
public struct GatewayMetricsSnapshot: Equatable, Sendable {
    /// The status line's fields (GatewayStatus.swift): ike_sas, half_open, child_sas,
    /// established_total, refused_<NOTIFY>, ike_rekeys, ...
    public var fields: [String: Int] = [:]
    /// IKE_SAs that closed before they were established, by reason (timeout, authentication, ...).
    public var setupFailures: [String: Int] = [:]
    /// Established IKE_SAs closed because the peer stopped answering (DPD or any exchange).
    public var deadPeers = 0
    public var childRekeys = 0
    public var livenessChecks = 0

    public init() {}

    init(_ gateway: IKEGateway) {
        fields = Dictionary(gateway.statusFields, uniquingKeysWith: +)
        setupFailures = gateway.times.setupFailures
        deadPeers = gateway.times.deadPeers
        childRekeys = gateway.times.childRekeys
        livenessChecks = gateway.times.livenessChecks
    }

    /// Sums another worker's numbers into these.
    mutating func merge(_ other: Self) {
        fields.merge(other.fields, uniquingKeysWith: +)
        setupFailures.merge(other.setupFailures, uniquingKeysWith: +)
        deadPeers += other.deadPeers
        childRekeys += other.childRekeys
        livenessChecks += other.livenessChecks
    }
}

extension IKEDaemonControl {
    /// The daemon's numbers now; nil when it is not running.
    public func metricsSnapshot() -> EventLoopFuture<GatewayMetricsSnapshot>? {
        guard let workers = running else { return nil }
        return workers.collect { GatewayMetricsSnapshot($0.gateway) }
            .map { $0.reduce(into: GatewayMetricsSnapshot()) { $0.merge($1) } }
    }

    /// True when every IKE worker ran a task within `timeout` (the systemd watchdog's test).
    /// Call it from a thread that is not an event loop.
    public func workersRespond(within timeout: TimeAmount) -> Bool {
        guard let workers = running else { return true }   // starting or stopping
        let done = workers.collect { _ in true }
        let deadline = DispatchTime.now() + .nanoseconds(Int(timeout.nanoseconds))
        let semaphore = DispatchSemaphore(value: 0)
        done.whenComplete { _ in semaphore.signal() }
        return semaphore.wait(timeout: deadline) == .success
    }
}
