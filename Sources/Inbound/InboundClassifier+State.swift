// What the rest of the routing node tells the classifier: SAs added and removed (SA
// authority), targets and their health (membership), authenticated replay evidence and
// flow ends (agents, over the cluster channel), the timer tick; and what status reads.

import Cluster

extension InboundClassifier {
    // MARK: SAs

    /// Adds (or replaces) an inbound SA; its peeker is keyed here, once.
    public mutating func addSA(_ sa: InboundSA, now: ClusterInstant) throws {
        guard sa.replayWindowSize >= 64, sa.replayWindowSize <= 65536, sa.replayWindowSize % 64 == 0 else {
            throw InboundSAError.invalidReplayWindow(sa.replayWindowSize)
        }
        let expected = sa.suite.keyLength + sa.suite.saltLength
        guard sa.encryptionKey.count == expected else {
            throw InboundSAError.keyLength(expected: expected, actual: sa.encryptionKey.count)
        }
        let peeker = try peekers.makePeeker(for: sa)
        var entry = SAEntry(sa: sa, peeker: peeker,
                            replay: ReplayWindow(size: sa.replayWindowSize, extended: sa.extendedSequenceNumbers),
                            bucket: TokenBucket(rate: sa.newFlowsPerSecond, burst: sa.newFlowBurst, now: now.nanoseconds))
        entry.holderSet = holderSet(sa.holders)
        if configuration.verification != .never { entry.verifier = try peekers.makeVerifier(for: sa) }
        let key = SAKey(destination: sa.destination, spi: sa.spi)
        if let existing = saLookup.find(key) {
            indexLineage(of: sas[existing], -1)
            sas[existing] = entry
        } else {
            saLookup.set(key, position: sas.count)
            sas.append(entry)
        }
        indexLineage(of: entry, 1)
    }

    /// Removes an SA; its peeker (and the key state in it) is released and wiped.
    @discardableResult
    public mutating func removeSA(destination: InboundAddress, spi: UInt32) -> Bool {
        guard let index = saLookup.remove(SAKey(destination: destination, spi: spi)) else { return false }
        indexLineage(of: sas[index], -1)
        let last = sas.count - 1
        if index != last {
            sas.swapAt(index, last)
            saLookup.set(SAKey(destination: sas[index].sa.destination, spi: sas[index].sa.spi), position: index)
        }
        sas.removeLast()
        return true
    }

    /// The targets holding an SA changed (an install was acknowledged, a target dropped it).
    public mutating func setHolders(destination: InboundAddress, spi: UInt32, holders: [NodeID]) {
        guard let index = saLookup.find(SAKey(destination: destination, spi: spi)) else { return }
        sas[index].sa.holders = holders
        setHolderSet(index, holderSet(holders))
    }

    public var saCount: Int { sas.count }

    /// Switches ICV verification (a reload): every SA gets its verifier (keyed now) or, with
    /// `never`, loses it. Returns the SPIs whose verifier could not be made: while verifying
    /// their packets are dropped as `icv` (fail closed), never forwarded unverified.
    @discardableResult
    public mutating func setVerification(_ verification: ICVVerification) -> [UInt32] {
        configuration.verification = verification
        var refused: [UInt32] = []
        for index in sas.indices {
            sas[index].verifyUntil = 0
            guard verification != .never else { sas[index].verifier = nil; continue }
            if sas[index].verifier == nil {
                sas[index].verifier = try? peekers.makeVerifier(for: sas[index].sa)
                if sas[index].verifier == nil { refused.append(sas[index].sa.spi) }
            }
        }
        return refused
    }

    /// `under-attack`: whether an SA's packets are verified now (status); nil: no such SA.
    public func isVerifying(destination: InboundAddress, spi: UInt32, now: ClusterInstant) -> Bool? {
        saLookup.find(SAKey(destination: destination, spi: spi)).map { verifying($0, now: now) }
    }

    /// Authenticated replay evidence from one target's kernel for one SA (XFRM NEWAE:
    /// top = seq_hi << 32 | seq, bitmap bit i = top - i). Evidence from several targets is
    /// merged (ORed, aligned at each top).
    /// Returns false when the SA is not (or no longer) here.
    @discardableResult
    public mutating func authenticated(destination: InboundAddress, spi: UInt32, top: UInt64, bitmap: [UInt64]) -> Bool {
        guard let index = saLookup.find(SAKey(destination: destination, spi: spi)) else { return false }
        sas[index].replay.authenticated(top: top, bitmap: bitmap)
        return true
    }

    /// Every SA's window top and, with `under-attack`, the SAs verified now (status, when
    /// read: O(SAs), never per packet or per event).
    public func saDetails(now: ClusterInstant) -> (tops: [(spi: UInt32, top: UInt64)], verifying: [UInt32]) {
        var tops: [(spi: UInt32, top: UInt64)] = []
        tops.reserveCapacity(sas.count)
        var underVerification: [UInt32] = []
        for index in sas.indices {
            tops.append((sas[index].sa.spi, sas[index].replay.top))
            if configuration.verification == .underAttack, verifying(index, now: now) { underVerification.append(sas[index].sa.spi) }
        }
        return (tops, underVerification)
    }

    /// An SA's window (claim 22: the high-water mark the SA authority keeps for a backup router).
    public func replayWindow(destination: InboundAddress, spi: UInt32) -> ReplayWindow? {
        saLookup.find(SAKey(destination: destination, spi: spi)).map { sas[$0].replay }
    }

    func holderSet(_ holders: [NodeID]) -> TargetSet {
        var set = TargetSet()
        for holder in holders { if let index = targetIndex[holder] { set.insert(index) } }
        return set
    }

    /// Counts `entry`'s lineage in (`delta` 1) or out (-1) of its holders' lineages.
    mutating func indexLineage(of entry: SAEntry, _ delta: Int) {
        let lineage = entry.sa.lineage
        entry.holderSet.forEachMember { member in
            let count = (lineagesByTarget[Int(member)][lineage] ?? 0) + delta
            lineagesByTarget[Int(member)][lineage] = count > 0 ? count : nil
        }
    }

    /// Every change of an SA's `holderSet` goes through here (the lineage index follows).
    mutating func setHolderSet(_ index: Int, _ set: TargetSet) {
        guard sas[index].holderSet != set else { return }
        indexLineage(of: sas[index], -1)
        sas[index].holderSet = set
        indexLineage(of: sas[index], 1)
    }

    /// The lineage index as it should be, recomputed from every SA (tests).
    func recomputedLineagesByTarget() -> [[SALineageID: Int]] {
        var fresh = [[SALineageID: Int]](repeating: [:], count: lineagesByTarget.count)
        for entry in sas { entry.holderSet.forEachMember { fresh[Int($0)][entry.sa.lineage, default: 0] += 1 } }
        return fresh
    }

    // MARK: Targets

    /// Adds a target or updates its marks, weight and health. Returns its index.
    @discardableResult
    public mutating func upsertTarget(_ target: InboundTarget) throws -> UInt16 {
        let index: UInt16
        if let existing = targetIndex[target.id] {
            index = existing
        } else if let free = targets.firstIndex(where: { $0 == nil }) {
            index = UInt16(free)
        } else {
            guard targets.count < maximumTargetCount else { throw InboundTargetError.tooManyTargets }
            index = UInt16(targets.count)
            targets.append(nil)
            marks.append((0, 0))
            lineagesByTarget.append([:])
        }
        let registers = targetIndex[target.id] == nil
        let changed = targets[Int(index)].map { $0.weight != target.weight || $0.healthy != target.healthy } ?? true
        targets[Int(index)] = target
        targetIndex[target.id] = index
        marks[Int(index)] = (target.directMark, target.encapsulatedMark)
        if target.healthy { healthySet.insert(index) } else { healthySet.remove(index) }
        if changed { invalidatePlacements() }
        // Only a target new here changes which SAs' holders are registered: a weight or health
        // change (setHealthy) visits no SA. A new one is rare (a join) and visits every SA.
        if registers { for i in sas.indices { setHolderSet(i, holderSet(sas[i].sa.holders)) } }
        return index
    }

    /// Marks a target healthy or not (not: no new flows; its existing flows stay).
    public mutating func setHealthy(_ id: NodeID, _ healthy: Bool) throws {
        guard let index = targetIndex[id], var target = targets[Int(index)] else { throw InboundTargetError.unknownTarget(id) }
        target.healthy = healthy
        try upsertTarget(target)
    }

    /// A target died or left: its flows and fragments are dropped; new flows go to the others.
    /// Returns how many flows it had.
    @discardableResult
    public mutating func removeTarget(_ id: NodeID) -> Int {
        guard let index = targetIndex.removeValue(forKey: id) else { return 0 }
        targets[Int(index)] = nil
        healthySet.remove(index)
        invalidatePlacements()
        for i in sas.indices { sas[i].holderSet.remove(index) }
        lineagesByTarget[Int(index)] = [:]
        fragments.removeTarget(index)
        return flows.removeTarget(index)
    }

    /// The target's node id for a decision's index.
    public func target(at index: UInt16) -> NodeID? {
        Int(index) < targets.count ? targets[Int(index)]?.id : nil
    }

    mutating func invalidatePlacements() {
        placements.removeAll()
        placementGeneration += 1
    }

    // MARK: Flows

    /// Removes the entry of a flow (peer-to-DVIPA direction) under `lineage`, whoever owns
    /// it. The targets' reports go through `flowsEnded(by:_:now:)`, which checks the owner.
    @discardableResult
    public mutating func flowEnded(lineage: SALineageID, flow: InnerFiveTuple) -> Bool {
        flows.remove(FlowKey(lineage: lineage, flow))
    }

    /// The same, with the classifier's own key.
    @discardableResult
    public mutating func flowEnded(_ key: FlowKey) -> Bool { flows.remove(key) }

    /// The shell's periodic timer (e.g. every second): sweeps a slice of the flow table
    /// (the whole table about once a minute) and the expired fragments.
    public mutating func tick(now: ClusterInstant) {
        flows.sweep(now: seconds(now), budget: max(1024, flows.capacity / 60))
        fragments.sweep(now: now.nanoseconds)
    }

    /// Flows per target (status).
    public var flowCounts: [NodeID: Int] {
        var counts: [NodeID: Int] = [:]
        for (index, target) in targets.enumerated() {
            if let target { counts[target.id] = flows.count(target: UInt16(index)) }
        }
        return counts
    }

    /// Every live connection with its target (`vipsec status --connections`).
    public func connections(now: ClusterInstant) -> [(key: FlowKey, target: NodeID)] {
        flows.entries(now: seconds(now)).compactMap { entry in target(at: entry.target).map { (entry.key, $0) } }
    }
}
