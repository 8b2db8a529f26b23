// Inner fragments (tunnel mode): a non-first fragment carries no ports, so it follows the
// first fragment's target through a small table (peer's SA lineage, source, destination,
// protocol, IP identification) → target, filled by the first fragment, entries live 30 s
// (nfqlb fragtrack, Cilium's fragment map). A non-first fragment with no entry is dropped
// (`DropReason.fragmentUnknown`): a fragment sent to any target but its datagram's is
// useless there, and hashing on the addresses alone would hit the right one only 1/N of the
// time. The sender's datagram is lost either way; the drop is counted.

/// The fragment table's key.
public struct FragmentKey: Hashable, Sendable {
    public var lineage: SALineageID
    public var source: InboundAddress
    public var destination: InboundAddress
    public var ipProtocol: UInt8
    public var identification: UInt32
}

/// A bounded map with a TTL; when full, expired entries are swept (at most once per second)
/// and if none expired the new datagram is not recorded (its later fragments drop).
public struct FragmentTable {
    private var entries: [FragmentKey: (target: UInt16, expires: UInt64)] = [:]
    public let capacity: Int
    /// Lifetime of an entry in nanoseconds.
    public let lifetime: UInt64
    private var lastSweep: UInt64 = 0

    public init(capacity: Int = 8192, lifetime: Duration = .seconds(30)) {
        self.capacity = max(1, capacity)
        self.lifetime = UInt64(max(0, lifetime.components.seconds)) * 1_000_000_000
            + UInt64(max(0, lifetime.components.attoseconds / 1_000_000_000))
    }

    public var count: Int { entries.count }

    /// Records the first fragment's target. False if the table is full.
    @discardableResult
    public mutating func record(_ key: FragmentKey, target: UInt16, now: UInt64) -> Bool {
        if entries[key] == nil, entries.count >= capacity {
            if now >= lastSweep &+ 1_000_000_000 { sweep(now: now) }
            guard entries.count < capacity else { return false }
        }
        entries[key] = (target, now &+ lifetime)
        return true
    }

    /// The target of a later fragment, or nil.
    public mutating func target(for key: FragmentKey, now: UInt64) -> UInt16? {
        guard let entry = entries[key] else { return nil }
        if entry.expires <= now {
            entries[key] = nil
            return nil
        }
        return entry.target
    }

    /// Drops expired entries (O(count), bounded by `capacity`).
    public mutating func sweep(now: UInt64) {
        lastSweep = now
        entries = entries.filter { $0.value.expires > now }
    }

    /// Drops a dead target's entries.
    public mutating func removeTarget(_ target: UInt16) {
        entries = entries.filter { $0.value.target != target }
    }
}

/// A token bucket (new connection-table entries per SA per second): `rate` tokens per
/// second up to `burst`; time handed in.
public struct TokenBucket: Hashable, Sendable {
    public var rate: Double
    public var burst: Double
    public private(set) var tokens: Double
    private var last: UInt64

    public init(rate: Double, burst: Double, now: UInt64) {
        self.rate = max(0, rate)
        self.burst = max(1, burst)
        tokens = self.burst
        last = now
    }

    /// Takes one token if there is one.
    public mutating func take(now: UInt64) -> Bool {
        if now > last {
            tokens = min(burst, tokens + Double(now - last) * rate / 1e9)
            last = now
        }
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}

/// A set of target indices (0..<256) as four words: intersections per packet cost four ANDs.
public struct TargetSet: Hashable, Sendable {
    var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    public init() {}

    public static func == (a: TargetSet, b: TargetSet) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0); hasher.combine(words.1); hasher.combine(words.2); hasher.combine(words.3)
    }

    public mutating func insert(_ index: UInt16) { update(index, true) }
    public mutating func remove(_ index: UInt16) { update(index, false) }

    private mutating func update(_ index: UInt16, _ on: Bool) {
        let bit = UInt64(1) << UInt64(index & 63)
        switch index >> 6 {
        case 0: words.0 = on ? words.0 | bit : words.0 & ~bit
        case 1: words.1 = on ? words.1 | bit : words.1 & ~bit
        case 2: words.2 = on ? words.2 | bit : words.2 & ~bit
        default: words.3 = on ? words.3 | bit : words.3 & ~bit
        }
    }

    @inline(__always) public func contains(_ index: UInt16) -> Bool {
        let bit = UInt64(1) << UInt64(index & 63)
        switch index >> 6 {
        case 0: return words.0 & bit != 0
        case 1: return words.1 & bit != 0
        case 2: return words.2 & bit != 0
        default: return words.3 & bit != 0
        }
    }

    @inline(__always) public func intersection(_ other: TargetSet) -> TargetSet {
        var set = TargetSet()
        set.words = (words.0 & other.words.0, words.1 & other.words.1, words.2 & other.words.2, words.3 & other.words.3)
        return set
    }

    public var isEmpty: Bool { words.0 | words.1 | words.2 | words.3 == 0 }

    /// The members, ascending.
    public var members: [UInt16] { (0..<UInt16(maximumTargetCount)).filter { contains($0) } }

    /// Calls `body` with each member, in order (a step per member, not per possible one).
    func forEachMember(_ body: (UInt16) -> Void) {
        func each(_ word: UInt64, _ base: UInt16) {
            var bits = word
            while bits != 0 {
                body(base + UInt16(bits.trailingZeroBitCount))
                bits &= bits - 1
            }
        }
        each(words.0, 0); each(words.1, 64); each(words.2, 128); each(words.3, 192)
    }
}
