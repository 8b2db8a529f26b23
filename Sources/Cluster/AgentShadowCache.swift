/// The agent's shadow SA cache, as pure decisions: which SAs to put into or take out of the
/// kernel, and which replies to send, for each message from the routing node.
///
/// The shell carries out the kernel effects (XFRM_MSG_NEWSA/UPDSA/DELSA plus policies) and
/// sends an Ack or Nack for each install or delete once the kernel answered.
public struct AgentShadowCache: Sendable {
    /// What the shell must do.
    public enum Effect: Equatable, Sendable {
        /// Add (or update) the SA and its policies in the kernel; then Ack or Nack it.
        case installInKernel(SADescription)
        /// Delete the SA and its policies from the kernel.
        case removeFromKernel(SADescription)
        /// Send this to the routing node.
        case reply(ClusterMessage)
    }

    /// The epoch the agent was last welcomed into, `.none` before that or after losing the cluster.
    public private(set) var epoch: ClusterEpoch = .none
    /// The SAs the agent holds (in the kernel, or being put there).
    public private(set) var sas: [ClusterSAID: SADescription] = [:]
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
        sas[sa.saID] = sa
        return [.installInKernel(sa)]
    }

    /// The kernel refused an SA that `install` asked for: forget it and Nack the install.
    public mutating func installFailed(_ saID: ClusterSAID, reason: NackReason, detail: String) -> [Effect] {
        sas[saID] = nil
        return [.reply(.nack(.init(saID: saID, operation: .installSA, reason: reason, detail: detail)))]
    }

    /// DeleteSA: remove it; an SA the agent does not hold is acknowledged anyway (deletes are
    /// idempotent, and the routing node only wants to know it is gone).
    public mutating func delete(_ message: ClusterMessage.DeleteSA, now: ClusterInstant) -> [Effect] {
        heard(now: now)
        guard message.epoch == epoch else {
            return [.reply(.nack(.init(saID: message.saID, operation: .deleteSA, reason: .staleEpoch)))]
        }
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
        return all.map(Effect.removeFromKernel)
    }
}
