// The IKE daemon's numbers for the metrics endpoint (OperatorMetrics): the SIGUSR1 status
// counters and the operator bookkeeping (IKEGateway+Operator.swift), summed over workers.
import Foundation
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
    public func workersRespond(within timeout: Duration) async -> Bool {
        guard let workers = running else { return true }   // starting or stopping
        return await workers.collect { _ in }.completes(within: timeout)
    }
}

extension EventLoopFuture {
    /// True when this future completes (either way) within `timeout`; false when it does
    /// not, even if its event loop never runs again (the timer is a task, not the loop's).
    public func completes(within timeout: Duration) async -> Bool {
        let waiting = OnceContinuation()
        return await withCheckedContinuation { continuation in
            waiting.set(continuation)
            whenComplete { _ in waiting.resume(returning: true) }
            Task {
                try? await Task.sleep(for: timeout)
                waiting.resume(returning: false)
            }
        }
    }
}

/// A continuation resumed by whichever of two callers comes first.
private final class OnceContinuation: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Bool, Never>?

    func set(_ continuation: CheckedContinuation<Bool, Never>) {
        lock.withLock { self.continuation = continuation }
    }

    func resume(returning value: Bool) {
        lock.withLock { () -> CheckedContinuation<Bool, Never>? in
            defer { continuation = nil }
            return continuation
        }?.resume(returning: value)
    }
}
