// The SA lookup by (outer destination, SPI) on every packet: a linear-probing array, so a
// lookup is one mix of the SPI and a probe or two, without the dictionary's SipHash.
// Changed in place, one SA at a time (issue 20): an insert probes to the first free slot, a
// removal shifts the slots after it back (no tombstones, so lookups never slow down), and the
// array doubles when half full (halves when an eighth full), so a change costs O(1)
// amortized however many SAs there are. (It was rebuilt from every SA on each change: O(N)
// per change, O(N²) to install N.) The packet workers read it under the classifier's lock
// (SharedClassifier), which the changes hold too: no reader sees a half-made change.

struct SAIndex {
    private var keys: [SAKey] = []
    private var positions: [Int32] = []
    private var mask = 0
    /// SAs held.
    private(set) var count = 0
    /// Slots written or examined by changes, resizes included (tests: the work per change
    /// stays the same at 100,000 SAs as at 1,000).
    private(set) var work = 0

    static let minimumCapacity = 16
    private static let empty = SAKey(destination: InboundAddress(high: 0, low: 0, isIPv4: true), spi: 0)

    init() { allocate(Self.minimumCapacity) }

    private mutating func allocate(_ capacity: Int) {
        mask = capacity - 1
        keys = [SAKey](repeating: Self.empty, count: capacity)
        positions = [Int32](repeating: -1, count: capacity)
    }

    @inline(__always) private func slot(_ key: SAKey) -> Int {
        Int(truncatingIfNeeded: mix64(UInt64(key.spi) ^ key.destination.low << 32 ^ key.destination.high)) & mask
    }

    /// The SA's position, or nil.
    @inline(__always) func find(_ key: SAKey) -> Int? {
        var i = slot(key)
        while true {
            let position = positions[i]
            if position < 0 { return nil }
            if keys[i] == key { return Int(position) }
            i = (i + 1) & mask
        }
    }

    /// The slot holding `key`, or nil (counted as work).
    private mutating func slotOf(_ key: SAKey) -> Int? {
        var i = slot(key)
        while true {
            work += 1
            if positions[i] < 0 { return nil }
            if keys[i] == key { return i }
            i = (i + 1) & mask
        }
    }

    /// Adds `key` at `position`, or moves it there when it is held already.
    mutating func set(_ key: SAKey, position: Int) {
        if let i = slotOf(key) { positions[i] = Int32(position); return }
        if (count + 1) * 2 > positions.count { resize(positions.count * 2) }
        place(key, Int32(position))
        count += 1
    }

    /// Removes `key`; returns its position, or nil when it was not held.
    @discardableResult
    mutating func remove(_ key: SAKey) -> Int? {
        guard var hole = slotOf(key) else { return nil }
        let position = Int(positions[hole])
        // Backward shift: each later slot of the run moves into the hole unless its home
        // slot lies cyclically in (hole, slot], where it would no longer be found.
        var i = (hole + 1) & mask
        while positions[i] >= 0 {
            work += 1
            let home = slot(keys[i])
            let stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i)
            if !stays {
                keys[hole] = keys[i]
                positions[hole] = positions[i]
                hole = i
            }
            i = (i + 1) & mask
        }
        keys[hole] = Self.empty
        positions[hole] = -1
        count -= 1
        if count * 8 < positions.count, positions.count > Self.minimumCapacity { resize(positions.count / 2) }
        return position
    }

    private mutating func place(_ key: SAKey, _ position: Int32) {
        var i = slot(key)
        while positions[i] >= 0 { work += 1; i = (i + 1) & mask }
        work += 1
        keys[i] = key
        positions[i] = position
    }

    private mutating func resize(_ capacity: Int) {
        let (oldKeys, oldPositions) = (keys, positions)
        allocate(capacity)
        for i in oldPositions.indices where oldPositions[i] >= 0 { place(oldKeys[i], oldPositions[i]) }
    }

    /// Every (key, position) held, checked against the probing invariant (tests).
    func entries() -> [(key: SAKey, position: Int)] {
        positions.indices.compactMap { i in positions[i] < 0 ? nil : (keys[i], Int(positions[i])) }
    }
}
