/// The agent's side of shared outbound SAs: when to ask for a block, and how to put each
/// block into the kernel so that the kernel itself enforces it (the fence).
///
/// The kernel state of a shared SA never exists without a block, and the agent keeps one
/// block in hand (prefetched) so that moving on never waits for the routing node:
/// 1. InstallSA of a shared SA → ask for a block (current 0); nothing goes into the kernel
///    yet (a state added with output sequence 0 could send numbers granted to another agent,
///    and during a rekey the existing policy would pick the new state up at once).
/// 2. First grant → `addState`: XFRM_MSG_NEWSA with the replay state's output sequence at
///    `first - 1` and the lifetime's hard packet limit at the block size, soft at the grant's
///    soft limit; then its policies. At once ask for the next block, naming the current one.
/// 3. The next grant is kept in hand.
/// 4. Soft packet expiry (XFRM_MSG_EXPIRE, hard = 0) → `switchBlock` to the block in hand
///    (the state starts again at `first - 1` with packet count 0) and ask for the next one.
///    What was left of the previous block is never used. Without a block in hand the switch
///    happens as soon as the grant arrives.
/// 5. Hard packet expiry (the kernel already refused to go past the block and expired the
///    state) → `addState` with the block in hand, or ask and add when it comes. Such a request
///    names the number after the used-up block: the routing node retires it (the kernel sends
///    nothing of it again), so it no longer holds the peer's window back. With a window of
///    two blocks and two agents, each holding a used-up block otherwise stopped both for good.
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
        /// The next block, granted and not used yet.
        var next: ClusterMessage.SequenceBlockGrant?
        var inKernel = false
        /// The current state passed its soft limit with no block in hand.
        var switchWanted = false
    }

    private var entries: [ClusterSAID: Entry] = [:]

    public init() {}

    /// The block the kernel state of `saID` uses, if it is in the kernel.
    public func currentBlock(of saID: ClusterSAID) -> SequenceBlock? {
        guard let entry = entries[saID], entry.inKernel else { return nil }
        return entry.current
    }

    /// The block kept in hand for `saID`.
    public func nextBlock(of saID: ClusterSAID) -> SequenceBlock? {
        entries[saID]?.next?.block
    }

    /// A shared outbound SA arrived in an InstallSA: ask for its first block.
    public mutating func installRequested(_ saID: ClusterSAID) -> [Effect] {
        entries[saID] = Entry()
        return [.request(.init(saID: saID, currentBlockFirst: 0))]
    }

    /// A grant arrived. Grants for unknown SAs and for blocks not above the current one or the
    /// one in hand (resends) do nothing.
    public mutating func received(_ grant: ClusterMessage.SequenceBlockGrant) -> [Effect] {
        guard var entry = entries[grant.saID] else { return [] }
        if let current = entry.current, grant.block.first <= current.first { return [] }
        if let next = entry.next, grant.block.first <= next.block.first { return [] }
        defer { entries[grant.saID] = entry }
        if !entry.inKernel {
            entry.current = grant.block
            entry.inKernel = true
            entry.switchWanted = false
            return [.addState(grant.saID, grant), nextRequest(grant.saID, grant.block)]
        }
        if entry.switchWanted {
            entry.current = grant.block
            entry.switchWanted = false
            return [.switchBlock(grant.saID, grant), nextRequest(grant.saID, grant.block)]
        }
        entry.next = grant
        return []
    }

    /// The kernel's soft packet expiry for the SA: move to the block in hand (and ask for the
    /// one after it), or ask for a block and move as soon as it comes.
    public mutating func softLimitReached(_ saID: ClusterSAID) -> [Effect] {
        guard var entry = entries[saID], entry.inKernel, let current = entry.current else { return [] }
        defer { entries[saID] = entry }
        if let next = entry.next {
            entry.current = next.block
            entry.next = nil
            return [.switchBlock(saID, next), nextRequest(saID, next.block)]
        }
        entry.switchWanted = true
        return [nextRequest(saID, current)]
    }

    /// The kernel's hard packet expiry: the state is gone; add it again with the block in
    /// hand, or ask for a block to add it with.
    public mutating func hardLimitReached(_ saID: ClusterSAID) -> [Effect] {
        guard var entry = entries[saID] else { return [] }
        defer { entries[saID] = entry }
        entry.inKernel = false
        entry.switchWanted = false
        if let next = entry.next {
            entry.current = next.block
            entry.next = nil
            entry.inKernel = true
            return [.addState(saID, next), nextRequest(saID, next.block)]
        }
        return [.request(.init(saID: saID, currentBlockFirst: named(entry)))]
    }

    /// The routing node said `window-full`: the shell calls this again after a short delay.
    public func retry(_ saID: ClusterSAID) -> [Effect] {
        guard let entry = entries[saID], entry.next == nil else { return [] }
        return [.request(.init(saID: saID, currentBlockFirst: named(entry)))]
    }

    /// What a request names: the first number of the block in the kernel; once the kernel
    /// expired that block, the number after it; 0 before the first block.
    private func named(_ entry: Entry) -> UInt64 {
        guard let current = entry.current else { return 0 }
        guard !entry.inKernel else { return current.first }
        return current.last < .max ? current.last + 1 : current.last
    }

    /// The SA was deleted (or the agent lost the cluster).
    public mutating func removed(_ saID: ClusterSAID) {
        entries[saID] = nil
    }

    private func nextRequest(_ saID: ClusterSAID, _ current: SequenceBlock) -> Effect {
        .request(.init(saID: saID, currentBlockFirst: current.first))
    }
}
