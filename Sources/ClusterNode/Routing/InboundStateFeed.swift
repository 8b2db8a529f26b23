// The inbound distributor's feed as changes (issue 20): the first publication (and the one
// after a takeover, whose authority is new) carries the whole state; each later one only the
// inbound SAs added, removed or with other holders since, and the members when they changed.
// A CHILD_SA thus costs the publication O(1), not a visit of every inbound SA. Pure: the
// service calls it on its event loop (ClusterService+Inbound.swift).
import Cluster

/// What changed in the membership and the inbound SAs since the previous update.
public struct ClusterStateUpdate: Equatable, Sendable {
    /// This update is the whole state: it replaces everything (then `members` is set,
    /// `upserted` holds every inbound SA and `removed` is empty).
    public var isFull: Bool
    /// The live members now, when they changed (nil: unchanged).
    public var members: [NodeID: IPAddress]?
    /// Inbound SAs added, or with other holders, as they are now.
    public var upserted: [ClusterSAID: ClusterStateSnapshot.HeldSA]
    /// Inbound SAs gone.
    public var removed: Set<ClusterSAID>

    public init(isFull: Bool = false, members: [NodeID: IPAddress]? = nil,
                upserted: [ClusterSAID: ClusterStateSnapshot.HeldSA] = [:], removed: Set<ClusterSAID> = []) {
        self.isFull = isFull
        self.members = members
        self.upserted = upserted
        self.removed = removed
    }

    /// The whole state `snapshot` as an update.
    public static func full(_ snapshot: ClusterStateSnapshot) -> ClusterStateUpdate {
        ClusterStateUpdate(isFull: true, members: snapshot.members, upserted: snapshot.inboundSAs)
    }

    /// Nothing changed.
    public var isEmpty: Bool { !isFull && members == nil && upserted.isEmpty && removed.isEmpty }

    /// Applies this update to `state` (the whole state as the receiver keeps it).
    public func apply(to state: inout ClusterStateSnapshot) {
        if isFull { state = ClusterStateSnapshot(members: members ?? [:], inboundSAs: upserted); return }
        if let members { state.members = members }
        for id in removed { state.inboundSAs[id] = nil }
        for (id, held) in upserted { state.inboundSAs[id] = held }
    }

    /// This update followed by `newer`, as one (a mailbox whose reader is behind).
    public mutating func merge(_ newer: ClusterStateUpdate) {
        if newer.isFull { self = newer; return }
        if let members = newer.members { self.members = members }
        for id in newer.removed {
            upserted[id] = nil
            if !isFull { removed.insert(id) }
        }
        for (id, held) in newer.upserted {
            upserted[id] = held
            removed.remove(id)
        }
    }
}

/// What the service last published, and the next update from the authority's changes.
public struct InboundStateFeed {
    /// The state as the observer has it after the last update (nil: none published yet, or
    /// the authority was replaced: the next update is a full one).
    public private(set) var published: ClusterStateSnapshot?
    /// Inbound SAs visited while making updates, in all (tests: one CHILD_SA costs the same
    /// with 50,000 inbound SAs as with 1,000).
    public private(set) var visits = 0

    public init() {}

    /// The next update is the whole state (a new observer, or a new authority).
    public mutating func restart() { published = nil }

    /// The update since the last one (nil: nothing changed). Starts the authority's change
    /// tracking with the first (full) one.
    public mutating func update(from authority: inout SAAuthority) -> ClusterStateUpdate? {
        var members: [NodeID: IPAddress] = [:]
        for (node, member) in authority.membership.members { members[node] = member.clusterAddress }
        guard var state = published else {
            authority.trackInboundChanges()
            var snapshot = ClusterStateSnapshot(members: members)
            for sa in authority.currentSAs where sa.direction == .inbound {
                visits += 1
                snapshot.inboundSAs[sa.saID] = .init(description: sa, holders: authority.holders(of: sa.saID))
            }
            published = snapshot
            return .full(snapshot)
        }
        // `state` must be the dictionary's only holder before it changes, or the change would
        // copy every inbound SA (once per update: the feed publishes after every step).
        published = nil
        var update = ClusterStateUpdate()
        if members != state.members {
            update.members = members
            state.members = members
        }
        for id in authority.takeInboundChanges() {
            visits += 1
            if let sa = authority.distributedSA(id), sa.direction == .inbound {
                let held = ClusterStateSnapshot.HeldSA(description: sa, holders: authority.holders(of: id))
                guard state.inboundSAs[id] != held else { continue }
                state.inboundSAs[id] = held
                update.upserted[id] = held
            } else if state.inboundSAs.removeValue(forKey: id) != nil {
                update.removed.insert(id)
            }
        }
        published = state
        return update.isEmpty ? nil : update
    }
}
