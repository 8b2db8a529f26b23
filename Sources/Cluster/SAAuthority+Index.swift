// What the SA authority looks up on every CHILD_SA, every answer and every tick, kept as
// indexes beside `distributions` so that those steps cost the same with 100,000 SAs as
// with ten (issue 20): a scan of every SA per CHILD_SA made the routing node's CPU per
// CHILD_SA grow with the SAs it holds. Steps that concern a whole target (a join and its
// resync, a leave) still visit every SA: they send or forget every one.
//
// Every change of `distributions`, of a distribution's `pending` and of `waiting` goes
// through the functions below; `SAAuthorityIndexTests` checks the indexes against a
// recomputation after every step of a long random run.
extension SAAuthority {
    struct Index: Sendable, Equatable {
        /// CHILD_SA line (reqid) → its inbound SAs.
        var inboundByLine: [UInt32: Set<ClusterSAID>] = [:]
        /// CHILD_SA line → owner → the owner's per-target outbound SAs in it.
        var perTargetByLine: [UInt32: [NodeID: Set<ClusterSAID>]] = [:]
        /// SAs that some target has not answered yet (`Distribution.pending` not empty).
        var pendingSAs: Set<ClusterSAID> = []
        /// SA → the held IKE responses that wait on it.
        var waitingOn: [ClusterSAID: Set<IKEResponseToken>] = [:]
        /// SPI → the SAs with it (inbound and outbound SPIs are chosen by different sides
        /// and by different peers: one SPI may name several).
        var bySPI: [UInt32: Set<ClusterSAID>] = [:]
    }

    // MARK: Changes

    /// Adds (or replaces) a distribution.
    mutating func insertDistribution(_ distribution: Distribution) {
        let sa = distribution.sa
        if distributions[sa.saID] != nil { removeDistribution(sa.saID) }
        distributions[sa.saID] = distribution
        index.bySPI[sa.spi, default: []].insert(sa.saID)
        if sa.direction == .inbound { index.inboundByLine[sa.reqid, default: []].insert(sa.saID) }
        if case .perTarget(let owner) = sa.sequencing { index.perTargetByLine[sa.reqid, default: [:]][owner, default: []].insert(sa.saID) }
        pendingChanged(sa.saID)
    }

    /// Removes a distribution; returns it.
    @discardableResult
    mutating func removeDistribution(_ saID: ClusterSAID) -> Distribution? {
        guard let distribution = distributions.removeValue(forKey: saID) else { return nil }
        let sa = distribution.sa
        index.bySPI[sa.spi]?.remove(saID)
        if index.bySPI[sa.spi]?.isEmpty == true { index.bySPI[sa.spi] = nil }
        if sa.direction == .inbound {
            inboundChanges?.insert(saID)
            inboundRemovals?.append(saID)
            index.inboundByLine[sa.reqid]?.remove(saID)
            if index.inboundByLine[sa.reqid]?.isEmpty == true { index.inboundByLine[sa.reqid] = nil }
        }
        if case .perTarget(let owner) = sa.sequencing {
            index.perTargetByLine[sa.reqid]?[owner]?.remove(saID)
            if index.perTargetByLine[sa.reqid]?[owner]?.isEmpty == true { index.perTargetByLine[sa.reqid]?[owner] = nil }
            if index.perTargetByLine[sa.reqid]?.isEmpty == true { index.perTargetByLine[sa.reqid] = nil }
        }
        index.pendingSAs.remove(saID)
        return distribution
    }

    /// To be called after `distributions[saID]?.pending` changed (and with it, or next to it,
    /// `installed`; also by `insertDistribution`).
    mutating func pendingChanged(_ saID: ClusterSAID) {
        if distributions[saID]?.pending.isEmpty == false { index.pendingSAs.insert(saID) } else { index.pendingSAs.remove(saID) }
        if inboundChanges != nil, distributions[saID]?.sa.direction == .inbound { inboundChanges?.insert(saID) }
    }

    // MARK: The inbound distributor's feed

    /// From now on, keeps which inbound SAs change (added, removed, a target's answer or
    /// departure), until `takeInboundChanges()` takes them; forgets any kept so far.
    public mutating func trackInboundChanges() { inboundChanges = [] }

    /// The inbound SAs changed since the last call (or since `trackInboundChanges()`): each
    /// was added, removed, or its holders may have changed. Empty when not tracking.
    public mutating func takeInboundChanges() -> Set<ClusterSAID> {
        guard let changes = inboundChanges, !changes.isEmpty else { return [] }
        inboundChanges = []
        return changes
    }

    // MARK: Inbound removals (replay marks)

    /// From now on, keeps the inbound SAs removed, until `takeInboundRemovals()` takes them.
    public mutating func trackInboundRemovals() { inboundRemovals = [] }

    /// The inbound SAs removed since the last call (or since `trackInboundRemovals()`), in
    /// order; one that was replaced under its id (`insertDistribution`) is among them while
    /// still distributed. Empty when not tracking.
    public mutating func takeInboundRemovals() -> [ClusterSAID] {
        guard let removals = inboundRemovals, !removals.isEmpty else { return [] }
        inboundRemovals = []
        return removals
    }

    /// Holds `token` until `entry`'s SAs are answered.
    mutating func hold(_ token: IKEResponseToken, _ entry: Waiting) {
        waiting[token] = entry
        for saID in entry.saIDs { index.waitingOn[saID, default: []].insert(token) }
    }

    /// Stops holding `token`.
    mutating func unhold(_ token: IKEResponseToken) {
        guard let entry = waiting.removeValue(forKey: token) else { return }
        for saID in entry.saIDs {
            index.waitingOn[saID]?.remove(token)
            if index.waitingOn[saID]?.isEmpty == true { index.waitingOn[saID] = nil }
        }
    }

    // MARK: Lookups

    /// The lines (reqids) that have inbound SAs.
    var linesWithInboundSAs: [UInt32] { index.inboundByLine.keys.sorted() }

    /// Whether line `reqid` has an inbound SA.
    func lineHasInboundSAs(_ reqid: UInt32) -> Bool { index.inboundByLine[reqid] != nil }

    /// The owners of per-target outbound SAs in line `reqid` (at most one entry per target);
    /// `excludingDeleted`: leaving out SAs whose deletion with the peer was asked for.
    func perTargetOwners(reqid: UInt32, excludingDeleted: Bool) -> Set<NodeID> {
        guard let owners = index.perTargetByLine[reqid] else { return [] }
        guard excludingDeleted else { return Set(owners.keys) }
        return Set(owners.compactMap { owner, saIDs in saIDs.isSubset(of: peerDeletionRequested) ? nil : owner })
    }

    /// The indexes as they should be, recomputed from `distributions` and `waiting` (tests).
    func recomputedIndex() -> Index {
        var fresh = Index()
        for (saID, distribution) in distributions {
            let sa = distribution.sa
            fresh.bySPI[sa.spi, default: []].insert(saID)
            if sa.direction == .inbound { fresh.inboundByLine[sa.reqid, default: []].insert(saID) }
            if case .perTarget(let owner) = sa.sequencing { fresh.perTargetByLine[sa.reqid, default: [:]][owner, default: []].insert(saID) }
            if !distribution.pending.isEmpty { fresh.pendingSAs.insert(saID) }
        }
        for (token, entry) in waiting {
            for saID in entry.saIDs { fresh.waitingOn[saID, default: []].insert(token) }
        }
        return fresh
    }
}
