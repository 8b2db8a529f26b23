// What the inbound distributor needs from the routing node's cluster side, without
// ClusterNode depending on it: a snapshot of the live members (with the cluster address each
// announced in its Hello) and the inbound SAs with the targets that acknowledged them,
// handed to an observer whenever it changes, on the service's event loop. The observer
// must only post it somewhere (no I/O, no waiting: the event loop never waits for it).
import Cluster

/// The membership and the inbound SAs as the SA authority has them now.
public struct ClusterStateSnapshot: Equatable, Sendable {
    /// One SA peer → DVIPA with the targets holding it (install acknowledged).
    public struct HeldSA: Equatable, Sendable {
        public var description: SADescription
        public var holders: Set<NodeID>
        public init(description: SADescription, holders: Set<NodeID>) {
            self.description = description
            self.holders = holders
        }
    }
    /// Live members → the cluster address from their Hello.
    public var members: [NodeID: IPAddress]
    /// Inbound SAs by id.
    public var inboundSAs: [ClusterSAID: HeldSA]

    public init(members: [NodeID: IPAddress] = [:], inboundSAs: [ClusterSAID: HeldSA] = [:]) {
        self.members = members
        self.inboundSAs = inboundSAs
    }
}

/// Authenticated replay evidence for one inbound SA: a holder's kernel replay state (top,
/// bitmap bit i = top - i), as its agent reported it (`ClusterMessage.ReplayReport`).
public struct AuthenticatedReplay: Equatable, Sendable {
    public var saID: ClusterSAID
    public var destination: IPAddress
    public var spi: UInt32
    public var top: UInt64
    public var bitmap: [UInt64]
    public init(saID: ClusterSAID, destination: IPAddress, spi: UInt32, top: UInt64, bitmap: [UInt64]) {
        self.saID = saID
        self.destination = destination
        self.spi = spi
        self.top = top
        self.bitmap = bitmap
    }
}

extension ClusterService {
    /// Sets the observer of membership and inbound SA changes (called on the event loop,
    /// once now with the current state, then after each change), the observer of
    /// authenticated replay evidence (called on the event loop per report; it must only
    /// post it) and the provider of the distributor's status (called when `vipsec status` asks).
    public func setInbound(observer: @escaping @Sendable (ClusterStateSnapshot) -> Void,
                           replay: (@Sendable (AuthenticatedReplay) -> Void)? = nil,
                           status: @escaping @Sendable () -> InboundStatus?) {
        loop.execute { [self] in
            stateObserver = observer
            replayObserver = replay
            inboundStatusProvider = status
            lastState = nil
            publishState()
        }
    }

    /// The state now (on loop).
    func makeStateSnapshot() -> ClusterStateSnapshot {
        var snapshot = ClusterStateSnapshot()
        for (node, member) in authority.membership.members { snapshot.members[node] = member.clusterAddress }
        for sa in authority.currentSAs where sa.direction == .inbound {
            snapshot.inboundSAs[sa.saID] = .init(description: sa, holders: authority.holders(of: sa.saID))
        }
        return snapshot
    }

    /// Publishes once the loop's turn is done: the snapshot visits every inbound SA, so the
    /// CHILD_SAs and acknowledgements handled in one turn share one (on loop).
    func publishStateAtEndOfTurn() {
        guard stateObserver != nil, !statePublishScheduled else { return }
        statePublishScheduled = true
        loop.execute { [self] in
            statePublishScheduled = false
            publishState()
        }
    }

    /// Hands the state to the observer if it changed (on loop).
    func publishState() {
        guard let stateObserver else { return }
        let snapshot = makeStateSnapshot()
        guard snapshot != lastState else { return }
        lastState = snapshot
        stateObserver(snapshot)
    }
}
