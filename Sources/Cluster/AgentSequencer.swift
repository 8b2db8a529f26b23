/// The agent's side of shared outbound SAs: when to ask for a block, and how to put each
/// block into the kernel so that the kernel itself enforces it (the fence).
///
/// The kernel state of a shared SA never exists without a block:
/// 1. InstallSA of a shared SA → ask for a block (current 0); nothing goes into the kernel
///    yet (a state added with output sequence 0 could send numbers granted to another agent,
///    and during a rekey the existing policy would pick the new state up at once).
/// 2. First grant → `addState`: XFRM_MSG_NEWSA with the replay state's output sequence at
///    `first - 1` (XFRMA_REPLAY_VAL, or XFRMA_REPLAY_ESN_VAL with ESN) and the lifetime's hard
///    packet limit at the block size, soft at the grant's soft limit; then its policies.
/// 3. Soft packet expiry (XFRM_MSG_EXPIRE, hard = 0) → ask for the next block, naming the
///    current one.
/// 4. Next grant → `switchBlock`: one XFRM_MSG_NEWAE with the output sequence at `first - 1`
///    and XFRMA_LTIME_VAL packets 0 (bytes kept); the kernel applies both under the SA's lock.
///    What was left of the previous block is never used.
/// 5. Hard packet expiry (the agent was too slow: the kernel already refused to go past the
///    block and expired the state) → ask again; the next grant is an `addState`.
public struct AgentSequencer: Sendable {
    /// What the shell must do.
    public enum Effect: Equatable, Sendable {
        /// Send this request to the routing node.
        case request(ClusterMessage.SequenceBlockRequest)
        /// Add the SA's kernel state fenced to the grant's block (step 2 or 5).
        case addState(ClusterSAID, ClusterMessage.SequenceBlockGrant)
        /// Move the live kernel state to the grant's block with one XFRM_MSG_NEWAE (step 4).
        case switchBlock(ClusterSAID, ClusterMessage.SequenceBlockGrant)
    }

    private struct Entry: Sendable {
        var current: SequenceBlock?
        var inKernel = false
    }

    private var entries: [ClusterSAID: Entry] = [:]

    public init() {}

    /// The block the kernel state of `saID` uses, if it is in the kernel.
    public func currentBlock(of saID: ClusterSAID) -> SequenceBlock? {
        guard let entry = entries[saID], entry.inKernel else { return nil }
        return entry.current
    }

    /// A shared outbound SA arrived in an InstallSA: ask for its first block.
    public mutating func installRequested(_ saID: ClusterSAID) -> [Effect] {
        entries[saID] = Entry()
        return [.request(.init(saID: saID, currentBlockFirst: 0))]
    }

    /// A grant arrived. Grants for unknown SAs and for blocks not above the current one
    /// (a resend of what is in use) do nothing.
    public mutating func received(_ grant: ClusterMessage.SequenceBlockGrant) -> [Effect] {
        guard var entry = entries[grant.saID] else { return [] }
        if let current = entry.current, grant.block.first <= current.first { return [] }
        let wasInKernel = entry.inKernel
        entry.current = grant.block
        entry.inKernel = true
        entries[grant.saID] = entry
        return [wasInKernel ? .switchBlock(grant.saID, grant) : .addState(grant.saID, grant)]
    }

    /// The kernel's soft packet expiry for the SA: time to ask for the next block.
    public mutating func softLimitReached(_ saID: ClusterSAID) -> [Effect] {
        guard let entry = entries[saID], entry.inKernel, let current = entry.current else { return [] }
        return [.request(.init(saID: saID, currentBlockFirst: current.first))]
    }

    /// The kernel's hard packet expiry: the state is gone; ask for a block to add it again.
    public mutating func hardLimitReached(_ saID: ClusterSAID) -> [Effect] {
        guard var entry = entries[saID] else { return [] }
        entry.inKernel = false
        entries[saID] = entry
        return [.request(.init(saID: saID, currentBlockFirst: entry.current?.first ?? 0))]
    }

    /// The routing node said `window-full`: the shell calls this again after a short delay.
    public func retry(_ saID: ClusterSAID) -> [Effect] {
        guard let entry = entries[saID] else { return [] }
        return [.request(.init(saID: saID, currentBlockFirst: entry.current?.first ?? 0))]
    }

    /// The SA was deleted (or the agent lost the cluster).
    public mutating func removed(_ saID: ClusterSAID) {
        entries[saID] = nil
    }
}
