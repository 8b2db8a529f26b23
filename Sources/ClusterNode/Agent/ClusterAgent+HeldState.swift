import Cluster
import NIOCore

// After the resync that follows each Welcome (the FullState that ends it), the agent tells
// the routing node what its kernel holds that the routing node may not know (issue 19
// item 2; a new active after a takeover starts from etcd's rounded-down replay marks and an
// empty connection table):
// - each inbound SA's replay state (XFRM_MSG_GETAE: top and bitmap) as a ReplayReport, the
//   same message as the kernel's NEWAE events: it moves the SA's high-water mark and the
//   distributor's window forward (never back), closing the gap up to 4095 numbers that
//   the block-rounded mark left;
// - the open connections of its conntrack that inbound SAs admit (HeldFlowReporter), in
//   FlowReports: the distributor places each on this target.
// Sent after the FullState so the resync's Acks (which make this target a holder at the
// routing node) go first on the same stream. The kernel reads run on the kernel thread,
// after the resync's kernel work.

/// What the kernel thread read for one report round.
struct HeldStateReading: Sendable {
    var replays: [(ClusterSAID, KernelReplayState)]
    var connections: [InnerFiveTuple]
    var failures: [String]
}

extension ClusterAgent {
    /// Reads the inbound SAs' replay states and the open connections, then reports them on
    /// the connection that is current now (nothing if it changed meanwhile). On the loop.
    func reportHeldState() {
        guard let current = channel else { return }
        let inbound = cache.sas.values.filter { $0.direction == .inbound }.sorted { $0.saID < $1.saID }
        let dvipa = configuration.dvipa
        worker.run { [kernel] () -> HeldStateReading in
            var reading = HeldStateReading(replays: [], connections: [], failures: [])
            for sa in inbound {
                do {
                    if let state = try kernel.replayState(of: sa), state.top > 0 { reading.replays.append((sa.saID, state)) }
                } catch {
                    reading.failures.append("replay state of \(sa.saID): \(error)")
                }
            }
            if dvipa != nil {
                do { reading.connections = try kernel.openConnections() } catch {
                    reading.failures.append("conntrack dump: \(error)")
                }
            }
            return reading
        }.whenComplete { [self] result in
            guard channel === current, welcome != nil, case .success(let reading) = result else { return }
            for failure in reading.failures { kernelFailed(failure) }
            var replays = 0
            for (saID, state) in reading.replays where cache.sas[saID] != nil && inKernel.contains(saID) {
                send(.replayReport(.init(saID: saID, top: state.top, bitmap: state.bitmap)))
                replays += 1
            }
            let held = inbound.filter { cache.sas[$0.saID] != nil && inKernel.contains($0.saID) }
            let outcome = HeldFlowReporter.reports(connections: reading.connections, inboundSAs: held,
                                                   destinations: dvipa.map { [$0] } ?? [])
            for report in outcome.reports { send(.flowReport(report)) }
            let counts = ["rounds": 1, "replay-states": replays, "flow-reports": outcome.reports.count,
                          "flows": outcome.reported, "unmatched": outcome.unmatched, "failures": reading.failures.count]
            metricCounters.reportsAfterWelcome.merge(counts, uniquingKeysWith: +)
            let summary = "\(replays) inbound replay states, \(outcome.reported) held connections in \(outcome.reports.count) "
                + "FlowReports (\(outcome.unmatched) matched no inbound SA, \(outcome.filtered) not inbound)"
            logger.info("reported after the Welcome: \(summary)")
        }
    }
}
