// The SA lookup by (outer destination, SPI) on every packet: a linear-probing array rebuilt
// whenever an SA is added or removed (rare next to packets), so a lookup is one mix of the
// SPI and a probe or two, without the dictionary's SipHash.

struct SAIndex {
    private var keys: [SAKey] = []
    private var positions: [Int32] = []
    private var mask = 0

    init() { rebuild([]) }

    /// Rebuilds for `entries` (index = position in the SA array).
    mutating func rebuild(_ entries: [SAKey]) {
        var capacity = 16
        while capacity < entries.count * 2 { capacity *= 2 }
        mask = capacity - 1
        keys = [SAKey](repeating: SAKey(destination: InboundAddress(high: 0, low: 0, isIPv4: true), spi: 0), count: capacity)
        positions = [Int32](repeating: -1, count: capacity)
        for (position, key) in entries.enumerated() {
            var i = slot(key)
            while positions[i] >= 0 { i = (i + 1) & mask }
            keys[i] = key
            positions[i] = Int32(position)
        }
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
}
