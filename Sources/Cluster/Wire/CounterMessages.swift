import NIOCore

/// A run of outbound ESP sequence numbers, `first...last`, granted to one agent for one
/// shared SA.
public struct SequenceBlock: Hashable, Sendable, CustomStringConvertible {
    public var first: UInt64
    public var last: UInt64

    /// Creates a block; `first` must be at least 1 and not above `last`.
    public init(first: UInt64, last: UInt64) throws {
        guard first >= 1, first <= last else {
            throw ClusterWireError.invalidValue(field: "sequence block", reason: "\(first)...\(last) is empty or starts at 0")
        }
        self.first = first
        self.last = last
    }

    /// How many numbers the block holds.
    public var count: UInt64 { last - first + 1 }

    /// True when the two blocks share a number.
    public func overlaps(_ other: SequenceBlock) -> Bool {
        first <= other.last && other.first <= last
    }

    public var description: String { "\(first)...\(last)" }
}

extension ClusterMessage {
    /// Agent → routing node: this target's kernel counters for one SA, cumulative since it
    /// installed the SA (so a lost report costs nothing but freshness).
    /// Body: SA id (u64), bytes (u64), packets (u64), flags (u8: bit 0 = the kernel's hard
    /// byte limit expired the SA on this target).
    public struct LifesizeReport: Equatable, Sendable, CustomStringConvertible {
        public var saID: ClusterSAID
        public var bytes: UInt64
        public var packets: UInt64
        /// The kernel on this target expired the SA on its hard byte limit: the rekey was late.
        public var hardLimitReached: Bool

        public init(saID: ClusterSAID, bytes: UInt64, packets: UInt64, hardLimitReached: Bool = false) {
            self.saID = saID
            self.bytes = bytes
            self.packets = packets
            self.hardLimitReached = hardLimitReached
        }

        public init(parsing buffer: inout ByteBuffer) throws {
            saID = try buffer.readClusterValue("LifesizeReport SA id")
            bytes = try buffer.readClusterInteger("LifesizeReport bytes")
            packets = try buffer.readClusterInteger("LifesizeReport packets")
            let flags: UInt8 = try buffer.readClusterInteger("LifesizeReport flags")
            guard flags & ~1 == 0 else {
                throw ClusterWireError.invalidValue(field: "LifesizeReport flags", reason: "unknown bits 0x\(String(flags, radix: 16))")
            }
            hardLimitReached = flags & 1 != 0
        }

        public func write(to buffer: inout ByteBuffer) {
            buffer.writeClusterValue(saID)
            buffer.writeInteger(bytes)
            buffer.writeInteger(packets)
            buffer.writeInteger(hardLimitReached ? 1 : 0, as: UInt8.self)
        }

        public var description: String {
            "LifesizeReport(\(saID): \(bytes) bytes, \(packets) packets\(hardLimitReached ? ", hard limit reached" : ""))"
        }
    }

    /// Agent → routing node: give me the next block of a shared outbound SA.
    /// Body: SA id (u64), first number of the block the kernel uses now (u64, 0 = none yet).
    ///
    /// Naming the block in use retires the agent's older blocks (its kernel has moved past
    /// them and cannot go back), which frees room in the peer's replay window.
    public struct SequenceBlockRequest: Equatable, Sendable, CustomStringConvertible {
        public var saID: ClusterSAID
        public var currentBlockFirst: UInt64

        public init(saID: ClusterSAID, currentBlockFirst: UInt64) {
            self.saID = saID
            self.currentBlockFirst = currentBlockFirst
        }

        public init(parsing buffer: inout ByteBuffer) throws {
            saID = try buffer.readClusterValue("SequenceBlockRequest SA id")
            currentBlockFirst = try buffer.readClusterInteger("SequenceBlockRequest current block")
        }

        public func write(to buffer: inout ByteBuffer) {
            buffer.writeClusterValue(saID)
            buffer.writeInteger(currentBlockFirst)
        }

        public var description: String { "SequenceBlockRequest(\(saID), current \(currentBlockFirst))" }
    }

    /// Routing node → agent: the block `first...last` of a shared SA, and its fence.
    /// Body: SA id (u64), first (u64), last (u64), soft packet limit (u64).
    ///
    /// The fence: the agent switches its kernel SA to the block with one XFRM_MSG_NEWAE
    /// that sets the output sequence to `first - 1` and the packet count to 0; the SA's
    /// hard packet lifetime is the block size, so the kernel sends at most `last`, however
    /// late the agent is for the next block. `softPacketLimit` is where the agent asks for
    /// the next block (the kernel's soft packet expiry event).
    public struct SequenceBlockGrant: Equatable, Sendable, CustomStringConvertible {
        public var saID: ClusterSAID
        public var block: SequenceBlock
        public var softPacketLimit: UInt64

        public init(saID: ClusterSAID, block: SequenceBlock, softPacketLimit: UInt64) {
            self.saID = saID
            self.block = block
            self.softPacketLimit = softPacketLimit
        }

        /// The hard packet lifetime that fences this block: its size.
        public var hardPacketLimit: UInt64 { block.count }

        public init(parsing buffer: inout ByteBuffer) throws {
            saID = try buffer.readClusterValue("SequenceBlockGrant SA id")
            let first: UInt64 = try buffer.readClusterInteger("SequenceBlockGrant first")
            let last: UInt64 = try buffer.readClusterInteger("SequenceBlockGrant last")
            block = try SequenceBlock(first: first, last: last)
            softPacketLimit = try buffer.readClusterInteger("SequenceBlockGrant soft limit")
            guard softPacketLimit <= block.count else {
                throw ClusterWireError.invalidValue(field: "SequenceBlockGrant soft limit", reason: "above the block size")
            }
        }

        public func write(to buffer: inout ByteBuffer) {
            buffer.writeClusterValue(saID)
            buffer.writeInteger(block.first)
            buffer.writeInteger(block.last)
            buffer.writeInteger(softPacketLimit)
        }

        public var description: String { "SequenceBlockGrant(\(saID), \(block), soft \(softPacketLimit))" }
    }
}
