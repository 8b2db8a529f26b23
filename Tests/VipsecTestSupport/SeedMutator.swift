/// Seeded bit-flip mutations of fuzz seeds, for the corpus tests' "no input traps" rounds:
/// each `next(of:)` picks a seed and flips one to four of its bits, the same sequence for the
/// same seed on every run (a 64-bit LCG, Knuth's MMIX constants), so a failure replays.
public struct SeedMutator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A number in 0..<bound (0 when bound is 0).
    public mutating func below(_ bound: Int) -> Int {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int((state >> 33) % UInt64(max(bound, 1)))
    }

    /// One of `seeds` with one to four bits flipped.
    public mutating func next(of seeds: [[UInt8]]) -> [UInt8] {
        var bytes = seeds[below(seeds.count)]
        for _ in 0...below(3) where !bytes.isEmpty {
            bytes[below(bytes.count)] ^= UInt8(1) << UInt8(below(8))
        }
        return bytes
    }
}
