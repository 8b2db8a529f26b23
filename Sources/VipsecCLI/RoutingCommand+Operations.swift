// What `vipsec routing` offers its operator besides IKE (README, "Operations"): the control
// socket (vipsec list-sas/initiate/terminate/rekey), the optional metrics endpoint, and
// systemd's notifications (READY=1 once the IKE sockets and the control socket are up,
// and in a cluster the cluster channel; WATCHDOG=1 while the IKE workers answer; STOPPING=1).
import Cluster
import ClusterNode
import Foundation
import IKEDaemon
import Logging
import NIOCore
import NIOPosix
import OperatorMetrics
import Systemd
import XFRM

/// The operator's side of a running routing node; `stop()` closes it all.
final class RoutingOperations: @unchecked Sendable {
    let control: IKEDaemonControl
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private var socket: OperatorSocketServer?
    private var metricsServer: MetricsHTTPServer?
    private var watchdog: SystemdWatchdog?
    private let notifier = SystemdNotifier()
    private let logger: Logger

    private init(control: IKEDaemonControl, logger: Logger) {
        self.control = control
        self.logger = logger
    }

    /// Binds the control socket and the metrics endpoint (before the IKE daemon runs: a
    /// request meanwhile is answered "not running (yet)"). The binds are awaited, no thread
    /// waits for them; on failure what was bound is closed again.
    static func start(_ config: DaemonConfig, control: IKEDaemonControl, enrich: SAListingEnricher?,
                      cluster: (@Sendable () -> EventLoopFuture<ClusterMetricsSnapshot>)?, connections: ConnectionLister? = nil,
                      logger: Logger) async throws -> RoutingOperations {
        let operations = RoutingOperations(control: control, logger: logger)
        do {
            try await operations.open(config, enrich: enrich, cluster: cluster, connections: connections)
        } catch {
            await operations.stop()
            throw error
        }
        return operations
    }

    private func open(_ config: DaemonConfig, enrich: SAListingEnricher?,
                      cluster: (@Sendable () -> EventLoopFuture<ClusterMetricsSnapshot>)?, connections: ConnectionLister?) async throws {
        // A live daemon's socket is refused, as the agent's status socket is; only a stale
        // file (a killed run's) is replaced. Two daemons must never share one.
        try StartupChecks.socketFree(config.settings.control.socket, option: "vipsec { control { socket } }")
        socket = try await OperatorSocketServer.start(settings: config.settings.control,
                                                      service: OperatorService(control: control, enrich: enrich, connections: connections),
                                                      group: group)
        let who = config.settings.control.group.map { " (group \($0))" } ?? " (root only)"
        logger.info("control socket \(config.settings.control.socket)\(who)")
        if let settings = config.settings.metrics {
            let metrics = RoutingMetrics()
            let loop = self.group.next()
            let control = self.control
            metricsServer = try await MetricsHTTPServer.start(host: settings.host, port: settings.port, metrics: metrics, group: self.group) {
                guard let gateway = control.metricsSnapshot() else { return nil }
                guard let cluster else { return gateway.hop(to: loop).map { ($0, nil) } }
                return gateway.hop(to: loop).and(cluster().hop(to: loop)).map { ($0.0, $0.1) }
            }
            logger.info("metrics on http://\(settings.host):\(settings.port)/metrics")
        }
    }

    /// The daemon is up: READY=1, and the watchdog if the unit has one.
    func ready() {
        notify("READY=1\nSTATUS=IKE, control socket\(metricsServer == nil ? "" : " and metrics") up")
        let control = self.control
        watchdog = SystemdWatchdog(notifier, alive: { await control.workersRespond(within: .seconds(2)) },
                                   onError: { [logger] in logger.warning("\($0)") })
        if let usec = notifier.watchdogMicroseconds, watchdog != nil {
            logger.info("systemd watchdog: WATCHDOG=1 every \(usec / 2000) ms")
        }
    }

    /// A stop began.
    func stopping() { notify("STOPPING=1") }

    /// Closes the control socket and the metrics endpoint and ends their event loop, each
    /// awaited (no thread blocked).
    func stop() async {
        watchdog?.stop()
        await metricsServer?.close()
        await socket?.close()
        socket = nil
        metricsServer = nil
        try? await group.shutdownGracefully()
    }

    private func notify(_ state: String) {
        do { try notifier.notify(state) } catch { logger.warning("systemd: \(error)") }
    }

    /// Standalone: each CHILD_SA's byte and packet counters from this host's kernel, read
    /// with one dump of its SAs per listing (two requests per CHILD_SA made a listing of N
    /// CHILD_SAs 2N netlink round trips).
    static func kernelCounters(logger: Logger) -> SAListingEnricher? {
        guard let kernel = try? XFRMKernel(timeout: .seconds(2)) else {
            logger.warning("no XFRM socket for list-sas counters")
            return nil
        }
        let box = KernelBox(kernel)
        return { entries, loop in
            loop.submit {
                box.lock.withLock {
                    let table = entries.contains { !$0.childSAs.isEmpty } ? Self.stateCounters(box.kernel) : [:]
                    return entries.map { ike in
                        var ike = ike
                        ike.childSAs = ike.childSAs.map { child in
                            var child = child
                            let inbound = Self.counters(table, destination: ike.localHost, spi: child.spiIn)
                            let outbound = Self.counters(table, destination: ike.remoteHost, spi: child.spiOut)
                            (child.bytesIn, child.packetsIn) = (inbound?.bytes, inbound?.packets)
                            (child.bytesOut, child.packetsOut) = (outbound?.bytes, outbound?.packets)
                            return child
                        }
                        return ike
                    }
                }
            }
        }
    }

    /// The ESP SA with this destination and SPI ("0x..."), as the kernel names it.
    private struct StateKey: Hashable {
        var destination: XFRMAddress
        var spi: UInt32
    }

    /// Bytes and packets of every ESP SA in this host's kernel (an unreadable dump: none).
    private static func stateCounters(_ kernel: XFRMKernel) -> [StateKey: (bytes: UInt64, packets: UInt64)] {
        var table: [StateKey: (bytes: UInt64, packets: UInt64)] = [:]
        try? kernel.forEachState { state in
            guard state.id.proto == .esp else { return }
            table[StateKey(destination: state.id.destination, spi: state.id.spi)] = (state.current.bytes, state.current.packets)
        }
        return table
    }

    private static func counters(_ table: [StateKey: (bytes: UInt64, packets: UInt64)], destination: String,
                                 spi: String) -> (bytes: UInt64, packets: UInt64)? {
        guard let address = XFRMAddress(destination), let value = UInt32(spi.dropFirst(2), radix: 16) else { return nil }
        return table[StateKey(destination: address, spi: value)]
    }

    /// Cluster: the targets holding each SA and their lifesize reports (bytes, packets).
    static func clusterHolders(_ service: ClusterService) -> SAListingEnricher {
        { entries, loop in
            service.status().hop(to: loop).map { status in
                let sas = status.routing?.sas ?? []
                func find(_ spi: String) -> ClusterStatus.SAStatus? {
                    sas.first { UInt32($0.spi.dropFirst(2), radix: 16) == UInt32(spi.dropFirst(2), radix: 16) }
                }
                return entries.map { ike in
                    var ike = ike
                    ike.childSAs = ike.childSAs.map { child in
                        var child = child
                        let inbound = find(child.spiIn), outbound = find(child.spiOut)
                        child.holdersIn = inbound?.holders.sorted() ?? []
                        child.holdersOut = outbound?.holders.sorted() ?? []
                        child.bytesIn = inbound?.lifesize?.reportedBytes
                        child.packetsIn = inbound?.lifesize?.reportedPackets
                        child.bytesOut = outbound?.lifesize?.reportedBytes
                        child.packetsOut = outbound?.lifesize?.reportedPackets
                        return child
                    }
                    return ike
                }
            }
        }
    }

    /// Cluster: members by health, install latencies, the targets' lifesize reports summed,
    /// the inbound distributor's counters, for the metrics.
    static func clusterMetrics(_ service: ClusterService, installer: ClusterChildSAInstaller)
        -> @Sendable () -> EventLoopFuture<ClusterMetricsSnapshot> {
        {
            service.status().map { status in
                var counts: [String: Int] = [:]
                for member in status.routing?.members ?? [] { counts[member.health, default: 0] += 1 }
                let lifesizes = (status.routing?.sas ?? []).compactMap(\.lifesize)
                var snapshot = ClusterMetricsSnapshot(
                    membersByHealth: counts, installLatencies: installer.takeInstallLatencies(),
                    reportedBytes: lifesizes.reduce(0) { $0 &+ $1.reportedBytes },
                    reportedPackets: lifesizes.reduce(0) { $0 &+ $1.reportedPackets },
                    inbound: status.routing?.inbound.map {
                        .init(forwarded: $0.forwarded, dropped: $0.dropped, queues: $0.perQueue, verified: $0.verified,
                              verifyingSAs: $0.verifyingSAs.count, flowEnds: $0.flowEnds, heldFlows: $0.heldFlows)
                    })
                if let reports = status.routing?.reports {
                    snapshot.targetReports = [
                        "replay": reports.replayReports, "replay_below_high_water": reports.replayBelowHighWater,
                        "flow_reports": reports.flowReports, "flows_reported": reports.flowsReported,
                        "flows_unknown_sa": reports.flowsUnknownSA]
                }
                if let marks = status.routing?.ha?.takeover?.replayMarks {
                    snapshot.replayMarks = ["written": marks.written, "deleted": marks.deleted, "kept": marks.kept,
                                            "fenced": marks.fenced, "failed": marks.failed, "adopted": marks.adopted,
                                            "refused": marks.refused]
                }
                return snapshot
            }
        }
    }
}

private final class KernelBox: @unchecked Sendable {
    let kernel: XFRMKernel
    let lock = NSLock()
    init(_ kernel: XFRMKernel) { self.kernel = kernel }
}
