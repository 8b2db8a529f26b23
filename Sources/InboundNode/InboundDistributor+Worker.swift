// The distributor's worker thread: NFQueue.serve with the classifier's decision as the
// verdict; between batches it applies the cluster state's updates (routes, then the
// classifier's targets and SAs), ticks the table and publishes its status.
import Cluster
import ClusterNode
import Foundation
import Inbound
import InboundCrypto
import NetfilterQueue

extension InboundDistributor {
    func work(_ queue: NFQueue) {
        var classifier = InboundClassifier(configuration: classifierConfiguration, peekers: OpenSSLPeekerFactory())
        var lastHousekeeping = Self.now()
        var lastError = ""
        var evidenceApplied: UInt64 = 0
        while !shouldStop {
            do {
                try queue.serve(maxPackets: 64, poll: configuration.poll, shouldStop: {
                    let now = Self.now()
                    var changed = false
                    if let update = mailbox.take() {
                        apply(update, to: &classifier, now: now)
                        changed = true
                    }
                    // After the snapshot: evidence for an SA added in it applies at once.
                    for replay in mailbox.takeEvidence()
                    where classifier.authenticated(destination: InboundAddress(replay.destination), spi: replay.spi,
                                                   top: replay.top, bitmap: replay.bitmap) {
                        evidenceApplied += 1
                    }
                    if changed || lastHousekeeping.nanoseconds + 1_000_000_000 <= now.nanoseconds {
                        lastHousekeeping = now
                        classifier.tick(now: now)
                        mailbox.publish(Self.status(classifier, queue: queue, configuration: configuration,
                                                    planner: planner, evidence: evidenceApplied, evidenceLost: mailbox.evidenceLost))
                    }
                    return shouldStop
                }, decide: { packet in
                    switch classifier.classify(packet.payload, now: Self.now()) {
                    case .forward(let target): return .accept(mark: target.mark)
                    case .local: return .accept(mark: nil)
                    case .drop: return .drop
                    }
                })
            } catch {
                // Packets keep waiting in the queue (or are dropped by the kernel when it is
                // full): never accepted unclassified. Try again after a short pause.
                let text = "\(error)"
                if text != lastError { logger.error("inbound: queue \(configuration.queue): \(text); retrying") }
                lastError = text
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
        // Every SA leaves the classifier: its peeker (the key schedule) is released and wiped.
        for (id, sa) in planner.sas { _ = classifier.removeSA(destination: sa.destination, spi: sa.spi); planner.forget(id) }
        mailbox.publish(Self.status(classifier, queue: queue, configuration: configuration,
                                    planner: planner, evidence: evidenceApplied, evidenceLost: mailbox.evidenceLost))
    }

    var classifierConfiguration: InboundConfiguration {
        var configuration = InboundConfiguration()
        configuration.maximumFlows = self.configuration.maximumFlows
        return configuration
    }

    /// Routes first, then the classifier (a mark is only handed out once its route exists).
    func apply(_ update: ClusterStateUpdate, to classifier: inout InboundClassifier, now: ClusterInstant) {
        for step in planner.steps(applying: update) {
            do {
                switch step {
                case .addTarget(let node, let mark, let gateway):
                    try forwarding.addTarget(forwardingTarget(mark: mark, gateway: gateway))
                    _ = try classifier.upsertTarget(InboundTarget(id: node, directMark: mark,
                                                                  encapsulatedMark: mark + Self.encapsulatedMarkOffset))
                case .removeTarget(let node, let mark, let gateway):
                    let flows = classifier.removeTarget(node)
                    try forwarding.removeTarget(forwardingTarget(mark: mark, gateway: gateway))
                    logger.info("inbound: \(step) (\(flows) flows dropped)")
                    continue
                case .addSA(let id):
                    guard let held = planner.state.inboundSAs[id],
                          let sa = InboundSAMapping.inboundSA(held.description, holders: planner.sas[id]?.holders ?? [],
                                                              forwarding: configuration.mode) else {
                        planner.forget(id)
                        logger.warning("inbound: \(id) cannot be classified (suite or mode not supported): its packets are dropped as noSA")
                        continue
                    }
                    try classifier.addSA(sa, now: now)
                case .setHolders(let id, let holders):
                    guard let sa = planner.sas[id] else { continue }
                    classifier.setHolders(destination: sa.destination, spi: sa.spi, holders: holders)
                case .removeSA(_, let destination, let spi):
                    _ = classifier.removeSA(destination: destination, spi: spi)
                }
                logger.info("inbound: \(step)")
            } catch {
                if case .addSA(let id) = step { planner.forget(id) }
                logger.error("inbound: \(step) failed: \(error)")
            }
        }
    }

    static func status(_ classifier: InboundClassifier, queue: NFQueue, configuration: Configuration,
                       planner: InboundPlanner, evidence: UInt64, evidenceLost: UInt64) -> InboundStatus {
        let counters = classifier.counters
        var dropped: [String: UInt64] = [:], local: [String: UInt64] = [:], placements: [String: UInt64] = [:]
        for reason in DropReason.allCases { dropped["\(reason)"] = counters[reason] }
        for reason in LocalReason.allCases { local["\(reason)"] = counters[reason] }
        for kind in PlacementKind.allCases { placements["\(kind)"] = counters[kind] }
        if counters.selectorMismatchForwarded > 0 { placements["selectorMismatchForwarded"] = counters.selectorMismatchForwarded }
        var flows: [String: Int] = [:]
        for (node, count) in classifier.flowCounts { flows[node.name] = count }
        let q = queue.counters
        let queueCounters: [String: UInt64] = [
            "received": UInt64(q.received), "accepted": UInt64(q.accepted), "dropped": UInt64(q.dropped),
            "malformed": UInt64(q.malformed), "unreadable": UInt64(q.unreadable), "truncated": UInt64(q.truncated),
            "verdictErrors": UInt64(q.verdictErrors)]
        var tops: [String: UInt64] = [:]
        for (_, sa) in planner.sas {
            if let window = classifier.replayWindow(destination: sa.destination, spi: sa.spi) {
                tops[SADescription.spiText(sa.spi)] = window.top
            }
        }
        return InboundStatus(mode: configuration.mode == .direct ? "direct" : "encapsulated", queue: Int(configuration.queue), sas: classifier.saCount,
                             forwarded: counters.forwarded, dropped: dropped, local: local, placements: placements,
                             flowsPerTarget: flows, queueCounters: queueCounters, replayEvidence: evidence,
                             replayEvidenceLost: evidenceLost, windowTops: tops)
    }
}
