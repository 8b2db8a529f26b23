/// A new active routing node continuing the cluster after a takeover (docs/takeover.md
/// section 4): the authority of the cluster's `epoch` (kept in etcd, unchanged across
/// takeovers) with the SAs the previous active distributed, exactly as it sent them. No
/// target holds them as far as this authority knows: each agent that joins gets them in its
/// resync, and since the epoch and the descriptions are the same as what it holds, its
/// kernel is not touched (`AgentShadowCache.install`: "a resync resending what the agent
/// holds") and it keeps its per-target outbound SAs with their sequence numbers.
///
/// Shared outbound SAs (sequence blocks) are not restored: their reserved high-water marks
/// are not recorded, so a block could be granted twice. The caller leaves them out (the
/// IKE side then rekeys their CHILD_SAs).
///
/// `replayMarks`: the inbound SAs' replay high-water marks recorded in etcd (ReplayMarks,
/// claim 22); each restored inbound SA's high-water mark starts there.
extension SAAuthority {
    public init(restoring epoch: ClusterEpoch, sas: [SADescription], replayMarks: [ClusterSAID: UInt64] = [:],
                configuration: Configuration = Configuration()) {
        self.init(epoch: epoch, configuration: configuration)
        for sa in sas where sa.epoch == epoch {
            if case .shared = sa.sequencing { continue }
            var distribution = Distribution(sa: sa)
            if sa.direction == .inbound { distribution.inboundHighWater = replayMarks[sa.saID] ?? 0 }
            insertDistribution(distribution)
            lastSAID = max(lastSAID, sa.saID.rawValue)
            _ = lifesize.track(sa.saID, byteLimit: sa.lifetimes.hardByteLimit, line: sa.reqid, holders: 1)
            if case .perTarget(let owner) = sa.sequencing { restoredOwners.insert(owner) }
        }
    }
}
