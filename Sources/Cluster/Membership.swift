/// Timers of the membership protocol.
public struct MembershipConfiguration: Hashable, Sendable {
    /// How often each side sends a Heartbeat when it has nothing else to send.
    public var heartbeatInterval: Duration
    /// A member not heard from for this long is dead (any message counts, not only heartbeats).
    public var failureTimeout: Duration
    /// Inbound encapsulated mode: the GRE source the Welcome names (this node's cluster
    /// address); nil: direct mode or no inbound distributor.
    public var greSource: IPAddress?

    public init(heartbeatInterval: Duration = .milliseconds(500), failureTimeout: Duration = .seconds(3),
                greSource: IPAddress? = nil) {
        self.heartbeatInterval = heartbeatInterval
        self.failureTimeout = failureTimeout
        self.greSource = greSource
    }
}

/// One live target as the routing node knows it.
public struct Member: Equatable, Sendable {
    public let nodeID: NodeID
    public var clusterAddress: IPAddress
    public var capabilities: KernelCapabilities
    public var maximumReplayWindow: UInt32
    /// The agent process's incarnation (from its Hello).
    public var incarnation: UInt64
    public var joinedAt: ClusterInstant
    public var lastHeard: ClusterInstant
}

/// How a Hello relates to what the routing node knew.
public enum JoinKind: Equatable, Sendable {
    /// A node that was not a member.
    case new
    /// A member reconnecting with the same agent process (same incarnation).
    case reconnected
    /// A member whose agent restarted (new incarnation): whatever it held is gone, and
    /// whatever was granted to its previous incarnation (sequence blocks) is abandoned.
    case restarted
}

/// The routing node's answer to a Hello.
public struct JoinOutcome: Equatable, Sendable {
    public var kind: JoinKind
    /// Send this first.
    public var welcome: ClusterMessage.Welcome
    /// True when the agent announced SAs of another epoch; the Welcome makes it drop them.
    public var agentHoldsStaleSAs: Bool
}

/// Cluster membership on the routing node: who is live, in which epoch.
///
/// Rules:
/// - The routing node picks a fresh `ClusterEpoch` on every start. Every SA it distributes
///   carries that epoch. An agent welcomed into an epoch other than its SAs' drops them all
///   (they belong to IKE state that died with the previous routing node), so stale SAs never
///   survive a routing-node restart.
/// - Every (re)join is followed by a full resynchronisation: the authority resends every SA
///   meant for the node, then a FullState listing them; the agent deletes anything else.
/// - A member not heard from within `failureTimeout` is dead: `expire(now:)` removes it.
/// - A Hello from a member that is still live replaces the old session (the shell closes
///   the old connection).
public struct Membership: Sendable {
    public let epoch: ClusterEpoch
    public var configuration: MembershipConfiguration
    public private(set) var members: [NodeID: Member] = [:]

    /// Creates an empty membership for `epoch` (never `.none`: pick one with `ClusterEpoch.fresh`).
    public init(epoch: ClusterEpoch, configuration: MembershipConfiguration = MembershipConfiguration()) {
        precondition(epoch != .none, "the routing node's epoch must be non-zero")
        self.epoch = epoch
        self.configuration = configuration
    }

    /// The Welcome this routing node sends.
    public var welcome: ClusterMessage.Welcome {
        ClusterMessage.Welcome(epoch: epoch,
                               heartbeatIntervalMilliseconds: configuration.heartbeatInterval.clusterMilliseconds,
                               failureTimeoutMilliseconds: configuration.failureTimeout.clusterMilliseconds,
                               greSource: configuration.greSource)
    }

    /// Admits (or readmits) the sender of `hello`.
    public mutating func join(_ hello: ClusterMessage.Hello, now: ClusterInstant) -> JoinOutcome {
        let kind: JoinKind
        if let previous = members[hello.nodeID] {
            kind = previous.incarnation == hello.incarnation ? .reconnected : .restarted
        } else {
            kind = .new
        }
        members[hello.nodeID] = Member(nodeID: hello.nodeID, clusterAddress: hello.clusterAddress,
                                       capabilities: hello.capabilities, maximumReplayWindow: hello.maximumReplayWindow,
                                       incarnation: hello.incarnation, joinedAt: now, lastHeard: now)
        let stale = hello.heldEpoch != .none && hello.heldEpoch != epoch
        return JoinOutcome(kind: kind, welcome: welcome, agentHoldsStaleSAs: stale)
    }

    /// Records that `node` was heard from (any message). Returns false when it is not a
    /// member (the shell drops the message and asks for a Hello).
    @discardableResult
    public mutating func heard(from node: NodeID, now: ClusterInstant) -> Bool {
        guard var member = members[node] else { return false }
        member.lastHeard = max(member.lastHeard, now)
        members[node] = member
        return true
    }

    /// Removes and returns every member not heard from within the failure timeout, by name.
    public mutating func expire(now: ClusterInstant) -> [NodeID] {
        let dead = members.values
            .filter { $0.lastHeard + configuration.failureTimeout <= now }
            .map(\.nodeID)
            .sorted()
        for node in dead { members[node] = nil }
        return dead
    }

    /// Removes `node` (connection closed, or dropped as a laggard). Returns what was known.
    @discardableResult
    public mutating func remove(_ node: NodeID) -> Member? {
        members.removeValue(forKey: node)
    }

    /// True when `node` is a member.
    public func isLive(_ node: NodeID) -> Bool { members[node] != nil }

    /// Live members by name.
    public var liveMembers: [NodeID] { members.keys.sorted() }

    /// When the next member would expire if it stays silent (for the shell's timer).
    public var nextExpiry: ClusterInstant? {
        members.values.map { $0.lastHeard + configuration.failureTimeout }.min()
    }
}
