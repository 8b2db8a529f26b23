// The routing node's check-only anti-replay window (claim 9; RFC 4303 §3.4.3 split across
// nodes, INBOUND.md §3 option B). The routing node cannot verify ICVs, so it must never move
// the window on what it forwards: one forged packet with sequence number T+2^31 would push
// every real packet out of the window. Here the window's top T and its bitmap move only on
// *authenticated evidence*: the targets' kernels' replay state (XFRM NEWAE: seq, seq_hi,
// bitmap), which their kernels advanced after the ICV check. Packets right of T pass and
// never move T; a packet left of the window, or whose bit is set, is a replay. With ICV
// verification on at the routing node (`ICVVerification`), a packet it verified itself
// is evidence too (`verified`).

/// The verdict of the replay check.
public enum ReplayCheck: Hashable, Sendable {
    /// Forward; `sequenceNumber` is the 64-bit number (ESN reconstructed, RFC 4303 App. A).
    case pass(sequenceNumber: UInt64)
    /// Authenticated evidence says this number was received already.
    case replay
    /// Left of the window (or sequence number 0, which no sender uses).
    case tooOld
}

/// One SA's window: a value; `check` never mutates it.
public struct ReplayWindow: Hashable, Sendable {
    /// W, a multiple of 64.
    public let size: Int
    /// Extended sequence numbers.
    public let extended: Bool
    /// T: the highest authenticated sequence number (0: no evidence yet).
    public private(set) var top: UInt64 = 0
    /// Bit i (word i/64, bit i%64) set = sequence number T-i was received and authenticated.
    public private(set) var bitmap: [UInt64]

    /// A window of `size` packets (a multiple of 64, 64...65536).
    public init(size: Int = 4096, extended: Bool = false) {
        precondition(size >= 64 && size <= 65536 && size % 64 == 0, "replay window size must be a multiple of 64")
        self.size = size
        self.extended = extended
        bitmap = [UInt64](repeating: 0, count: size / 64)
    }

    /// Checks the 32-bit wire value without changing anything.
    public func check(_ wire: UInt32) -> ReplayCheck {
        let sequence: UInt64
        if extended {
            guard let reconstructed = reconstruct(wire) else { return .tooOld }
            sequence = reconstructed
        } else {
            sequence = UInt64(wire)
        }
        guard sequence != 0 else { return .tooOld }
        if sequence > top { return .pass(sequenceNumber: sequence) }
        let offset = top - sequence
        guard offset < UInt64(size) else { return .tooOld }
        let i = Int(offset)
        return bitmap[i >> 6] & (1 << UInt64(i & 63)) != 0 ? .replay : .pass(sequenceNumber: sequence)
    }

    /// The 64-bit sequence number for the wire's low 32 bits (RFC 4303 Appendix A2.2), given
    /// T and W; nil when it would lie before sequence number 0 (subspace -1).
    public func reconstruct(_ wire: UInt32) -> UInt64? {
        let tl = UInt32(truncatingIfNeeded: top), th = UInt32(truncatingIfNeeded: top >> 32)
        let w = UInt32(size)
        let seql = wire
        var seqh = th
        if tl >= w - 1 {
            // Case A: the window lies within one subspace.
            if seql < tl - w + 1 { seqh = th &+ 1 }
        } else {
            // Case B: the window spans two subspaces.
            if seql >= tl &- w &+ 1 {
                guard th > 0 else { return nil }
                seqh = th - 1
            }
        }
        return UInt64(seqh) << 32 | UInt64(seql)
    }

    /// Merges authenticated evidence: one target's kernel replay state (top and bitmap, bit i
    /// = top-i, as XFRMA_REPLAY_ESN_VAL carries it). ORed with what is known, aligned at each
    /// top; T only moves forward.
    public mutating func authenticated(top evidenceTop: UInt64, bitmap evidence: [UInt64]) {
        if evidenceTop > top {
            shiftLeft(by: evidenceTop - top)
            top = evidenceTop
            orAligned(evidence, shift: 0)
        } else {
            orAligned(evidence, shift: top - evidenceTop)
        }
    }

    /// One packet whose ICV the routing node verified itself (`verify` on): marked received;
    /// T moves to it when it lies right of T (RFC 4303 §3.4.3, after integrity verification).
    public mutating func verified(_ sequence: UInt64) {
        if sequence > top {
            shiftLeft(by: sequence - top)
            top = sequence
            bitmap[0] |= 1
        } else if top - sequence < UInt64(size) {
            let i = Int(top - sequence)
            bitmap[i >> 6] |= 1 << UInt64(i & 63)
        }
    }

    /// Makes the window "older": bit i moves to i+n (T grew by n).
    private mutating func shiftLeft(by n: UInt64) {
        guard n < UInt64(size) else {
            for i in bitmap.indices { bitmap[i] = 0 }
            return
        }
        let words = Int(n >> 6), bits = UInt64(n & 63)
        for i in stride(from: bitmap.count - 1, through: 0, by: -1) {
            let source = i - words
            var value: UInt64 = source >= 0 ? bitmap[source] << bits : 0
            if bits > 0, source - 1 >= 0 { value |= bitmap[source - 1] >> (64 - bits) }
            bitmap[i] = value
        }
    }

    /// ORs `evidence` (bit i = its top - i) whose top lies `shift` below ours.
    private mutating func orAligned(_ evidence: [UInt64], shift: UInt64) {
        guard shift < UInt64(size) else { return }
        let words = Int(shift >> 6), bits = UInt64(shift & 63)
        for j in evidence.indices {
            let target = j + words
            guard target < bitmap.count else { break }
            bitmap[target] |= evidence[j] << bits
            if bits > 0, target + 1 < bitmap.count { bitmap[target + 1] |= evidence[j] >> (64 - bits) }
        }
    }

    /// The bitmap as sequence numbers, newest first (tests, status).
    public var authenticatedNumbers: [UInt64] {
        var numbers: [UInt64] = []
        for i in 0..<size where bitmap[i >> 6] & (1 << UInt64(i & 63)) != 0 && UInt64(i) < top {
            numbers.append(top - UInt64(i))
        }
        return numbers
    }
}
