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

    mutating func add(_ gateway: IKEGateway) {
        for (name, value) in gateway.statusFields { fields[name, default: 0] += value }
        for (reason, count) in gateway.times.setupFailures { setupFailures[reason, default: 0] += count }
        deadPeers += gateway.times.deadPeers
        childRekeys += gateway.times.childRekeys
        livenessChecks += gateway.times.livenessChecks
    }
}

extension IKEDaemonControl {
    /// The daemon's numbers now; nil when it is not running.
    public func metricsSnapshot() -> EventLoopFuture<GatewayMetricsSnapshot>? {
        guard let workers = lock.withLock({ self.workers }) else { return nil }
        return workers.collect { core -> GatewayMetricsSnapshot in
            var snapshot = GatewayMetricsSnapshot()
            snapshot.add(core.gateway)
            return snapshot
        }.map { parts in
            var total = GatewayMetricsSnapshot()
            for part in parts {
                for (name, value) in part.fields { total.fields[name, default: 0] += value }
                for (reason, count) in part.setupFailures { total.setupFailures[reason, default: 0] += count }
                total.deadPeers += part.deadPeers
                total.childRekeys += part.childRekeys
                total.livenessChecks += part.livenessChecks
            }
            return total
        }
    }

    /// True when every IKE worker ran a task within `timeout` (the systemd watchdog's test).
    /// Call it from a thread that is not an event loop.
    public func workersRespond(within timeout: TimeAmount) -> Bool {
        guard let workers = lock.withLock({ self.workers }) else { return true }   // starting or stopping
        let done = workers.collect { _ in true }
        let deadline = DispatchTime.now() + .nanoseconds(Int(timeout.nanoseconds))
        let semaphore = DispatchSemaphore(value: 0)
        done.whenComplete { _ in semaphore.signal() }
        return semaphore.wait(timeout: deadline) == .success
    }
}
