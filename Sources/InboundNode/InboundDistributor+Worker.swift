// The distributor's workers, one thread per NFQUEUE: each receives a batch from its own
// socket, classifies it with the shared classifier (one lock per batch) and sends the
// verdicts in one sendmsg. The first queue's worker also does the housekeeping, inside the
// same lock before its batch: it applies the cluster state's updates (routes, then the
// classifier's targets and SAs) and the replay evidence, ticks the table and publishes the
// status. Applying an update holds the other workers for its route changes (milliseconds,
// only when members or SAs change): a mark is never handed out before its route exists.
import Cluster
import ClusterNode
import Foundation
import Inbound
import InboundCrypto
import NetfilterQueue

extension InboundDistributor {
    func work(_ queue: NFQueue, index: Int, shared: SharedClassifier) {
        let leader = index == 0
        var lastHousekeeping = Self.now()
        var lastError = ""
        while !shouldStop {
            do {
                let batch = try queue.receive(maxPackets: 64, timeout: configuration.poll)
                let now = Self.now()
                let decisions = shared.withLock { classifier -> [InboundDecision] in
                    // Any worker applies a waiting update before it classifies: a packet on a
                    // new SA must not meet a classifier without the SA's last holders (it would
                    // re-place the SA's flows on another target, which answers with a reset).
                    if leader || mailbox.hasPending { housekeeping(&classifier, now: now, last: &lastHousekeeping) }
                    var decisions: [InboundDecision] = []
                    decisions.reserveCapacity(batch.count)
                    for packet in batch { decisions.append(classifier.classify(packet.payload, now: now)) }
                    return decisions
                }
                for (packet, decision) in zip(batch, decisions) {
                    switch decision {
                    case .forward(let target): try queue.verdict(id: packet.id, .accept(mark: target.mark))
                    case .local: try queue.verdict(id: packet.id, .accept(mark: nil))
                    case .drop: try queue.verdict(id: packet.id, .drop)
                    }
                }
                try queue.flush()
                queueBoard.set(index, queue.counters)
            } catch {
                // Packets keep waiting in the queue (or are dropped by the kernel when it is
                // full): never accepted unclassified. Try again after a short pause.
                let text = "\(error)"
                if text != lastError { logger.error("inbound: queue \(queue.configuration.queue): \(text); retrying") }
                lastError = text
                queueBoard.set(index, queue.counters)
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
    }

    /// The first worker, between its batches, inside the classifier's lock.
    func housekeeping(_ classifier: inout InboundClassifier, now: ClusterInstant, last: inout ClusterInstant) {
        var changed = false
        if let update = mailbox.take() {
            apply(update, to: &classifier, now: now)
            changed = true
        }
        if let verification = mailbox.takeVerification(), verification != classifier.configuration.verification {
            let refused = classifier.setVerification(verification)
            logger.info("inbound: ICV verification now \(verification.rawValue)\(refused.isEmpty ? "" : "; SAs that cannot be verified (\(refused.count)) are dropped as icv")")
            changed = true
        }
        // After the update: evidence for an SA added in it applies at once.
        for replay in mailbox.takeEvidence()
        where classifier.authenticated(destination: InboundAddress(replay.destination), spi: replay.spi,
                                       top: replay.top, bitmap: replay.bitmap) {
            evidenceApplied += 1
        }
        // After the update too: the entries of a target gone in it went with it.
        let ends = mailbox.takeFlowEnds()
        for report in ends { classifier.flowsEnded(by: report.target, report.flows, now: now) }
        // And after the update: the holders that the resync's Acks made come before the
        // agent's report of the connections it holds (same TCP stream, same loop, same order).
        let held = mailbox.takeHeldFlows()
        for report in held {
            let results = classifier.flowsHeld(by: report.target, report.flows.map {
                HeldFlow(destination: InboundAddress($0.destination), spi: $0.spi, flow: $0.flow)
            }, now: now)
            var tally: [HeldFlowResult: Int] = [:]
            for result in results { tally[result, default: 0] += 1 }
            let text = HeldFlowResult.allCases.compactMap { result in tally[result].map { "\(result) \($0)" } }.joined(separator: ", ")
            logger.info("inbound: \(report.target) holds \(report.flows.count) connections: \(text)")
        }
        if changed || !ends.isEmpty || !held.isEmpty || last.nanoseconds + 1_000_000_000 <= now.nanoseconds {
            last = now
            classifier.tick(now: now)
            mailbox.publish(status(classifier, evidence: evidenceApplied))
        }
    }

    var classifierConfiguration: InboundConfiguration {
        var configuration = InboundConfiguration()
        configuration.maximumFlows = self.configuration.maximumFlows
        configuration.verification = self.configuration.verification
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

    /// The status the first worker publishes (every second, and after each update or batch of
    /// flow ends, inside the classifier's lock): counters, per target and per queue only, no
    /// visit of the SAs. The per-SA part is added when the status is read (`currentStatus`).
    func status(_ classifier: InboundClassifier, evidence: UInt64) -> InboundStatus {
        Self.status(classifier, queues: queueBoard.all, mode: configuration.mode,
                    evidence: evidence, evidenceLost: mailbox.evidenceLost, flowEndsLost: mailbox.flowEndsLost,
                    heldFlowsLost: mailbox.heldFlowsLost)
    }

    static func status(_ classifier: InboundClassifier, queues: [(queue: UInt16, counters: NFQueueCounters)], mode: ForwardingMode,
                       evidence: UInt64, evidenceLost: UInt64, flowEndsLost: UInt64 = 0, heldFlowsLost: UInt64 = 0) -> InboundStatus {
        let counters = classifier.counters
        var dropped: [String: UInt64] = [:], local: [String: UInt64] = [:], placements: [String: UInt64] = [:]
        for reason in DropReason.allCases { dropped["\(reason)"] = counters[reason] }
        for reason in LocalReason.allCases { local["\(reason)"] = counters[reason] }
        for kind in PlacementKind.allCases { placements["\(kind)"] = counters[kind] }
        if counters.selectorMismatchForwarded > 0 { placements["selectorMismatchForwarded"] = counters.selectorMismatchForwarded }
        var flowEnds: [String: UInt64] = ["lost": flowEndsLost]
        for result in FlowEndResult.allCases { flowEnds["\(result)"] = counters[result] }
        var heldFlows: [String: UInt64] = ["lost": heldFlowsLost]
        for result in HeldFlowResult.allCases { heldFlows["\(result)"] = counters[result] }
        var flows: [String: Int] = [:]
        for (node, count) in classifier.flowCounts { flows[node.name] = count }
        var perQueue: [String: [String: UInt64]] = [:]
        var total: [String: UInt64] = [:]
        for (number, q) in queues {
            let values: [String: UInt64] = [
                "received": UInt64(q.received), "accepted": UInt64(q.accepted), "dropped": UInt64(q.dropped),
                "malformed": UInt64(q.malformed), "unreadable": UInt64(q.unreadable), "truncated": UInt64(q.truncated),
                "verdictErrors": UInt64(q.verdictErrors)]
            perQueue["\(number)"] = values
            total.merge(values, uniquingKeysWith: +)
        }
        return InboundStatus(mode: mode == .direct ? "direct" : "encapsulated", queue: Int(queues.first?.queue ?? 0),
                             queueCount: queues.count, sas: classifier.saCount,
                             forwarded: counters.forwarded, dropped: dropped, local: local, placements: placements,
                             flowsPerTarget: flows, queueCounters: total, perQueue: perQueue, replayEvidence: evidence,
                             replayEvidenceLost: evidenceLost,
                             verify: classifier.configuration.verification.rawValue, verified: counters.verified,
                             flowEnds: flowEnds, heldFlows: heldFlows)
    }

    /// `status` with its per-SA part: each SA's window top and, under attack, the SAs being
    /// verified. O(SAs), so only when the status is read (`vipsec status`), never per event.
    static func withSADetails(_ status: InboundStatus, _ classifier: InboundClassifier, now: ClusterInstant) -> InboundStatus {
        var status = status
        let details = classifier.saDetails(now: now)
        status.windowTops = Dictionary(details.tops.map { (SADescription.spiText($0.spi), $0.top) }, uniquingKeysWith: max)
        status.verifyingSAs = details.verifying.map { SADescription.spiText($0) }.sorted()
        return status
    }

    /// The status for `vipsec status`: the one the first worker last published, with the
    /// per-SA part (window tops, SAs being verified) read now under the classifier's lock.
    public var currentStatus: InboundStatus? {
        guard let published = mailbox.status else { return nil }
        guard let shared = stopLock.withLock({ shared }) else { return published }
        return shared.withLock { Self.withSADetails(published, $0, now: Self.now()) }
    }
}
