// The SA authority's inputs from the cluster channel: joins, agent messages, closed
// connections and the timer.
extension SAAuthority {
    /// A Hello: admit the node, welcome it, and resynchronise it fully.
    public mutating func receivedHello(_ hello: ClusterMessage.Hello, now: ClusterInstant) -> [AuthorityAction] {
        let node = hello.nodeID
        let outcome = membership.join(hello, now: now)
        var actions: [AuthorityAction] = []
        let restoredOwner = restoredOwners.remove(node) != nil
        switch outcome.kind {
        case .new where restoredOwner && hello.heldEpoch != membership.epoch:
            // Owns per-target SAs of the previous active but no longer holds the epoch: its
            // agent restarted during the takeover, its kernel is empty (see `.restarted`).
            actions += detach(node, leaving: true)
        case .new:
            break
        case .reconnected:
            // Same agent process: its kernel still holds its per-target SAs with their output
            // sequence numbers, so it keeps them (they are resent below and acknowledged).
            actions += detach(node, leaving: false)
        case .restarted:
            // A new agent process starts with an empty kernel: an outbound SA installed again
            // would count its sequence numbers from 1 under the same SPI and key (with AES-GCM
            // the sequence number is the IV: a reused nonce). Its per-target SAs are deleted
            // with the peer and new ones negotiated, as for a node that left.
            actions += detach(node, leaving: true)
        }
        actions.append(.send(.welcome(outcome.welcome), to: node))
        actions += resynchronise(node, now: now)
        if configuration.outboundMode == .perTarget {
            for reqid in linesWithInboundSAs { actions += perTargetNegotiations(reqid: reqid, for: [node]) }
        }
        return actions + settle()
    }

    /// Any other message from a member's connection.
    public mutating func received(_ message: ClusterMessage, from node: NodeID, now: ClusterInstant) -> [AuthorityAction] {
        if case .hello(let hello) = message, hello.nodeID == node {
            return receivedHello(hello, now: now)
        }
        guard membership.heard(from: node, now: now) else {
            counters.fromNonMembers += 1
            return []
        }
        switch message {
        case .heartbeat:
            return []
        case .ack(let ack) where ack.operation == .installSA:
            return answered(ack.saID, by: node, refusal: nil)
        case .nack(let nack) where nack.operation == .installSA:
            return answered(nack.saID, by: node, refusal: nack.reason)
        case .ack(let ack) where ack.operation == .deleteSA:
            return []
        case .nack(let nack) where nack.operation == .deleteSA:
            // The agent could not delete it: it no longer counts as a holder either way.
            return []
        case .lifesizeReport(let report):
            guard let distribution = distributions[report.saID],
                  distribution.installed.contains(node) || distribution.pending[node] != nil else {
                counters.unknownSA += 1
                return []
            }
            let holders = distribution.installed.count + distribution.pending.count
            return lifesize.record(report, from: node, holders: holders) ? requestRekey(report.saID) : []
        case .sequenceBlockRequest(let request):
            return sequenceBlock(request, from: node, now: now)
        case .replayReport(let report):
            return replayReported(report, by: node)
        case .flowEndReport(let report):
            // Which entries the target owns is the inbound distributor's to know (its
            // connection table): the authority only vouches for the sender being a member.
            return report.flows.isEmpty ? [] : [.flowsEnded(report.flows, by: node)]
        case .flowReport(let report):
            return flowsReported(report, by: node)
        case .resyncRequest:
            detachFromDistributions(node)
            return resynchronise(node, now: now) + settle()
        case .hello, .welcome, .installSA, .deleteSA, .ack, .nack, .sequenceBlockGrant, .fullState:
            counters.unexpected += 1
            return []
        }
    }

    /// The node's connection closed: it leaves the cluster.
    public mutating func connectionClosed(_ node: NodeID, now: ClusterInstant) -> [AuthorityAction] {
        guard membership.remove(node) != nil else { return [] }
        return detach(node, leaving: true) + settle()
    }

    /// The timer: drops silent members and targets that missed an install timeout.
    public mutating func tick(now: ClusterInstant) -> [AuthorityAction] {
        var actions: [AuthorityAction] = []
        for node in membership.expire(now: now) {
            actions.append(.dropMember(node, reason: .silent))
            actions += detach(node, leaving: true)
        }
        var laggards: [NodeID: ClusterSAID] = [:]
        for saID in index.pendingSAs.sorted() {
            examined += 1
            guard let distribution = distributions[saID] else { continue }
            for (node, deadline) in distribution.pending where deadline <= now && laggards[node] == nil {
                laggards[node] = saID
            }
        }
        for node in laggards.keys.sorted() {
            guard let saID = laggards[node] else { continue }
            membership.remove(node)
            actions.append(.dropMember(node, reason: installTimeoutReason(node, saID)))
            actions += detach(node, leaving: true)
        }
        return actions + settle()
    }

    // MARK: Internals

    /// Why `node` missed the install timeout of `saID`: for a shared SA it may still have
    /// been waiting for its first sequence block.
    private func installTimeoutReason(_ node: NodeID, _ saID: ClusterSAID) -> DropReason {
        guard let allocator = allocators[saID], allocator.outstanding[node] == nil else { return .installTimeout(saID) }
        return .noFirstSequenceBlock(saID, refusals: allocator.refusals(of: node))
    }

    /// A holder's kernel authenticated packets of an inbound SA up to `report.top`: the SA's
    /// high-water mark moves (claim 22: it lives here, with the SA, for a backup routing
    /// node to take over) and the evidence goes on to the inbound distributor's window.
    private mutating func replayReported(_ report: ClusterMessage.ReplayReport, by node: NodeID) -> [AuthorityAction] {
        guard let distribution = distributions[report.saID], distribution.sa.direction == .inbound,
              distribution.installed.contains(node) || distribution.pending[node] != nil else {
            counters.unknownSA += 1
            return []
        }
        guard report.top > 0 else { return [] }
        counters.replayReports += 1
        if report.top > distribution.inboundHighWater {
            distributions[report.saID]?.inboundHighWater = report.top
        } else if report.top < distribution.inboundHighWater {
            counters.replayBelowHighWater += 1
        }
        return [.authenticatedReplay(report, sa: distribution.sa)]
    }

    /// Connections a holder's kernel holds (after a Welcome): each whose SA is inbound and
    /// held (or being installed) by the sender goes to the distributor with that SA, which
    /// names its CHILD_SA line; the rest are dropped and counted (`flowsUnknownSA`).
    private mutating func flowsReported(_ report: ClusterMessage.FlowReport, by node: NodeID) -> [AuthorityAction] {
        counters.flowReports += 1
        var placed: [ReportedFlow] = []
        placed.reserveCapacity(report.flows.count)
        for entry in report.flows {
            guard let distribution = distributions[entry.saID], distribution.sa.direction == .inbound,
                  distribution.installed.contains(node) || distribution.pending[node] != nil else {
                counters.flowsUnknownSA += 1
                continue
            }
            placed.append(ReportedFlow(sa: distribution.sa, flow: entry.flow))
        }
        counters.flowsReported += placed.count
        return placed.isEmpty ? [] : [.flowsReported(placed, by: node)]
    }

    private mutating func answered(_ saID: ClusterSAID, by node: NodeID, refusal: NackReason?) -> [AuthorityAction] {
        // Mutated in place (no copy of the per-SA sets per answer).
        guard distributions[saID]?.pending.removeValue(forKey: node) != nil else {
            counters.unknownSA += 1
            return []
        }
        pendingChanged(saID)
        if let refusal {
            distributions[saID]?.refused[node] = refusal
        } else {
            distributions[saID]?.installed.insert(node)
        }
        return settle(index.waitingOn[saID] ?? [])
    }

    private mutating func sequenceBlock(_ request: ClusterMessage.SequenceBlockRequest, from node: NodeID,
                                        now: ClusterInstant) -> [AuthorityAction] {
        let saID = request.saID
        guard var allocator = allocators[saID], let distribution = distributions[saID],
              distribution.installed.contains(node) || distribution.pending[node] != nil else {
            counters.unknownSA += 1
            return [.send(.nack(.init(saID: saID, operation: .sequenceBlockRequest, reason: .unknownSA)), to: node)]
        }
        let incarnation = membership.members[node]?.incarnation ?? 0
        let decision = allocator.request(from: node, incarnation: incarnation, currentBlockFirst: request.currentBlockFirst,
                                         installing: Set(distribution.pending.keys), now: now)
        allocators[saID] = allocator
        var actions: [AuthorityAction] = []
        switch decision {
        case .granted(let block), .resent(let block):
            actions.append(.send(.sequenceBlockGrant(allocator.grant(for: saID, block: block)), to: node))
        case .deferred:
            actions.append(.send(.nack(.init(saID: saID, operation: .sequenceBlockRequest, reason: .windowFull)), to: node))
        case .exhausted:
            actions.append(.send(.nack(.init(saID: saID, operation: .sequenceBlockRequest, reason: .sequenceExhausted)), to: node))
        }
        if allocator.rekeyAdvised || decision == .exhausted {
            actions += requestRekey(saID)
        }
        return actions
    }

    private mutating func requestRekey(_ saID: ClusterSAID) -> [AuthorityAction] {
        rekeyRequested.insert(saID).inserted ? [.rekey(saID)] : []
    }

    /// Sends `node` every SA meant for it (each with a fresh install deadline), then FullState.
    private mutating func resynchronise(_ node: NodeID, now: ClusterInstant) -> [AuthorityAction] {
        var actions: [AuthorityAction] = []
        var ids: [ClusterSAID] = []
        for saID in distributions.keys.sorted() {
            examined += 1
            guard let sa = distributions[saID]?.sa, sa.isMeant(for: node),
                  !peerDeletionRequested.contains(saID) else { continue }
            distributions[saID]?.pending[node] = now + configuration.installTimeout
            pendingChanged(saID)
            actions.append(.send(.installSA(.init(sa: sa)), to: node))
            ids.append(saID)
        }
        actions.append(.send(.fullState(.init(epoch: membership.epoch, saIDs: ids)), to: node))
        return actions
    }

    private mutating func detachFromDistributions(_ node: NodeID) {
        for saID in Array(distributions.keys) {
            examined += 1
            distributions[saID]?.installed.remove(node)
            distributions[saID]?.pending[node] = nil
            distributions[saID]?.refused[node] = nil
            pendingChanged(saID)
        }
    }

    /// Removes `node` from every SA and abandons its sequence blocks; when it is `leaving`,
    /// its per-target outbound SAs are deleted with the peer.
    private mutating func detach(_ node: NodeID, leaving: Bool) -> [AuthorityAction] {
        detachFromDistributions(node)
        for saID in Array(allocators.keys) { allocators[saID]?.abandon(node) }
        // A negotiation asked for a reconnecting node is still under way: keep it.
        guard leaving else { return [] }
        perTargetRequested = perTargetRequested.filter { $0.owner != node }
        var actions: [AuthorityAction] = []
        for saID in distributions.keys.sorted() {
            guard case .perTarget(let owner)? = distributions[saID]?.sa.sequencing, owner == node,
                  peerDeletionRequested.insert(saID).inserted else { continue }
            actions.append(.deleteChildSA(saID))
        }
        return actions
    }
}
