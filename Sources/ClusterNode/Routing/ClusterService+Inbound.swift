// What the inbound distributor needs from the routing node's cluster side, without
// ClusterNode depending on it: the live members (with the cluster address each announced
// in its Hello) and the inbound SAs with the targets that acknowledged them, handed to an
// observer on the service's event loop: first the whole state, then what changed
// (ClusterStateUpdate, InboundStateFeed.swift). The observer must only post it somewhere
// (no I/O, no waiting: the event loop never waits for it).
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

/// Connections that ended in one target's kernel (its conntrack), as its agent reported
/// them (`ClusterMessage.FlowEndReport`), peer-to-DVIPA direction.
public struct TargetFlowEnds: Equatable, Sendable {
    public var target: NodeID
    public var flows: [InnerFiveTuple]
    public init(target: NodeID, flows: [InnerFiveTuple]) {
        self.target = target
        self.flows = flows
    }
}

/// Connections one target's kernel holds (its conntrack), each with the inbound SA it
/// belongs to, as its agent reported them after a Welcome (`ClusterMessage.FlowReport`):
/// what a routing node that took over rebuilds its connection table from.
public struct TargetHeldFlows: Equatable, Sendable {
    public struct Flow: Equatable, Sendable {
        public var saID: ClusterSAID
        public var destination: IPAddress
        public var spi: UInt32
        public var flow: InnerFiveTuple
        public init(saID: ClusterSAID, destination: IPAddress, spi: UInt32, flow: InnerFiveTuple) {
            self.saID = saID
            self.destination = destination
            self.spi = spi
            self.flow = flow
        }
    }
    public var target: NodeID
    public var flows: [Flow]
    public init(target: NodeID, flows: [Flow]) {
        self.target = target
        self.flows = flows
    }
}

extension ClusterService {
    /// Sets the observer of membership and inbound SA changes (called on the event loop,
    /// once now with the whole state, then with what changed after each change), the observer of
    /// authenticated replay evidence, of the targets' connection ends and of the connections
    /// they report holding after a Welcome (each called on the event loop per report; they
    /// must only post it) and the provider of the distributor's
    /// status (called when `vipsec status` asks).
    public func setInbound(observer: @escaping @Sendable (ClusterStateUpdate) -> Void,
                           replay: (@Sendable (AuthenticatedReplay) -> Void)? = nil,
                           flowEnds: (@Sendable (TargetFlowEnds) -> Void)? = nil,
                           heldFlows: (@Sendable (TargetHeldFlows) -> Void)? = nil,
                           status: @escaping @Sendable () -> InboundStatus?) {
        loop.execute { [self] in
            stateObserver = observer
            replayObserver = replay
            flowEndObserver = flowEnds
            heldFlowObserver = heldFlows
            inboundStatusProvider = status
            stateFeed.restart()
            publishState()
        }
    }

    /// Hands the observer what changed since the last update, if anything (on loop).
    func publishState() {
        guard let stateObserver, let update = stateFeed.update(from: &authority) else { return }
        stateObserver(update)
    }
}
