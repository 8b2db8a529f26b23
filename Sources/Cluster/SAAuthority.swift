/// The SA authority on the routing node: decides which target gets which SA, tracks the
/// answers, and says when an IKE response may go out. Pure: every input is a method, every
/// output an `AuthorityAction`; time comes in as `now`.
///
/// Rules:
/// - Every SA handed over by the IKE daemon goes to every live target meant to have it
///   (`SADescription.isMeant(for:)`: all targets, or only the owner of a per-target
///   outbound SA), stamped with the routing node's epoch, with the lifesize report step
///   filled in, and for a shared outbound SA with the hard packet lifetime set to the
///   sequence block size (the fence).
/// - An IKE response is released once every SA it carries has an answer (Ack or Nack) from
///   every target it was sent to and at least one target installed each. It fails if one of
///   its SAs ends up installed nowhere.
/// - **Install timeout** (`installTimeout`): a target that has not answered an install by
///   then is dropped from the membership (`dropMember`, its connection is closed); the SA
///   stays on the targets that acknowledged, and the response is released (or failed, if
///   nobody acknowledged). The dropped target rejoins and gets every SA in a full resync, so
///   one slow or wedged target costs at most one timeout per IKE exchange, not a stall.
/// - A target that Nacks an install stays a member but does not hold the SA; the inbound
///   distributor sends it no flows of that SA (`holders(of:)`).
/// - A target that (re)joins or asks for a resync gets every current SA meant for it, then a
///   FullState; each install again has the install timeout.
/// - A target that leaves or dies is removed from every SA; its sequence blocks are
///   abandoned; its per-target outbound SAs are deleted with the peer.
public struct SAAuthority: Sendable {
    public struct Configuration: Hashable, Sendable {
        public var membership: MembershipConfiguration
        /// How long a target has to answer an install.
        public var installTimeout: Duration
        public var outboundMode: OutboundMode
        public var lifesize: LifesizePolicy
        /// Shared SAs: an agent that has not asked for a block this long stops holding the
        /// peer's window back (`SequenceBlockAllocator.Configuration.maximumIdle`).
        public var sequenceBlockMaximumIdle: Duration?

        public init(membership: MembershipConfiguration = MembershipConfiguration(), installTimeout: Duration = .seconds(2),
                    outboundMode: OutboundMode = .perTarget, lifesize: LifesizePolicy = LifesizePolicy(),
                    sequenceBlockMaximumIdle: Duration? = nil) {
            self.membership = membership
            self.installTimeout = installTimeout
            self.outboundMode = outboundMode
            self.lifesize = lifesize
            self.sequenceBlockMaximumIdle = sequenceBlockMaximumIdle
        }
    }

    /// Inputs dropped, by kind (for `vipsec status`).
    public struct Counters: Equatable, Sendable {
        /// Messages from a connection that has not joined (or was dropped).
        public var fromNonMembers = 0
        /// Messages that make no sense from an agent (e.g. an InstallSA).
        public var unexpected = 0
        /// Acks, Nacks, reports or requests about an SA unknown or not pending for the sender.
        public var unknownSA = 0
        /// Replay reports of inbound SAs taken (the evidence went on to the distributor).
        public var replayReports = 0
        /// Of those, reports whose top was below the SA's high-water mark: the mark stays
        /// (it only moves forward), the bits still go to the distributor's window.
        public var replayBelowHighWater = 0
        /// FlowReports received (agents send them after the resync that follows a Welcome).
        public var flowReports = 0
        /// Reported connections handed to the distributor (SA inbound and held by the sender).
        public var flowsReported = 0
        /// Reported connections dropped: their SA unknown, not inbound or not held by the sender.
        public var flowsUnknownSA = 0
    }

    struct Distribution: Sendable {
        var sa: SADescription
        var installed: Set<NodeID> = []
        var refused: [NodeID: NackReason] = [:]
        var pending: [NodeID: ClusterInstant] = [:]
        /// Inbound SAs: the highest sequence number a holder's kernel authenticated (claim 22).
        var inboundHighWater: UInt64 = 0
    }

    struct Waiting: Sendable {
        var saIDs: [ClusterSAID]
        var replacing: [ClusterSAID]
    }

    struct PerTargetLine: Hashable, Sendable {
        var owner: NodeID
        var reqid: UInt32
    }

    public let configuration: Configuration
    public internal(set) var membership: Membership
    public internal(set) var lifesize: LifesizeAccounting
    public internal(set) var counters = Counters()
    /// Changed only through `insertDistribution`, `removeDistribution` and, after a change of
    /// a `pending`, `pendingChanged` (SAAuthority+Index.swift), which keep `index` true.
    var distributions: [ClusterSAID: Distribution] = [:]
    /// Changed only through `hold` and `unhold`.
    var waiting: [IKEResponseToken: Waiting] = [:]
    var index = Index()
    /// SAs and held responses visited by the authority's loops, in all (tests count
    /// what one step costs at 1,000 and at 50,000 SAs: `SAAuthorityIndexTests`).
    var examined = 0
    var allocators: [ClusterSAID: SequenceBlockAllocator] = [:]
    var perTargetRequested: Set<PerTargetLine> = []
    var rekeyRequested: Set<ClusterSAID> = []
    var peerDeletionRequested: Set<ClusterSAID> = []
    /// After a takeover (SAAuthority+Restore.swift): owners of restored per-target SAs not
    /// yet rejoined. One that comes back without the cluster's epoch restarted meanwhile.
    var restoredOwners: Set<NodeID> = []
    /// The highest SA id in use: `makeSAID()` hands out the next (SAAuthority+ChildSA.swift).
    public internal(set) var lastSAID: UInt64 = 0
    /// The inbound SAs added, removed or answered since the last `takeInboundChanges()` (the
    /// inbound distributor's feed, ClusterNode's InboundStateFeed); nil: nobody asks, none kept.
    var inboundChanges: Set<ClusterSAID>?
    /// The inbound SAs removed since the last `takeInboundRemovals()` (the routing node
    /// forgets their replay marks from these); nil: nobody asks, none kept.
    var inboundRemovals: [ClusterSAID]?

    /// An authority for the routing node's `epoch` (fresh on every start).
    public init(epoch: ClusterEpoch, configuration: Configuration = Configuration()) {
        self.configuration = configuration
        membership = Membership(epoch: epoch, configuration: configuration.membership)
        lifesize = LifesizeAccounting(policy: configuration.lifesize)
    }

    // MARK: Inputs from the IKE daemon

    /// The IKE daemon negotiated `sas` (typically a CHILD_SA's inbound and outbound halves);
    /// `response` is held back until they are installed. An SA that fails
    /// `SADescription.validate()` is not distributed and fails the response. `replacing` names the SAs these
    /// rekey (their lifesize accounting judges the rekey's timing once these are installed).
    public mutating func childSANegotiated(_ sas: [SADescription], response: IKEResponseToken?,
                                           replacing: [ClusterSAID] = [], now: ClusterInstant) -> [AuthorityAction] {
        var actions: [AuthorityAction] = []
        var accepted: [ClusterSAID] = []
        var failure: String?
        for var sa in sas {
            sa.epoch = membership.epoch
            lastSAID = max(lastSAID, sa.saID.rawValue)   // ids a caller chose (tools, tests) are never handed out again
            do {
                try sa.validate()
            } catch {
                failure = "\(error)"
                continue
            }
            let holders = membership.liveMembers.filter { sa.isMeant(for: $0) }.count
            sa.lifesizeReportStep = lifesize.track(sa.saID, byteLimit: sa.lifetimes.hardByteLimit, line: sa.reqid,
                                                   holders: holders)
            if case .shared(let blockSize) = sa.sequencing {
                do {
                    let allocator = try SequenceBlockAllocator(configuration: allocatorConfiguration(for: sa, blockSize: blockSize))
                    allocators[sa.saID] = allocator
                    sa.lifetimes.hardPacketLimit = blockSize
                    sa.lifetimes.softPacketLimit = allocator.configuration.softPacketLimit
                } catch {
                    failure = "\(sa.saID): \(error)"
                    lifesize.forget(sa.saID)
                    continue
                }
            }
            if case .perTarget(let owner) = sa.sequencing {
                perTargetRequested.remove(PerTargetLine(owner: owner, reqid: sa.reqid))
            }
            var distribution = Distribution(sa: sa)
            for node in membership.liveMembers where sa.isMeant(for: node) {
                distribution.pending[node] = now + configuration.installTimeout
                actions.append(.send(.installSA(.init(sa: sa)), to: node))
            }
            insertDistribution(distribution)
            accepted.append(sa.saID)
        }
        if let response {
            if let failure {
                actions.append(.failIKEResponse(response, reason: failure))
            } else {
                hold(response, Waiting(saIDs: accepted, replacing: replacing))
            }
        }
        if configuration.outboundMode == .perTarget {
            for sa in sas where sa.direction == .inbound {
                actions += perTargetNegotiations(reqid: sa.reqid, for: membership.liveMembers)
            }
        }
        return actions + settle(response.map { [$0] } ?? [])
    }

    /// The IKE daemon deleted the SA (rekeyed away, expired, or deleted by the peer).
    public mutating func childSADeleted(_ saID: ClusterSAID, now: ClusterInstant) -> [AuthorityAction] {
        allocators[saID] = nil
        lifesize.forget(saID)
        rekeyRequested.remove(saID)
        peerDeletionRequested.remove(saID)
        let waitingOnIt = Array(index.waitingOn[saID] ?? [])
        guard let distribution = removeDistribution(saID) else { return settle(waitingOnIt) }
        let epoch = membership.epoch
        let targets = distribution.installed.union(distribution.pending.keys).sorted()
        var actions: [AuthorityAction] = targets.map { .send(.deleteSA(.init(saID: saID, epoch: epoch)), to: $0) }
        // A live owner whose per-target SA went (deleted by the peer, or expired) without a
        // replacement gets a new one, as long as its CHILD_SA line has inbound SAs.
        if case .perTarget(let owner) = distribution.sa.sequencing, membership.isLive(owner),
           lineHasInboundSAs(distribution.sa.reqid) {
            actions += perTargetNegotiations(reqid: distribution.sa.reqid, for: [owner])
        }
        return actions + settle(waitingOnIt)
    }

    /// The IKE daemon could not negotiate the per-target SA asked for; it may be asked again
    /// (on the owner's next join, or when another SA of the line is deleted).
    public mutating func perTargetNegotiationFailed(owner: NodeID, reqid: UInt32) {
        perTargetRequested.remove(PerTargetLine(owner: owner, reqid: reqid))
    }

    // MARK: Status

    /// The SAs currently distributed, by id.
    public var currentSAs: [SADescription] {
        distributions.keys.sorted().compactMap { distributions[$0]?.sa }
    }

    /// The SAs distributed now whose SPI is one of `spis`, by id (an IKE_SA's takeover
    /// record): from the index by SPI, O(spis), never a visit of every SA (issue 20).
    public mutating func distributedSAs(spis: Set<UInt32>) -> [SADescription] {
        var ids: [ClusterSAID] = []
        for spi in spis {
            examined += 1
            ids += index.bySPI[spi] ?? []
        }
        return ids.sorted().compactMap { distributions[$0]?.sa }
    }

    /// The SA `saID` as distributed (nil: none such now).
    public func distributedSA(_ saID: ClusterSAID) -> SADescription? {
        distributions[saID]?.sa
    }

    /// The targets that acknowledged `saID`.
    public func holders(of saID: ClusterSAID) -> Set<NodeID> {
        distributions[saID]?.installed ?? []
    }

    /// An inbound SA's high-water mark: the highest sequence number any holder's kernel
    /// authenticated (0: no evidence yet). It lives with the SA's state here, not in the
    /// distributor, so that a backup routing node taking over the authority starts its
    /// replay window from it (inbound claim 22).
    public func inboundHighWater(of saID: ClusterSAID) -> UInt64 {
        distributions[saID]?.inboundHighWater ?? 0
    }

    /// The targets that have not yet answered the install of `saID`.
    public func pendingTargets(of saID: ClusterSAID) -> Set<NodeID> {
        Set(distributions[saID].map { Array($0.pending.keys) } ?? [])
    }

    /// The targets that refused `saID`, with their reasons.
    public func refusals(of saID: ClusterSAID) -> [NodeID: NackReason] {
        distributions[saID]?.refused ?? [:]
    }

    /// The sequence allocator of a shared outbound SA.
    public func sequenceAllocator(for saID: ClusterSAID) -> SequenceBlockAllocator? {
        allocators[saID]
    }

    /// IKE responses still held back.
    public var heldResponses: [IKEResponseToken] { waiting.keys.sorted() }

    /// The earliest instant at which `tick(now:)` has something to do.
    public var nextDeadline: ClusterInstant? {
        let installs = index.pendingSAs.lazy.compactMap { self.distributions[$0]?.pending.values.min() }.min()
        return [installs, membership.nextExpiry].compactMap { $0 }.min()
    }

    // MARK: Internals

    /// Releases or fails every held response whose SAs all have their answers.
    mutating func settle() -> [AuthorityAction] {
        settle(waiting.keys)
    }

    /// Releases or fails those of `tokens` whose SAs all have their answers: after a step
    /// that changed only their SAs (every step settles what it may have settled).
    mutating func settle(_ tokens: some Sequence<IKEResponseToken>) -> [AuthorityAction] {
        var actions: [AuthorityAction] = []
        for token in tokens.sorted() {
            examined += 1
            guard let entry = waiting[token] else { continue }
            let states = entry.saIDs.map { distributions[$0] }
            if states.contains(where: { ($0?.pending.isEmpty ?? true) == false }) { continue }
            unhold(token)
            if let missing = zip(entry.saIDs, states).first(where: { $0.1?.installed.isEmpty ?? true }) {
                let why = missing.1 == nil ? "was deleted" : "is installed on no target"
                actions.append(.failIKEResponse(token, reason: "\(missing.0) \(why)"))
                continue
            }
            for old in entry.replacing {
                if let timing = lifesize.rekeyCompleted(old, holders: distributions[old]?.installed.count ?? 0) {
                    actions.append(.rekeyJudged(old, timing, percent: lifesize.percent))
                }
            }
            actions.append(.releaseIKEResponse(token))
        }
        return actions
    }

    /// Per-target mode: asks for an outbound SA for each of `nodes` that has none in line `reqid`.
    mutating func perTargetNegotiations(reqid: UInt32, for nodes: [NodeID]) -> [AuthorityAction] {
        guard configuration.outboundMode == .perTarget else { return [] }
        let owners = perTargetOwners(reqid: reqid, excludingDeleted: true)
        var actions: [AuthorityAction] = []
        for node in nodes where !owners.contains(node) {
            let line = PerTargetLine(owner: node, reqid: reqid)
            guard perTargetRequested.insert(line).inserted else { continue }
            actions.append(.negotiatePerTargetSA(owner: node, reqid: reqid))
        }
        return actions
    }

    private func allocatorConfiguration(for sa: SADescription, blockSize: UInt64) -> SequenceBlockAllocator.Configuration {
        let window: UInt64
        if case .shared(_, let peerWindow) = configuration.outboundMode {
            window = peerWindow
        } else {
            window = blockSize.multipliedReportingOverflow(by: 2).partialValue
        }
        return SequenceBlockAllocator.Configuration(blockSize: blockSize, peerReplayWindow: window,
                                                    extendedSequenceNumbers: sa.extendedSequenceNumbers,
                                                    maximumIdle: configuration.sequenceBlockMaximumIdle)
    }
}
