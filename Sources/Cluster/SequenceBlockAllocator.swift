/// Hands out disjoint blocks of outbound ESP sequence numbers for one shared SA (the
/// claims' "sequence numbers from a coupling facility", outbound claims 5–7).
///
/// Rules it keeps, whatever the agents do:
/// - **Never twice.** Blocks are cut from above the high-water mark, which only grows. A
///   block granted once is never granted again, not to another agent and not to a restarted
///   agent (`abandon(_:)` forgets a dead or restarted agent's blocks; their unused numbers
///   are lost, never reused). The only repeat is `resent`: the same block to the same live
///   agent that asks again before switching to it (a lost grant).
/// - **The fence.** Every block has the SA's fixed `blockSize`. The agent's kernel SA has a
///   hard packet lifetime of `blockSize`; the agent moves to a block with one XFRM_MSG_NEWAE
///   that sets the output sequence to `first - 1` and the packet count to 0 together. So
///   the kernel can send `first...last` and nothing more, however slow the agent is to get
///   its next block (at the hard limit the kernel expires the SA; the agent re-adds it when
///   its next block comes). A slow agent loses packets, it never reuses a number.
/// - **Inside the peer's replay window.** Numbers sent at the same time must lie within the
///   peer's window (Linux: at most 4096 with ESN replay state) or the peer drops the lower
///   ones. A new block is granted only if it and every block still held lie within
///   `peerReplayWindow`; otherwise the request is `deferred` (the agent retries). An agent
///   retires its old blocks by naming the block it uses now, or the number after a block its
///   kernel used up and expired (hard limit); `maximumIdle` lets the blocks of an agent that
///   has not asked for that long stop holding the window back.
/// - **First blocks first.** An agent that holds a block gets another (its block in hand)
///   only if the window keeps room for a first block of every target still installing the
///   SA that holds none (a target acknowledges a shared SA only once it has a block).
///   Otherwise, with the default window of two blocks, one agent's current block and block
///   in hand fill the window for good (it retires one and takes the freed room in the same
///   request), and a target that asked later never gets its first block, never puts the SA
///   into its kernel and misses the install timeout (issue 16, lab ike-rekey-lossless).
/// - **Exhaustion.** The space ends at 2^32 − 1 (or 2^64 − 1 with ESN). `rekeyAdvised`
///   turns true `rekeyMargin` numbers before that; past the end every request is `exhausted`.
public struct SequenceBlockAllocator: Sendable {
    /// The SA's sequencing parameters.
    public struct Configuration: Hashable, Sendable {
        /// Numbers per block (and the hard packet lifetime of the SA on every agent).
        public var blockSize: UInt64
        /// The peer's anti-replay window, in packets.
        public var peerReplayWindow: UInt64
        /// 64-bit sequence space (ESN) instead of 32-bit.
        public var extendedSequenceNumbers: Bool
        /// How many numbers before the end of the space a rekey is advised.
        public var rekeyMargin: UInt64
        /// Where in a block the agent asks for the next one (its soft packet lifetime).
        public var softPacketLimit: UInt64
        /// Blocks of an agent that has not asked for this long stop counting against the
        /// window (nil: they always count).
        public var maximumIdle: Duration?

        public init(blockSize: UInt64, peerReplayWindow: UInt64, extendedSequenceNumbers: Bool,
                    rekeyMargin: UInt64? = nil, softPacketLimit: UInt64? = nil, maximumIdle: Duration? = nil) {
            self.blockSize = blockSize
            self.peerReplayWindow = peerReplayWindow
            self.extendedSequenceNumbers = extendedSequenceNumbers
            let (defaultMargin, overflow) = blockSize.multipliedReportingOverflow(by: 64)
            self.rekeyMargin = rekeyMargin ?? (overflow ? .max : defaultMargin)
            self.softPacketLimit = softPacketLimit ?? blockSize / 2
            self.maximumIdle = maximumIdle
        }

        /// The last usable sequence number.
        public var limit: UInt64 { extendedSequenceNumbers ? .max : UInt64(UInt32.max) }
    }

    /// Why a configuration is refused.
    public enum ConfigurationError: Error, Equatable, CustomStringConvertible {
        case blockSizeZero
        case blockTooLargeForWindow(blockSize: UInt64, window: UInt64)
        case softLimitAboveBlock
        public var description: String {
            switch self {
            case .blockSizeZero: return "sequence block size must be at least 1"
            case .blockTooLargeForWindow(let blockSize, let window):
                return "sequence block size \(blockSize) is more than half the peer's replay window \(window)"
            case .softLimitAboveBlock: return "soft packet limit is above the block size"
            }
        }
    }

    /// What a request gets.
    public enum Decision: Equatable, Sendable {
        /// A fresh block, never granted before.
        case granted(SequenceBlock)
        /// The block this agent already holds and has not switched to yet (a lost grant).
        case resent(SequenceBlock)
        /// No room in the peer's replay window now; ask again later.
        case deferred
        /// The sequence space is used up: the SA must be rekeyed.
        case exhausted
    }

    private struct Holding: Sendable {
        var incarnation: UInt64
        var blocks: [SequenceBlock] = []   // ascending
        var lastRequest: ClusterInstant
        /// Requests `deferred` since the last block granted.
        var refusals = 0
    }

    public let configuration: Configuration
    /// The last number ever granted (0: none yet). Only grows.
    public private(set) var highWaterMark: UInt64 = 0
    private var holdings: [NodeID: Holding] = [:]

    /// Checks and adopts `configuration`: the block must fit twice into the window (an agent
    /// holds the block it uses and the next one).
    public init(configuration: Configuration) throws {
        guard configuration.blockSize >= 1 else { throw ConfigurationError.blockSizeZero }
        guard configuration.blockSize <= configuration.peerReplayWindow / 2 else {
            throw ConfigurationError.blockTooLargeForWindow(blockSize: configuration.blockSize, window: configuration.peerReplayWindow)
        }
        guard configuration.softPacketLimit <= configuration.blockSize else { throw ConfigurationError.softLimitAboveBlock }
        self.configuration = configuration
    }

    /// True once the high-water mark is within `rekeyMargin` of the end of the space.
    public var rekeyAdvised: Bool {
        highWaterMark >= configuration.limit - min(configuration.rekeyMargin, configuration.limit)
    }

    /// The blocks each agent holds (for status and tests).
    public var outstanding: [NodeID: [SequenceBlock]] {
        holdings.filter { !$0.value.blocks.isEmpty }.mapValues(\.blocks)
    }

    /// An agent asks for its next block, naming the first number of the block its kernel uses
    /// now (0 = none yet), or the number after the block its kernel used up. Blocks of that
    /// agent that end below the named number are retired.
    ///
    /// `incarnation` is the agent process's incarnation (from its Hello): a request from a
    /// new incarnation abandons everything the previous one held, so a restarted agent gets
    /// a fresh block even if nobody called `abandon(_:)`. `installing`: the targets that have
    /// not acknowledged the SA yet, for the room kept for their first blocks.
    public mutating func request(from node: NodeID, incarnation: UInt64, currentBlockFirst: UInt64,
                                 installing: Set<NodeID> = [], now: ClusterInstant) -> Decision {
        var holding = holdings[node] ?? Holding(incarnation: incarnation, lastRequest: now)
        if holding.incarnation != incarnation {
            holding = Holding(incarnation: incarnation, lastRequest: now)
        }
        holding.lastRequest = max(holding.lastRequest, now)
        holding.blocks.removeAll { $0.last < currentBlockFirst }
        holdings[node] = holding
        if let pending = holding.blocks.first(where: { $0.first > currentBlockFirst }) {
            return .resent(pending)
        }
        let blockSize = configuration.blockSize
        guard configuration.limit - highWaterMark >= blockSize else { return .exhausted }
        let first = highWaterMark + 1
        let last = highWaterMark + blockSize
        let span = last - (lowestCountedFirst(now: now) ?? first)
        let waiting = holding.blocks.isEmpty ? 0 : UInt64(withoutBlock(installing, besides: node))
        let (reserved, overflow) = blockSize.multipliedReportingOverflow(by: waiting)
        if span >= configuration.peerReplayWindow || overflow || reserved >= configuration.peerReplayWindow - span {
            holdings[node]?.refusals += 1
            return .deferred
        }
        // first >= 1 and first <= last by construction; the guard keeps this trap-free.
        guard let block = try? SequenceBlock(first: first, last: last) else { return .exhausted }
        highWaterMark = last
        holdings[node]?.blocks.append(block)
        holdings[node]?.refusals = 0
        return .granted(block)
    }

    /// How many of `node`'s requests were `deferred` since it was last granted a block.
    public func refusals(of node: NodeID) -> Int {
        holdings[node]?.refusals ?? 0
    }

    /// The agent died or restarted: its blocks no longer hold the window back, and are never
    /// granted again (the high-water mark stays above them).
    public mutating func abandon(_ node: NodeID) {
        holdings[node] = nil
    }

    /// The grant message for a decision's block.
    public func grant(for saID: ClusterSAID, block: SequenceBlock) -> ClusterMessage.SequenceBlockGrant {
        ClusterMessage.SequenceBlockGrant(saID: saID, block: block, softPacketLimit: configuration.softPacketLimit)
    }

    /// How many of `nodes` other than `node` hold no block.
    private func withoutBlock(_ nodes: Set<NodeID>, besides node: NodeID) -> Int {
        nodes.filter { $0 != node && (holdings[$0]?.blocks.isEmpty ?? true) }.count
    }

    /// The lowest first number among blocks that still count against the window.
    private func lowestCountedFirst(now: ClusterInstant) -> UInt64? {
        holdings.values
            .filter { holding in
                guard let idle = configuration.maximumIdle else { return true }
                return holding.lastRequest + idle > now
            }
            .compactMap { $0.blocks.first?.first }
            .min()
    }
}
