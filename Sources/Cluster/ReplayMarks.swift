// Inbound claim 22 with HA (issue 19 item 2, docs/takeover.md "Inbound replay marks"): each
// inbound SA's replay high-water mark in the coupling facility (etcd), written per block of
// sequence numbers, not per packet, so that a new active routing node starts the SA's
// check-only window from it.
//
// Which direction to round: **down**. The mark recorded for evidence top T is
// floor(T / blockSize) * blockSize ≤ T. A new active treats every number up to the mark as
// received; rounding up would have it drop the peer's next real packets (numbers between T
// and the rounded-up mark that the peer has not sent yet). Rounded down, the only numbers
// the mark does not cover are those above it the old active had evidence for: fewer than
// one block plus what arrived while the last write was on its way (docs/takeover.md says
// what else stands in their way).
//
// The block: 4096 numbers, the distributor's window (InboundSA.replayWindowSize's default).
// One etcd write per 4096 authenticated packets per SA (at 100,000 packets/s on one SA: 25
// writes/s), at most one in flight per SA (ReplayMarkStore coalesces), and the numbers a
// takeover leaves uncovered stay within one window.

/// The marks asked for, per inbound SA: pure, owned by the routing node's cluster loop.
public struct ReplayMarks: Sendable, Equatable {
    public static let defaultBlockSize: UInt64 = 4096
    /// Window words the floor evidence fills (4096 numbers, the distributor's window).
    public static let floorWords = 64

    public let blockSize: UInt64
    /// The highest mark asked to be recorded per SA (recorded, or on its way).
    public private(set) var marks: [ClusterSAID: UInt64]

    /// `restored`: the marks a takeover read (they are in etcd already).
    public init(blockSize: UInt64 = defaultBlockSize, restored: [ClusterSAID: UInt64] = [:]) {
        precondition(blockSize > 0, "replay mark block size must be positive")
        self.blockSize = blockSize
        marks = restored
    }

    /// The mark for evidence top `top`: rounded down to a block boundary.
    public static func mark(top: UInt64, blockSize: UInt64) -> UInt64 {
        top / blockSize * blockSize
    }

    /// Authenticated evidence `top` for `saID`: the mark to record when the evidence crossed
    /// into a block past the last mark asked for; nil otherwise (never a lower mark).
    public mutating func evidence(_ saID: ClusterSAID, top: UInt64) -> UInt64? {
        let mark = Self.mark(top: top, blockSize: blockSize)
        guard mark > (marks[saID] ?? 0) else { return nil }
        marks[saID] = mark
        return mark
    }

    /// Marks looked up by `forget` (tests: a deletion costs one, however many SAs are marked).
    public private(set) var visits = 0

    /// Forgets the marks of the SAs `removed` (the authority's inbound removals) for which
    /// `isCurrent` is false (one replaced under its id stays), and returns them, in order, for
    /// their etcd keys to be deleted. Looks up the removed SAs only, never every mark.
    public mutating func forget(_ removed: [ClusterSAID], keeping isCurrent: (ClusterSAID) -> Bool) -> [ClusterSAID] {
        var gone: [ClusterSAID] = []
        for id in removed {
            visits += 1
            guard marks[id] != nil, !isCurrent(id) else { continue }
            marks[id] = nil
            gone.append(id)
        }
        return gone
    }

    /// The evidence a new active starts an SA's window with: top = the mark, every number of
    /// the window at or below it received (`floorWords` words of ones). Nil for mark 0.
    public static func floorEvidence(mark: UInt64) -> (top: UInt64, bitmap: [UInt64])? {
        guard mark > 0 else { return nil }
        // Bit i = mark - i; numbers ≤ 0 do not exist, so a mark below the window sets only its own.
        var bitmap = [UInt64](repeating: .max, count: floorWords)
        if mark < UInt64(floorWords * 64) {
            for i in Int(mark)..<(floorWords * 64) { bitmap[i >> 6] &= ~(1 << UInt64(i & 63)) }
        }
        return (mark, bitmap)
    }
}
