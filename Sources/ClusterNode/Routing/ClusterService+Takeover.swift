// HA takeover (docs/takeover.md sections 2 and 4): what the active records about the SAs it
// distributed, and how a new active continues them in the same epoch.
import Cluster
import NIOCore

/// A change of the inbound replay marks the active keeps in etcd (inbound claim 22).
public enum ReplayMarkChange: Equatable, Sendable {
    /// Record `mark` for the SA (rounded down to a block; never lower than one asked before).
    case record(ClusterSAID, mark: UInt64)
    /// The SA is gone: its mark is of no use.
    case forget(ClusterSAID)
}

extension ClusterService {
    /// The SAs distributed now whose SPI is one of `spis`, exactly as sent to the targets
    /// (the takeover record of their IKE_SA carries them). Looked up by SPI: an IKE_SA's
    /// record costs the same however many SAs the node holds.
    public func descriptions(spis: Set<UInt32>) async -> [SADescription] {
        (try? await loop.submit { [self] in authority.distributedSAs(spis: spis) }.get()) ?? []
    }

    /// Takeover: this node continues the cluster's `epoch` with the SAs the previous active
    /// distributed (`SAAuthority(restoring:)`). Call before agents are admitted: each one
    /// that joins is welcomed into the same epoch and resynced with identical descriptions,
    /// so its kernel keeps every SA. Any state of this node's own (a standby has none) goes.
    ///
    /// `replayMarks`: the inbound SAs' replay marks the previous active recorded (claim 22):
    /// each restored inbound SA's high-water mark starts there and the inbound distributor's
    /// window gets it as evidence (every number up to the mark received), right after the
    /// whole state that adds the SA.
    public func adopt(epoch: ClusterEpoch, sas: [SADescription], replayMarks marks: [ClusterSAID: UInt64] = [:]) async throws {
        try await loop.submit { [self] in
            for (_, channel) in connections { channel.close(promise: nil) }
            for (_, waiter) in waiters { waiter.fail(ClusterInstallError.shutDown) }
            waiters = [:]
            authority = SAAuthority(restoring: epoch, sas: sas, replayMarks: marks, configuration: configuration.authority)
            authority.trackInboundRemovals()
            let restored = authority.currentSAs.filter { $0.direction == .inbound && (marks[$0.saID] ?? 0) > 0 }
            replayMarks = ReplayMarks(restored: Dictionary(uniqueKeysWithValues: restored.map { ($0.saID, marks[$0.saID]!) }))
            stateFeed.restart()   // a new authority: the distributor gets the whole state again
            note("takeover: continuing \(epoch) with \(authority.currentSAs.count) SAs of the previous active, \(restored.count) replay marks")
            execute([])
            for sa in restored {
                guard let floor = ReplayMarks.floorEvidence(mark: marks[sa.saID]!) else { continue }
                replayObserver?(AuthenticatedReplay(saID: sa.saID, destination: sa.destination, spi: sa.spi,
                                                    top: floor.top, bitmap: floor.bitmap))
            }
        }.get()
    }

    /// The marks of the inbound SAs the authority removed since the last call are forgotten
    /// (their etcd keys deleted), so etcd holds a mark per live inbound SA only. Driven by the
    /// deletions themselves (the authority's journal, `takeInboundRemovals`): O(removals),
    /// never a visit of every mark or SA. No periodic sweep is needed as a safety net: a mark
    /// is only made for an SA the authority distributes (`.authenticatedReplay`), every
    /// removal of one is journaled (`removeDistribution`), and a new authority (adopt) comes
    /// with marks made for it alone.
    func forgetRemovedReplayMarks() {
        let removed = authority.takeInboundRemovals()
        guard !removed.isEmpty, let replayMarkRecorder else { return }
        for id in replayMarks.forget(removed, keeping: { authority.distributedSA($0) != nil }) { replayMarkRecorder(.forget(id)) }
    }

    /// Whether a frame from an agent shows this node deposed: it carries a newer leader term
    /// than this node's own (the agent followed another node's win). Then the frame is
    /// dropped (`newer-term`), its connection closed, and once per newer term the event is
    /// noted and `deposed` called (the HA step-down: DVIPA dropped, IKE and agents refused).
    /// Without HA (`term` nil) or for an older or equal term: false.
    func deposedBy(_ frameTerm: ClusterTerm, node: NodeID, channel: Channel) -> Bool {
        guard frameTerm != .none, let own = term?(), own != .none, frameTerm > own else { return false }
        drops.count("newer-term")
        channel.close(promise: nil)   // `closed` then forgets it, as any lost connection
        if frameTerm > deposedSeen {
            deposedSeen = frameTerm
            note("deposed: \(node) follows \(frameTerm), newer than this node's \(own); stepping down")
            deposed?(frameTerm)
        }
        return true
    }
}
