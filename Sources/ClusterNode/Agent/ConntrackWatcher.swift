import Cluster
import Foundation
import InboundRouting

// Inbound claim 10 on a target: connections end at the routing node when they end here.
// The agent makes its kernel track connections (nft `inet vipsec_conntrack`,
// ConntrackTracking), follows the conntrack events on a thread of its own (netlink reads
// block), keeps the ends of inbound cluster traffic (FlowEndBatcher: TCP/UDP to the DVIPA)
// and sends them to the routing node in FlowEndReports from its tick.
//
// An end is a destroyed entry, or a TCP entry entering TIME_WAIT or CLOSE: the kernel
// destroys a closed TCP entry only when TIME_WAIT is over (120 s), as late as the routing
// node's own timeout after a FIN; the state change comes when the connection closes. The
// destroy that follows is not reported again (same conntrack id).

/// Follows the kernel's conntrack events and hands the ends to the agent's loop.
final class ConntrackWatcher: @unchecked Sendable {
    private let monitor: ConntrackMonitor
    private let lock = NSLock()
    private var running = true

    init(agent: ClusterAgent) throws {
        monitor = try ConntrackMonitor()
        let thread = Thread { [self] in
            var reported = (malformed: 0, overruns: 0)
            while lock.withLock({ running }) {
                let events: [ConntrackEvent]
                do {
                    events = try monitor.next(timeout: .milliseconds(500))
                } catch {
                    // A socket that keeps failing must not spin this thread: once a second.
                    agent.loop.execute { agent.logger.error("conntrack events: \(error)") }
                    Thread.sleep(forTimeInterval: 1)
                    continue
                }
                let ends = events.filter(\.isEnd).compactMap { event -> (InnerFiveTuple, UInt32?, Bool)? in
                    guard let flow = event.original.fiveTuple else { return nil }
                    if case .destroyed = event.kind { return (flow, event.id, false) }
                    return (flow, event.id, true)
                }
                // Every TCP state change in the namespace is an event; only ends (or new
                // counts) are worth a hop onto the agent's loop.
                let counts = (malformed: monitor.malformedEvents, overruns: monitor.overruns)
                guard !ends.isEmpty || counts != reported else { continue }
                reported = counts
                agent.loop.execute { agent.connectionsEnded(ends, malformed: counts.malformed, overruns: counts.overruns) }
            }
        }
        thread.name = "vipsec-conntrack-events"
        thread.start()
    }

    /// Stops the thread (within half a second).
    func stop() {
        lock.withLock { running = false }
    }
}

extension ConntrackTuple {
    /// Cluster's 5-tuple (nil for an address of the wrong length).
    var fiveTuple: InnerFiveTuple? {
        guard let source = try? IPAddress(bytes: source), let destination = try? IPAddress(bytes: destination) else { return nil }
        return InnerFiveTuple(source: source, destination: destination, sourcePort: sourcePort,
                              destinationPort: destinationPort, ipProtocol: ipProtocol)
    }
}

extension ClusterAgent {
    /// Makes the kernel track connections and starts following their ends (a DVIPA is set
    /// and kernel events are watched). A failure is logged: entries then end at the routing
    /// node by its idle timeout only.
    func startFollowingConnections(dvipa: IPAddress) async {
        do {
            try await worker.run { try ConntrackTracking.start(using: InboundForwarding()) }.get()
            let watcher = try ConntrackWatcher(agent: self)
            try await loop.submit { [self] in
                conntrack = watcher
                flowEnds = FlowEndBatcher(destinations: [dvipa])
            }.get()
            logger.info("following conntrack ends of TCP/UDP to \(dvipa) (nft inet \(ConntrackTracking.table))")
        } catch {
            logger.error("cannot follow conntrack events: \(error); connection-table entries end by the routing node's idle timeout only")
        }
    }

    /// Stops following and deletes the nft table (on the kernel worker); logs what was reported.
    func stopFollowingConnections() {
        conntrack?.stop()
        conntrack = nil
        guard let counters = flowEnds?.counters else { return }
        flowEnds = nil
        let summary = "\(counters.reported) reported in \(counters.reports) FlowEndReports, \(counters.filtered) not inbound, "
            + "\(counters.alreadyReported) already reported at close, \(counters.lost) lost; "
            + "\(conntrackMalformed) malformed events, \(conntrackOverruns) socket overruns"
        logger.info("conntrack ends: \(summary)")
        worker.run { try ConntrackTracking.stop(using: InboundForwarding()) }.whenFailure { [self] error in
            logger.error("cannot delete nft inet \(ConntrackTracking.table): \(error)")
        }
    }

    /// Conntrack ends from the watcher (on loop): (flow, conntrack id, TCP closed rather than destroyed).
    func connectionsEnded(_ ends: [(InnerFiveTuple, UInt32?, Bool)], malformed: Int, overruns: Int) {
        conntrackMalformed = malformed
        conntrackOverruns = overruns
        guard flowEnds != nil else { return }
        let now = Self.now()
        for (flow, id, closed) in ends { flowEnds?.ended(flow, id: id, closed: closed, now: now) }
    }

    /// From the tick: the batches due, while joined (kept while the channel is down).
    func sendFlowEnds(now: ClusterInstant) {
        guard welcome != nil, channel != nil, var batcher = flowEnds else { return }
        let reports = batcher.take(now: now)
        flowEnds = batcher
        for report in reports { send(.flowEndReport(report)) }
    }
}
