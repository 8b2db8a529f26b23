/// The agent's shadow SA cache, as pure decisions: which SAs to put into or take out of the
/// kernel, and which replies to send, for each message from the routing node.
///
/// The shell carries out the kernel effects (XFRM_MSG_NEWSA/UPDSA/DELSA plus policies) and
/// sends an Ack or Nack for each install or delete once the kernel answered.
public struct AgentShadowCache: Sendable {
    /// What the shell must do.
    public enum Effect: Equatable, Sendable {
        /// Add (or update) the SA and its policies in the kernel; then Ack or Nack it. For a
        /// shared outbound SA `block` is its first sequence block: the state is added with
        /// the output sequence at `first - 1` and the hard packet limit at the block size.
        case installInKernel(SADescription, block: ClusterMessage.SequenceBlockGrant?)
        /// A shared outbound SA moves to its next block: its kernel state is replaced by a
        /// fresh one (output sequence `first - 1`, packet count 0, hard packet limit = block
        /// size; XFRM has no NEWAE that resets the packet count), its policies stay.
        case switchSequenceBlock(SADescription, ClusterMessage.SequenceBlockGrant)
        /// Delete the SA and its policies from the kernel.
        case removeFromKernel(SADescription)
        /// Send this to the routing node.
        case reply(ClusterMessage)
    }

    /// The epoch the agent was last welcomed into, `.none` before that or after losing the cluster.
    public private(set) var epoch: ClusterEpoch = .none
    /// The SAs the agent holds (in the kernel, or being put there).
    public private(set) var sas: [ClusterSAID: SADescription] = [:]
    /// The sequence blocks of the shared outbound SAs held.
    public private(set) var sequencer = AgentSequencer()
    /// When to report each SA's counters (its step comes with the SA).
    private var reporters: [ClusterSAID: LifesizeReporter] = [:]
    /// How long the agent keeps its SAs after losing the routing node.
    public var grace: Duration
    /// When the agent last heard from the routing node.
    public private(set) var lastContact: ClusterInstant?

    public init(grace: Duration) {
        self.grace = grace
    }

    /// Any message from the routing node.
    public mutating func heard(now: ClusterInstant) {
        lastContact = max(lastContact ?? now, now)
    }

    /// Welcome: a different epoch means a new routing node; every SA held goes.
    public mutating func welcomed(_ welcome: ClusterMessage.Welcome, now: ClusterInstant) -> [Effect] {
        heard(now: now)
        defer { epoch = welcome.epoch }
        guard welcome.epoch != epoch else { return [] }
        return removeAll()
    }

    /// InstallSA: refuse other epochs (stale-epoch Nack); otherwise install (or replace).
    public mutating func install(_ message: ClusterMessage.InstallSA, now: ClusterInstant) -> [Effect] {
        heard(now: now)
        let sa = message.sa
        guard epoch != .none, sa.epoch == epoch else {
            return [.reply(.nack(.init(saID: sa.saID, operation: .installSA, reason: .staleEpoch,
                                       detail: "agent is in \(epoch), SA in \(sa.epoch)")))]
        }
        if sas[sa.saID] == sa, !isWaitingForBlock(sa) {
            // A resync resending what the agent holds: nothing to do in the kernel. (A shared
            // SA keeps its kernel state and block; its old blocks were abandoned by the
            // routing node, so they are never granted again.)
            return [.reply(.ack(.init(saID: sa.saID, operation: .installSA)))]
        }
        sas[sa.saID] = sa
        if reporters[sa.saID]?.step != sa.lifesizeReportStep {
            reporters[sa.saID] = LifesizeReporter(saID: sa.saID, step: sa.lifesizeReportStep)
        }
        if case .shared = sa.sequencing {
            // No kernel state without a block: ask first, install on the grant.
            return sequencer.installRequested(sa.saID).map(effect)
        }
        return [.installInKernel(sa, block: nil)]
    }

    /// A SequenceBlockGrant: the first block installs the shared SA, later ones switch it.
    public mutating func received(_ grant: ClusterMessage.SequenceBlockGrant, now: ClusterInstant) -> [Effect] {
        heard(now: now)
        guard sas[grant.saID] != nil else { return [] }
        return sequencer.received(grant).map(effect)
    }

    /// The kernel's soft packet expiry of a shared SA: ask for the next block.
    public mutating func softPacketLimitReached(_ saID: ClusterSAID) -> [Effect] {
        sequencer.softLimitReached(saID).map(effect)
    }

    /// The kernel's hard packet expiry of a shared SA (its state is gone): ask for a block
    /// to add it again.
    public mutating func hardPacketLimitReached(_ saID: ClusterSAID) -> [Effect] {
        sequencer.hardLimitReached(saID).map(effect)
    }

    /// The routing node answered `window-full`: called again after a short delay.
    public func retrySequenceBlock(_ saID: ClusterSAID) -> [Effect] {
        sequencer.retry(saID).map(effect)
    }

    private func isWaitingForBlock(_ sa: SADescription) -> Bool {
        guard case .shared = sa.sequencing else { return false }
        return sequencer.currentBlock(of: sa.saID) == nil
    }

    private func effect(_ sequencing: AgentSequencer.Effect) -> Effect {
        switch sequencing {
        case .request(let request):
            return .reply(.sequenceBlockRequest(request))
        case .addState(let saID, let grant):
            // `sas` holds every SA the sequencer knows; the fallback never happens.
            guard let sa = sas[saID] else { return .reply(.sequenceBlockRequest(.init(saID: saID, currentBlockFirst: 0))) }
            return .installInKernel(sa, block: grant)
        case .switchBlock(let saID, let grant):
            guard let sa = sas[saID] else { return .reply(.sequenceBlockRequest(.init(saID: saID, currentBlockFirst: 0))) }
            return .switchSequenceBlock(sa, grant)
        }
    }

    /// The kernel's counters of an SA (read periodically, or on an XFRM async event): a
    /// LifesizeReport when they crossed the next reporting step.
    public mutating func observedCounters(_ saID: ClusterSAID, bytes: UInt64, packets: UInt64) -> [Effect] {
        guard var reporter = reporters[saID] else { return [] }
        let report = reporter.observe(bytes: bytes, packets: packets)
        reporters[saID] = reporter
        return report.map { [.reply(.lifesizeReport($0))] } ?? []
    }

    /// The kernel expired the SA on its hard byte limit (XFRM_MSG_EXPIRE, hard): tell the
    /// routing node at once, with the final counters (the rekey came late).
    public func hardByteLimitReached(_ saID: ClusterSAID, bytes: UInt64, packets: UInt64) -> [Effect] {
        guard let reporter = reporters[saID] else { return [] }
        return [.reply(.lifesizeReport(reporter.finalReport(bytes: bytes, packets: packets, hardLimitReached: true)))]
    }

    /// The kernel refused an SA that `install` asked for: forget it and Nack the install.
    public mutating func installFailed(_ saID: ClusterSAID, reason: NackReason, detail: String) -> [Effect] {
        sas[saID] = nil
        reporters[saID] = nil
        sequencer.removed(saID)
        return [.reply(.nack(.init(saID: saID, operation: .installSA, reason: reason, detail: detail)))]
    }

    /// DeleteSA: remove it; an SA the agent does not hold is acknowledged anyway (deletes are
    /// idempotent, and the routing node only wants to know it is gone).
    public mutating func delete(_ message: ClusterMessage.DeleteSA, now: ClusterInstant) -> [Effect] {
        heard(now: now)
        guard message.epoch == epoch else {
            return [.reply(.nack(.init(saID: message.saID, operation: .deleteSA, reason: .staleEpoch)))]
        }
        sequencer.removed(message.saID)
        reporters[message.saID] = nil
        guard let sa = sas.removeValue(forKey: message.saID) else {
            return [.reply(.ack(.init(saID: message.saID, operation: .deleteSA)))]
        }
        return [.removeFromKernel(sa)]
    }

    /// FullState: delete every SA not listed (or everything, if the epoch is not ours).
    public mutating func fullState(_ message: ClusterMessage.FullState, now: ClusterInstant) -> [Effect] {
        heard(now: now)
        guard message.epoch == epoch else { return removeAll() }
        let keep = Set(message.saIDs)
        let gone = sas.keys.filter { !keep.contains($0) }.sorted()
        for id in gone {
            sequencer.removed(id)
            reporters[id] = nil
        }
        return gone.compactMap { id in sas.removeValue(forKey: id).map(Effect.removeFromKernel) }
    }

    /// Called on a timer while disconnected: once the grace has passed without contact,
    /// every SA goes and the agent forgets its epoch.
    public mutating func checkContact(now: ClusterInstant) -> [Effect] {
        guard let lastContact, lastContact + grace <= now else { return [] }
        self.lastContact = nil
        epoch = .none
        return removeAll()
    }

    private mutating func removeAll() -> [Effect] {
        let all = sas.keys.sorted().compactMap { sas[$0] }
        sas = [:]
        sequencer = AgentSequencer()
        reporters = [:]
        return all.map(Effect.removeFromKernel)
    }
}
