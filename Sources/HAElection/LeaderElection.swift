// Election and fencing of the routing nodes (issue 19, docs/takeover.md section 1), as a pure
// state machine: no I/O, time injected. The shell (HACoordination/HAController.swift) does
// what the returned actions say against etcd and reports the outcomes back.
//
// One lease per node (`/v3/lease/grant`, TTL = `lease`), kept alive every TTL/6. A node
// without a leader campaigns with one transaction on `<prefix>/leader`:
//
//     compare  create_revision(leader) == 0        (nobody holds it)
//     success  put(leader, node, lease: ours)      term = the revision of that put
//     failure  range(leader)                       who holds it
//
// Terms are etcd revisions: they only grow and no two wins share one. Every later write of
// the active is guarded by `create_revision(leader) == term`, so a deposed node's write fails
// (the shell reports `.writeFenced` and the machine steps down).
//
// Fencing in time: etcd expires a lease no earlier than TTL after it received the last
// keepalive, and that is no earlier than when we *sent* it. So the active serves only while
//
//     now < servingDeadline = sendTime(last acknowledged keepalive or grant) + TTL - margin
//
// and steps down when that passes, even if it is merely slow and etcd never said a word.
// By then its lease may still exist, but it cannot have expired yet: no other node can have
// won. The margin covers clock-rate differences and the kernel's address-lifetime slack.

import Cluster

/// The knobs of one election. All durations are positive and `margin < leaseTTL`.
public struct ElectionConfiguration: Sendable, Equatable {
    /// The lease TTL asked of etcd (the `lease` setting, default 3 s).
    public var leaseTTL: Duration
    /// How much earlier than the lease could expire the active stops serving (default TTL/4).
    public var margin: Duration
    /// How often a keepalive is sent (default TTL/6).
    public var keepAliveInterval: Duration
    /// How often a standby reads the leader key (default TTL/12, at least 100 ms).
    public var leaderPollInterval: Duration
    /// How long to wait before trying again after etcd failed a grant or a campaign.
    public var retryInterval: Duration

    public init(leaseTTL: Duration = .seconds(3), margin: Duration? = nil, keepAliveInterval: Duration? = nil,
                leaderPollInterval: Duration? = nil, retryInterval: Duration? = nil) {
        self.leaseTTL = leaseTTL
        self.margin = margin ?? leaseTTL / 4
        self.keepAliveInterval = keepAliveInterval ?? leaseTTL / 6
        self.leaderPollInterval = leaderPollInterval ?? max(.milliseconds(100), leaseTTL / 12)
        self.retryInterval = retryInterval ?? leaseTTL / 6
    }
}

/// Who holds `<prefix>/leader` (the value is the node id).
public struct LeaderRecord: Sendable, Equatable {
    public var node: String
    /// The key's create_revision: the holder's term.
    public var term: Int64
    public var lease: Int64

    public init(node: String, term: Int64, lease: Int64) {
        self.node = node
        self.term = term
        self.lease = lease
    }
}

/// What the shell does next. Each I/O action's outcome comes back as an event.
public enum ElectionAction: Sendable, Equatable {
    /// `/v3/lease/grant` with `ttl`; answer with `.leaseGranted` or `.leaseGrantFailed`.
    case grantLease(ttl: Duration)
    /// `/v3/lease/keepalive`; remember when it was sent; answer `.keepAliveAnswered` / `.keepAliveFailed`.
    case keepAlive(lease: Int64)
    /// Read `<prefix>/leader`; answer `.leaderRead`.
    case readLeader
    /// The campaign transaction (above); answer `.campaignWon`, `.campaignLost` or `.campaignFailed`.
    case campaign(lease: Int64)
    /// Start serving: add the DVIPA (with `addressLifetime`), announce it, answer IKE and agents.
    case becomeActive(term: Int64)
    /// Stop serving at once: stop answering IKE and agents, remove the DVIPA.
    case stopServing(term: Int64, reason: StepDownReason)
    /// Refresh the kernel fence: the DVIPA's valid lifetime, in whole seconds (`addressLifetime`).
    case refreshAddressLifetime(seconds: UInt32)
    /// `/v3/lease/revoke` (best effort: on a deliberate stop, so a standby wins at once).
    case revokeLease(lease: Int64)
}

public enum StepDownReason: String, Sendable, Equatable {
    /// The serving deadline passed: no keepalive acknowledged in time (etcd unreachable or slow).
    case deadline
    /// etcd answered that our lease is gone.
    case leaseLost = "lease-lost"
    /// A guarded write failed its leader compare: another node holds the leader key.
    case fenced
    /// An agent's frame carried a newer leader term than ours: another node won since.
    case deposed
    /// SIGTERM / SIGINT.
    case shutdown
}

public enum ElectionRole: String, Sendable, Equatable {
    /// Getting a lease (at start, or after losing one).
    case starting
    case standby
    case campaigning
    case active
    case stopped
}

/// The election of one routing node. Feed it events with `now` (a monotonic clock); do
/// what the returned actions say; call `tick(now:)` at `nextDeadline`.
public struct LeaderElection: Sendable {
    public let configuration: ElectionConfiguration
    public let node: String

    public private(set) var role: ElectionRole = .starting
    /// Our lease, while we have one.
    public private(set) var lease: Int64?
    /// The last instant by which etcd has certainly *not* expired our lease yet, minus the
    /// margin: `sendTime(last acknowledged keepalive or grant) + TTL - margin`.
    public private(set) var servingDeadline: ClusterInstant?
    /// Our term while active (and the last one we held, after).
    public private(set) var term: Int64?
    /// The holder of the leader key as last read (ourselves while active).
    public private(set) var leader: LeaderRecord?
    /// Whether the last exchange with etcd succeeded (status: etcd health as this node sees it).
    public private(set) var etcdReachable = false
    /// The highest term seen anywhere (ours or another's): terms shown never go back.
    public private(set) var highestTermSeen: Int64 = 0
    /// How often this node stepped down, by reason (status, tests).
    public private(set) var stepDowns: [StepDownReason: Int] = [:]

    private var grantInFlight = false
    private var keepAliveInFlight = false
    private var readInFlight = false
    private var nextKeepAlive: ClusterInstant?
    private var nextLeaderRead: ClusterInstant?
    private var nextGrant: ClusterInstant?

    public init(node: String, configuration: ElectionConfiguration = .init()) {
        self.node = node
        self.configuration = configuration
    }

    // MARK: Start and stop

    /// The first actions: get a lease.
    public mutating func start(now: ClusterInstant) -> [ElectionAction] {
        guard role == .starting, !grantInFlight else { return [] }
        grantInFlight = true
        return [.grantLease(ttl: configuration.leaseTTL)]
    }

    /// SIGTERM: stop serving (if active) and give the lease back so a standby wins at once.
    public mutating func stop(now: ClusterInstant) -> [ElectionAction] {
        var actions: [ElectionAction] = []
        if role == .active, let term {
            actions.append(.stopServing(term: term, reason: .shutdown))
            stepDowns[.shutdown, default: 0] += 1
        }
        if let lease { actions.append(.revokeLease(lease: lease)) }
        role = .stopped
        lease = nil
        servingDeadline = nil
        return actions
    }

    /// Whether this node may send IKE answers, cluster frames and DVIPA traffic now. The
    /// send paths ask this, so a merely slow node stops at its deadline even between ticks.
    public func maySend(now: ClusterInstant) -> Bool {
        guard role == .active, let servingDeadline else { return false }
        return now < servingDeadline
    }

    /// The valid lifetime (whole seconds) to give the DVIPA now: the kernel removes the address
    /// by itself once it passes, so a SIGKILLed or frozen node goes silent for the DVIPA. The
    /// kernel checks lifetimes within 0.25 s of their end (net/ipv4/devinet.c, check_lifetime),
    /// which the margin must cover; floor keeps it at or before the serving deadline. Nil when
    /// less than a second is left (leave the current, earlier lifetime alone).
    public func addressLifetime(now: ClusterInstant) -> UInt32? {
        guard role == .active, let servingDeadline, now < servingDeadline else { return nil }
        let seconds = (servingDeadline.nanoseconds - now.nanoseconds) / 1_000_000_000
        return seconds >= 1 ? UInt32(clamping: seconds) : nil
    }

    // MARK: Lease

    /// etcd granted `lease` with `ttl` (it may raise a short TTL); the request left at `sentAt`.
    public mutating func leaseGranted(_ lease: Int64, ttl: Duration, sentAt: ClusterInstant, now: ClusterInstant) -> [ElectionAction] {
        grantInFlight = false
        etcdReachable = true
        guard role == .starting else {
            // Stopped meanwhile: give it back.
            return role == .stopped ? [.revokeLease(lease: lease)] : []
        }
        self.lease = lease
        servingDeadline = sentAt + (ttl - configuration.margin)
        role = .standby
        nextKeepAlive = now + configuration.keepAliveInterval
        readInFlight = true
        nextLeaderRead = nil
        return [.readLeader]
    }

    public mutating func leaseGrantFailed(now: ClusterInstant) -> [ElectionAction] {
        grantInFlight = false
        etcdReachable = false
        if role == .starting { nextGrant = now + configuration.retryInterval }
        return []
    }

    /// A keepalive sent at `sentAt` was answered with `ttl` (zero: etcd no longer knows the lease).
    public mutating func keepAliveAnswered(lease answered: Int64, ttl: Duration, sentAt: ClusterInstant, now: ClusterInstant) -> [ElectionAction] {
        keepAliveInFlight = false
        etcdReachable = true
        guard answered == lease else { return [] }   // an answer for a lease we gave up
        guard ttl > .zero else { return loseLease(now: now, reason: .leaseLost) }
        let deadline = sentAt + (ttl - configuration.margin)
        // Answers may come out of order; the deadline only moves forward.
        if servingDeadline.map({ deadline > $0 }) ?? true { servingDeadline = deadline }
        if role == .active, let seconds = addressLifetime(now: now) {
            return [.refreshAddressLifetime(seconds: seconds)]
        }
        return []
    }

    public mutating func keepAliveFailed(now: ClusterInstant) -> [ElectionAction] {
        keepAliveInFlight = false
        etcdReachable = false
        // Nothing else: the serving deadline decides (tick), not a single failed request.
        return []
    }

    // MARK: Leader key

    /// The leader key as read (nil: nobody holds it).
    public mutating func leaderRead(_ record: LeaderRecord?, now: ClusterInstant) -> [ElectionAction] {
        readInFlight = false
        etcdReachable = true
        nextLeaderRead = now + configuration.leaderPollInterval
        if let record { highestTermSeen = max(highestTermSeen, record.term) }
        switch role {
        case .standby:
            leader = record
            // Our own key under our current lease: a campaign we took for failed had in
            // fact committed (its answer was lost). We hold the key; serve.
            if let record, record.node == node, record.lease == lease {
                role = .campaigning
                return campaignWon(term: record.term, now: now)
            }
            if record == nil, let lease, leaseValid(now: now) {
                role = .campaigning
                return [.campaign(lease: lease)]
            }
            return []
        case .active:
            // Someone else holds the key with a newer term: we are deposed.
            if let record, let term, record.term != term {
                leader = record
                return stepDown(reason: .fenced, now: now)
            }
            if record == nil, let term {
                // Our key is gone (our lease expired at etcd): deposed, even if our clock disagrees.
                leader = nil
                return stepDown(reason: .leaseLost, now: now, term: term)
            }
            return []
        case .starting, .campaigning, .stopped:
            leader = record
            return []
        }
    }

    public mutating func leaderReadFailed(now: ClusterInstant) -> [ElectionAction] {
        readInFlight = false
        etcdReachable = false
        nextLeaderRead = now + configuration.retryInterval
        return []
    }

    // MARK: Campaign

    /// The campaign transaction succeeded: we hold the leader key since revision `term`.
    public mutating func campaignWon(term: Int64, now: ClusterInstant) -> [ElectionAction] {
        etcdReachable = true
        highestTermSeen = max(highestTermSeen, term)
        guard role == .campaigning, let lease else { return [] }
        leader = LeaderRecord(node: node, term: term, lease: lease)
        // Won, but our own clock says the lease may already be gone: do not serve. The key
        // dies with the lease; we get a new lease and campaign again.
        guard leaseValid(now: now) else {
            return loseLease(now: now, reason: .deadline)
        }
        role = .active
        self.term = term
        var actions: [ElectionAction] = [.becomeActive(term: term)]
        if let seconds = addressLifetime(now: now) { actions.append(.refreshAddressLifetime(seconds: seconds)) }
        return actions
    }

    /// The compare failed: `holder` has the key.
    public mutating func campaignLost(holder: LeaderRecord?, now: ClusterInstant) -> [ElectionAction] {
        etcdReachable = true
        guard role == .campaigning else { return [] }
        role = .standby
        leader = holder
        if let holder { highestTermSeen = max(highestTermSeen, holder.term) }
        nextLeaderRead = now + configuration.leaderPollInterval
        return []
    }

    /// The transaction did not complete (etcd unreachable, lease unknown). If the lease is
    /// unknown the next keepalive says so.
    public mutating func campaignFailed(now: ClusterInstant) -> [ElectionAction] {
        etcdReachable = false
        guard role == .campaigning else { return [] }
        role = .standby
        nextLeaderRead = now + configuration.retryInterval
        return []
    }

    // MARK: Writes of the active

    /// A write guarded by `create_revision(leader) == term` failed its compare: another node
    /// won after our lease expired. Step down at once.
    public mutating func writeFenced(now: ClusterInstant) -> [ElectionAction] {
        guard role == .active else { return [] }
        return stepDown(reason: .fenced, now: now)
    }

    /// An agent's frame (or Hello) carried leader term `seen`, newer than ours: an agent
    /// followed another node's win, so our lease is gone whatever etcd told us last. Step down
    /// at once (the same path as a fenced write); an equal or older term changes nothing.
    public mutating func newerTermSeen(_ seen: Int64, now: ClusterInstant) -> [ElectionAction] {
        highestTermSeen = max(highestTermSeen, seen)
        guard role == .active, let term, seen > term else { return [] }
        return stepDown(reason: .deposed, now: now)
    }

    // MARK: Time

    /// The next instant `tick` has something to do.
    public var nextDeadline: ClusterInstant? {
        var candidates: [ClusterInstant] = []
        switch role {
        case .starting:
            if !grantInFlight, let nextGrant { candidates.append(nextGrant) }
        case .standby, .campaigning, .active:
            if !keepAliveInFlight, let nextKeepAlive { candidates.append(nextKeepAlive) }
            if role == .standby, !readInFlight, let nextLeaderRead { candidates.append(nextLeaderRead) }
            if role == .active, !readInFlight, let nextLeaderRead { candidates.append(nextLeaderRead) }
            if let servingDeadline { candidates.append(servingDeadline) }
        case .stopped:
            break
        }
        return candidates.min()
    }

    public mutating func tick(now: ClusterInstant) -> [ElectionAction] {
        var actions: [ElectionAction] = []
        switch role {
        case .stopped:
            return []
        case .starting:
            if !grantInFlight, let nextGrant, now >= nextGrant {
                self.nextGrant = nil
                grantInFlight = true
                actions.append(.grantLease(ttl: configuration.leaseTTL))
            }
            return actions
        case .standby, .campaigning, .active:
            break
        }
        // Past the deadline: the lease may be gone at etcd any moment. The active stops
        // serving; anyone starts over with a new lease (a keepalive of the old one might
        // still succeed, but we can no longer prove it is alive).
        if let servingDeadline, now >= servingDeadline {
            return loseLease(now: now, reason: .deadline)
        }
        if !keepAliveInFlight, let nextKeepAlive, now >= nextKeepAlive, let lease {
            keepAliveInFlight = true
            self.nextKeepAlive = now + configuration.keepAliveInterval
            actions.append(.keepAlive(lease: lease))
        }
        if role == .standby || role == .active, !readInFlight, let nextLeaderRead, now >= nextLeaderRead {
            readInFlight = true
            self.nextLeaderRead = nil
            actions.append(.readLeader)
        }
        return actions
    }

    // MARK: Private

    private func leaseValid(now: ClusterInstant) -> Bool {
        servingDeadline.map { now < $0 } ?? false
    }

    /// Our lease is (or may be) gone: step down if active, then get a new lease.
    private mutating func loseLease(now: ClusterInstant, reason: StepDownReason) -> [ElectionAction] {
        var actions: [ElectionAction] = []
        if role == .active, let term {
            actions.append(.stopServing(term: term, reason: reason))
            stepDowns[reason, default: 0] += 1
        }
        if reason == .deadline, let lease {
            // Best effort: if etcd still has it, give it back so nobody waits for its expiry.
            actions.append(.revokeLease(lease: lease))
        }
        if leader?.node == node { leader = nil }
        return actions + startOver()
    }

    /// Deposed while the lease may still be ours: stop serving and revoke the lease (so our
    /// old leader key, if any, goes too), then start over.
    private mutating func stepDown(reason: StepDownReason, now: ClusterInstant, term: Int64? = nil) -> [ElectionAction] {
        guard let currentTerm = term ?? self.term else { return [] }
        var actions: [ElectionAction] = [.stopServing(term: currentTerm, reason: reason)]
        stepDowns[reason, default: 0] += 1
        if let lease { actions.append(.revokeLease(lease: lease)) }
        return actions + startOver()
    }

    /// Back to `starting` with nothing in flight but (at most one) request for a new lease.
    private mutating func startOver() -> [ElectionAction] {
        role = .starting
        lease = nil
        servingDeadline = nil
        keepAliveInFlight = false
        readInFlight = false
        nextKeepAlive = nil
        nextLeaderRead = nil
        guard !grantInFlight else { return [] }
        grantInFlight = true
        return [.grantLease(ttl: configuration.leaseTTL)]
    }
}
