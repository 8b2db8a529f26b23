// The connection table's storage (claim 10): (SA lineage, inner flow) → target index, with
// an expiry per entry. Open addressing with linear probing and backward-shift deletion over
// one flat array of 48-octet slots (no per-entry allocation): at the global cap the array is
// 1.5 slots per entry, about 72 octets per flow, so 1 M flows fit in ~72 MB.
// Expiry is lazy on lookup plus an incremental sweep (`sweep(now:budget:)`): a cursor walks
// `budget` slots per call, so no call ever scans the whole table.

/// The most targets a classifier knows (target indices 0..<256).
public let maximumTargetCount = 256

/// Idle timeouts in seconds (the IPVS defaults, `ipvsadm -L --timeout`: tcp 900, tcpfin 120, udp 300).
public struct FlowTimeouts: Hashable, Sendable {
    public var tcp: UInt32 = 900
    /// After a FIN or RST was seen.
    public var tcpClosing: UInt32 = 120
    public var udp: UInt32 = 300
    /// ICMP echo and other protocols.
    public var other: UInt32 = 300
    public init() {}

    @inline(__always) func timeout(protocol proto: UInt8, closing: Bool) -> UInt32 {
        switch proto {
        case IPProtocolNumber.tcp: return closing ? tcpClosing : tcp
        case IPProtocolNumber.udp: return udp
        default: return other
        }
    }
}

/// One slot, 48 octets: the key's fields flat, then expiry, target, protocol and flags.
struct FlowSlot {
    var sourceHigh: UInt64 = 0, sourceLow: UInt64 = 0
    var destinationHigh: UInt64 = 0, destinationLow: UInt64 = 0
    var lineage: UInt32 = 0
    var ports: UInt32 = 0
    var expires: UInt32 = 0
    var target: UInt16 = FlowSlot.empty
    var ipProtocol: UInt8 = 0
    /// bit 0: IPv4; bit 1: closing (FIN/RST seen).
    var flags: UInt8 = 0

    static let empty = UInt16.max

    init() {}

    init(_ key: FlowKey, target: UInt16, expires: UInt32, closing: Bool) {
        sourceHigh = key.source.high; sourceLow = key.source.low
        destinationHigh = key.destination.high; destinationLow = key.destination.low
        lineage = key.lineage.rawValue
        ports = UInt32(key.sourcePort) << 16 | UInt32(key.destinationPort)
        self.expires = expires
        self.target = target
        ipProtocol = key.ipProtocol
        flags = (key.source.isIPv4 ? 1 : 0) | (closing ? 2 : 0)
    }

    @inline(__always) func matches(_ key: FlowKey) -> Bool {
        sourceLow == key.source.low && destinationLow == key.destination.low
            && ports == (UInt32(key.sourcePort) << 16 | UInt32(key.destinationPort))
            && lineage == key.lineage.rawValue && ipProtocol == key.ipProtocol
            && sourceHigh == key.source.high && destinationHigh == key.destination.high
            && (flags & 1 == 1) == key.source.isIPv4
    }

    var key: FlowKey {
        let v4 = flags & 1 == 1
        return FlowKey(lineage: SALineageID(lineage),
                       source: InboundAddress(high: sourceHigh, low: sourceLow, isIPv4: v4),
                       destination: InboundAddress(high: destinationHigh, low: destinationLow, isIPv4: v4),
                       sourcePort: UInt16(truncatingIfNeeded: ports >> 16), destinationPort: UInt16(truncatingIfNeeded: ports),
                       ipProtocol: ipProtocol)
    }

    var closing: Bool { flags & 2 != 0 }
}

/// A flow entry as status shows it.
public struct FlowEntry: Hashable, Sendable {
    public var key: FlowKey
    public var target: UInt16
    /// Seconds (on the table's clock) when it expires unless used.
    public var expires: UInt32
    public var closing: Bool
}

/// The table. A value; one per classifier (one per queue thread).
public struct FlowTable {
    private var slots: [FlowSlot]
    /// The global cap on entries.
    public let maximumEntries: Int
    public private(set) var count = 0
    public var timeouts: FlowTimeouts
    private var perTarget = [Int](repeating: 0, count: maximumTargetCount)
    private var cursor = 0
    private let seed: UInt64
    private let largestCapacity: Int

    /// A table holding at most `maximumEntries`; `seed` keys the slot hash (pass a random
    /// value in production so an authenticated peer cannot aim its flows at one chain).
    public init(maximumEntries: Int, timeouts: FlowTimeouts = FlowTimeouts(), seed: UInt64 = 0x7461_626C_65) {
        self.maximumEntries = max(1, maximumEntries)
        self.timeouts = timeouts
        self.seed = seed
        largestCapacity = self.maximumEntries + self.maximumEntries / 2 + 1
        slots = [FlowSlot](repeating: FlowSlot(), count: min(1024, largestCapacity))
    }

    /// Slots allocated now.
    public var capacity: Int { slots.count }
    /// Octets of slot storage (what `bytesPerEntry` divides).
    public var storageBytes: Int { slots.count * MemoryLayout<FlowSlot>.stride }
    /// The size of one slot.
    public static var slotBytes: Int { MemoryLayout<FlowSlot>.stride }

    /// Entries per target index.
    public func count(target: UInt16) -> Int { perTarget[Int(target)] }

    @inline(__always) private func home(_ hash: UInt64, _ capacity: Int) -> Int {
        Int(truncatingIfNeeded: hash.multipliedFullWidth(by: UInt64(capacity)).high)
    }

    /// The live entry's slot for `key`, or nil. An expired entry found here is removed.
    public mutating func find(_ key: FlowKey, now: UInt32) -> Int? {
        let capacity = slots.count
        var i = home(key.hash(seed: seed), capacity)
        while true {
            let slot = slots[i]
            if slot.target == FlowSlot.empty { return nil }
            if slot.matches(key) {
                if slot.expires <= now { removeSlot(i); return nil }
                return i
            }
            i += 1
            if i == capacity { i = 0 }
        }
    }

    /// The target of the entry at `slot` (from `find`).
    @inline(__always) public func target(atSlot slot: Int) -> UInt16 { slots[slot].target }

    /// Marks the entry used now (and closing after a FIN/RST; closing never reverts).
    @inline(__always) public mutating func refresh(slot: Int, now: UInt32, closing: Bool) {
        let isClosing = closing || slots[slot].closing
        if isClosing { slots[slot].flags |= 2 }
        slots[slot].expires = now &+ timeouts.timeout(protocol: slots[slot].ipProtocol, closing: isClosing)
    }

    /// Moves the entry at `slot` to another target.
    public mutating func retarget(slot: Int, to target: UInt16) {
        perTarget[Int(slots[slot].target)] -= 1
        slots[slot].target = target
        perTarget[Int(target)] += 1
    }

    /// Adds an entry for a key that `find` did not find. False when the table is at its cap.
    public mutating func insert(_ key: FlowKey, target: UInt16, now: UInt32, closing: Bool = false) -> Bool {
        precondition(Int(target) < maximumTargetCount, "target index out of range")
        guard count < maximumEntries else { return false }
        if (count + 1) * 3 > slots.count * 2, slots.count < largestCapacity { grow() }
        let expires = now &+ timeouts.timeout(protocol: key.ipProtocol, closing: closing)
        place(FlowSlot(key, target: target, expires: expires, closing: closing), hash: key.hash(seed: seed))
        count += 1
        perTarget[Int(target)] += 1
        return true
    }

    private mutating func place(_ slot: FlowSlot, hash: UInt64) {
        let capacity = slots.count
        var i = home(hash, capacity)
        while slots[i].target != FlowSlot.empty {
            i += 1
            if i == capacity { i = 0 }
        }
        slots[i] = slot
    }

    private mutating func grow() {
        let old = slots
        slots = [FlowSlot](repeating: FlowSlot(), count: min(largestCapacity, old.count * 2))
        cursor = 0
        for slot in old where slot.target != FlowSlot.empty { place(slot, hash: slot.key.hash(seed: seed)) }
    }

    /// Removes `key`'s entry (a target reported the flow's end). True if there was one.
    @discardableResult
    public mutating func remove(_ key: FlowKey) -> Bool {
        guard let slot = find(key, now: 0) else { return false }
        removeSlot(slot)
        return true
    }

    /// Removes every entry of `target` (it died or left); a full scan, for a rare event.
    @discardableResult
    public mutating func removeTarget(_ target: UInt16) -> Int {
        var removed = 0
        var i = 0
        while i < slots.count {
            if slots[i].target == target {
                removeSlot(i)
                removed += 1
            } else {
                i += 1
            }
        }
        return removed
    }

    /// Examines the next `budget` slots and removes the expired entries; returns how many.
    @discardableResult
    public mutating func sweep(now: UInt32, budget: Int) -> Int {
        var removed = 0
        var examined = 0
        while examined < budget {
            if cursor >= slots.count { cursor = 0 }
            let slot = slots[cursor]
            if slot.target != FlowSlot.empty, slot.expires <= now {
                removeSlot(cursor)  // a later slot may shift into `cursor`: look at it again
                removed += 1
            } else {
                cursor += 1
            }
            examined += 1
        }
        return removed
    }

    /// Backward-shift deletion (Knuth 6.4 algorithm R): no tombstones, probes stay short.
    private mutating func removeSlot(_ index: Int) {
        let capacity = slots.count
        perTarget[Int(slots[index].target)] -= 1
        count -= 1
        var hole = index
        var j = index
        while true {
            j += 1
            if j == capacity { j = 0 }
            let slot = slots[j]
            if slot.target == FlowSlot.empty { break }
            let k = home(slot.key.hash(seed: seed), capacity)
            // Move slot j into the hole unless its home lies cyclically in (hole, j].
            let homeBetween = hole <= j ? (hole < k && k <= j) : (hole < k || k <= j)
            if !homeBetween {
                slots[hole] = slot
                hole = j
            }
        }
        slots[hole] = FlowSlot()
    }

    /// Up to `limit` live entries from slot `start` on, looking at no more than `examining`
    /// slots: one bounded piece of a listing (`vipsec status --connections`, whose caller
    /// holds the classifier's lock only for one piece). `next` is the slot to go on from,
    /// nil at the end of the table.
    public func entries(from start: Int, limit: Int, examining: Int, now: UInt32) -> (entries: [FlowEntry], next: Int?) {
        var found: [FlowEntry] = []
        var i = max(0, start)
        let end = min(slots.count, i + max(1, examining))
        while i < end, found.count < limit {
            let slot = slots[i]
            if slot.target != FlowSlot.empty, slot.expires > now {
                found.append(FlowEntry(key: slot.key, target: slot.target, expires: slot.expires, closing: slot.closing))
            }
            i += 1
        }
        return (found, i < slots.count ? i : nil)
    }

    /// Every live entry (tests); O(capacity): status lists in pieces (`entries(from:...)`).
    public func entries(now: UInt32) -> [FlowEntry] {
        slots.compactMap { slot in
            slot.target == FlowSlot.empty || slot.expires <= now ? nil
                : FlowEntry(key: slot.key, target: slot.target, expires: slot.expires, closing: slot.closing)
        }
    }
}
