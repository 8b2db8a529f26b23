// Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network
// Load Balancer", NSDI '16, §3.4): each backend has a permutation of the M table slots
// (offset + j·skip mod M, M prime); backends take turns claiming their next free preferred
// slot until the table is full. Removing one of N backends moves about 1/N of the keys.
// Weights: a backend of weight w takes a turn in w of every max-weight rounds.
//
// Backends are named by a stable string (the target's node id), hashed deterministically, so
// two routing nodes with the same members build the same table (a backup router places
// unsynced flows as the old one did).

/// A built lookup table: slot → backend index (in the order given to `init`).
public struct MaglevTable: Sendable {
    /// M, prime.
    public let size: Int
    /// slot → index into the backends given to `init`.
    public private(set) var entries: [UInt16]

    /// The default table size: prime, > 100 × the largest cluster foreseen.
    public static let defaultSize = 65537

    /// Builds the table for `backends` (name, weight ≥ 1). Precondition: 1...65535 backends,
    /// `size` prime and larger than the backend count.
    public init(backends: [(name: String, weight: Int)], size: Int = MaglevTable.defaultSize) {
        precondition(!backends.isEmpty && backends.count < Int(UInt16.max) && size > backends.count)
        self.size = size
        let m = UInt64(size)
        let n = backends.count
        var offsets = [UInt64](repeating: 0, count: n)
        var skips = [UInt64](repeating: 0, count: n)
        for (i, backend) in backends.enumerated() {
            offsets[i] = maglevNameHash(backend.name, seed: 0x6F66_6673_6574) % m           // "offset"
            skips[i] = maglevNameHash(backend.name, seed: 0x736B_6970) % (m - 1) + 1          // "skip"
        }
        let maxWeight = max(1, backends.map { max(1, $0.weight) }.max() ?? 1)
        let weights = backends.map { max(1, $0.weight) }
        var next = [UInt64](repeating: 0, count: n)
        var table = [UInt16](repeating: UInt16.max, count: size)
        var filled = 0
        var round = 0
        while filled < size {
            for i in 0..<n {
                // Weighted turns: backend i plays in this round if its credit grows past an integer.
                if weights[i] < maxWeight, (round + 1) * weights[i] / maxWeight == round * weights[i] / maxWeight { continue }
                var slot = (offsets[i] &+ next[i] &* skips[i]) % m
                while table[Int(slot)] != UInt16.max {
                    next[i] += 1
                    slot = (offsets[i] &+ next[i] &* skips[i]) % m
                }
                table[Int(slot)] = UInt16(i)
                next[i] += 1
                filled += 1
                if filled == size { break }
            }
            round += 1
        }
        entries = table
    }

    /// The backend index for a key's hash.
    @inline(__always) public func lookup(_ hash: UInt64) -> UInt16 {
        entries[Int(hash % UInt64(size))]
    }
}

/// FNV-1a over the name's UTF-8, then a 64-bit finaliser: stable across processes.
func maglevNameHash(_ name: String, seed: UInt64) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325 ^ seed
    for byte in name.utf8 {
        h ^= UInt64(byte)
        h = h &* 0x0000_0100_0000_01B3
    }
    return mix64(h)
}
