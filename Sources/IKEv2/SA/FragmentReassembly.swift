// IKE message fragmentation, the receiving side (RFC 7383 2.6): the fragments of one
// message, each already authenticated, put back together, with bounds so that a peer
// cannot make us hold more than one message's worth per direction.
//
// - Only fragments whose ICV verified reach this (an attacker without the keys stores
//   nothing); the IKE_SA keeps one reassembly for requests and one for responses.
// - A message is identified by its Message ID. Fragments of another Message ID replace
//   what was gathered (only the expected request or our outstanding request's response
//   are offered at all).
// - Total Fragments must agree; a larger total than the one gathered means the sender
//   fragmented again with a smaller size (2.6.2, PMTU): start over with it; a smaller one
//   is dropped.
// - Bounds: at most `maximumFragments` fragments, `maximumMessageLength` octets in all,
//   and `timeout` seconds from the first fragment to the last.

/// What the fragments gathered so far make.
public enum FragmentReassemblyResult: Equatable, Sendable {
    /// Stored (or a duplicate ignored); more are needed.
    case incomplete
    /// All fragments are here: the inner payload chain, starting with `firstPayload`.
    case complete(firstPayload: PayloadType, plaintext: [UInt8])
    /// The fragment was dropped (see the reason), and with it anything gathered if the
    /// message exceeded a bound.
    case dropped(FragmentDropReason)
}

/// Why a fragment was dropped.
public enum FragmentDropReason: String, Sendable, Equatable, CaseIterable {
    /// Total Fragments above `maximumFragments`.
    case tooManyFragments = "too_many_fragments"
    /// The pieces together exceed `maximumMessageLength`.
    case tooLong = "too_long"
    /// Total Fragments smaller than the one being gathered (a stale fragmentation).
    case staleTotal = "stale_total"
}

/// The fragments of one message being put back together.
public struct FragmentReassembly: Sendable {
    /// The bounds of one reassembly.
    public struct Limits: Sendable, Equatable {
        public var maximumFragments: Int
        public var maximumMessageLength: Int
        public var timeout: Double
        public init(maximumFragments: Int = 64, maximumMessageLength: Int = 65_535, timeout: Double = 30) {
            self.maximumFragments = maximumFragments
            self.maximumMessageLength = maximumMessageLength
            self.timeout = timeout
        }
    }

    public let limits: Limits
    private var messageID: UInt32?
    private var totalFragments = 0
    private var firstPayload: PayloadType = .noNextPayload
    private var pieces: [Int: [UInt8]] = [:]
    private var storedLength = 0
    private var started = 0.0

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Octets held now (for tests and status).
    public var heldOctets: Int { storedLength }

    /// Adds the authenticated fragment `number` of `total` of message `messageID`, carrying
    /// `plaintext`; `firstPayload` is its SKF Next Payload (meaningful in fragment 1).
    public mutating func add(messageID: UInt32, number: UInt16, total: UInt16, firstPayload: PayloadType,
                             plaintext: [UInt8], now: Double) -> FragmentReassemblyResult {
        let number = Int(number), total = Int(total)
        guard total <= limits.maximumFragments else { return .dropped(.tooManyFragments) }
        let expired = now - started > limits.timeout
        if messageID != self.messageID || expired || total > totalFragments {
            reset()
            self.messageID = messageID
            totalFragments = total
            started = now
        } else if total < totalFragments {
            return .dropped(.staleTotal)
        }
        guard pieces[number] == nil else { return .incomplete }
        guard storedLength + plaintext.count <= limits.maximumMessageLength else {
            reset()
            return .dropped(.tooLong)
        }
        pieces[number] = plaintext
        storedLength += plaintext.count
        if number == 1 { self.firstPayload = firstPayload }
        guard pieces.count == totalFragments else { return .incomplete }
        let whole = (1...totalFragments).flatMap { pieces[$0]! }
        let first = self.firstPayload
        reset()
        return .complete(firstPayload: first, plaintext: whole)
    }

    /// Forgets everything gathered (wiping it).
    public mutating func reset() {
        for key in pieces.keys { wipe(&pieces[key]!) }
        pieces = [:]
        storedLength = 0
        messageID = nil
        totalFragments = 0
        firstPayload = .noNextPayload
    }
}
