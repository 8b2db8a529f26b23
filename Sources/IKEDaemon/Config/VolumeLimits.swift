// A child's volume limits in strongSwan's syntax and meaning (swanctl.conf):
//   rekey_bytes / rekey_packets   soft limit: rekey the CHILD_SA (0 = never by volume)
//   life_bytes  / life_packets    hard limit: the kernel deletes the SA (default rekey + 10 %)
//   rand_bytes  / rand_packets    up to this much is subtracted from the soft limit, chosen
//                                 anew per CHILD_SA (default life - rekey)
// Each counts one direction's SA on its own, as the kernel does.

/// The soft limit, hard limit and jitter of one unit (bytes or packets); 0 = none.
public struct VolumeLimits: Sendable, Equatable {
    public var rekey: UInt64
    public var life: UInt64
    public var rand: UInt64

    public init(rekey: UInt64 = 0, life: UInt64 = 0, rand: UInt64 = 0) {
        self.rekey = rekey
        self.life = life
        self.rand = rand
    }
}

extension SectionReader {
    /// Reads `rekey_<unit>`, `life_<unit>`, `rand_<unit>` (unit: "bytes" or "packets").
    mutating func volumeLimits(_ unit: String) throws -> VolumeLimits {
        let rekeyKey = "rekey_\(unit)", lifeKey = "life_\(unit)", randKey = "rand_\(unit)"
        let rekey = try count(rekeyKey, default: 0)
        let explicitLife = try optionalCount(lifeKey)
        // 10 % more than rekey, saturating (a huge rekey_bytes must not trap).
        let (longer, overflow) = rekey.addingReportingOverflow(rekey / 10)
        let life = explicitLife ?? (overflow ? .max : longer)
        if let explicitLife, explicitLife != 0, explicitLife < rekey, let entry = section.entry(lifeKey) {
            throw error(entry, "\(explicitLife) must not be smaller than \(rekeyKey) (\(rekey))")
        }
        let explicitRand = try optionalCount(randKey)
        if let explicitRand, explicitRand != 0, explicitRand >= rekey, let entry = section.entry(randKey) {
            throw error(entry, rekey == 0 ? "needs \(rekeyKey) (the jitter lowers the rekey limit)"
                                          : "\(explicitRand) must be smaller than \(rekeyKey) (\(rekey))")
        }
        let rand = explicitRand ?? (rekey == 0 || life == 0 ? 0 : life - min(life, rekey))
        // The jitter must leave a positive soft limit (life - rekey may exceed rekey).
        return VolumeLimits(rekey: rekey, life: life, rand: rekey == 0 ? 0 : min(rand, rekey - 1))
    }
}
