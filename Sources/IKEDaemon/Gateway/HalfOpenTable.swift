// The responder's half-open IKE_SAs (IKE_SA_INIT answered, IKE_AUTH not yet through), kept
// three ways so that every event costs O(1) whatever the number of IKE_SAs:
//
//   (peer, initiator SPI) -> our SPI   a retransmitted IKE_SA_INIT finds its IKE_SA
//   our SPI -> (peer, initiator SPI)   forgetting one (established, closed, timed out)
//   peer address -> count              the `half_open_per_peer` check
//
// Pure: no I/O. `probes` counts the entries each operation looks at (for the scale tests).
import IKEv2

struct HalfOpenTable {
    struct Key: Hashable {
        var remote: IKEEndpoint
        var initiatorSPI: UInt64
    }

    private var byKey: [Key: UInt64] = [:]
    private var bySPI: [UInt64: Key] = [:]
    private var perAddress: [[UInt8]: Int] = [:]
    /// Table entries looked at so far (hash probes; a scan would add one per entry).
    private(set) var probes = 0

    var count: Int { byKey.count }

    /// Our SPI of the half-open IKE_SA made for this IKE_SA_INIT, if any.
    mutating func spi(for key: Key) -> UInt64? {
        probes += 1
        return byKey[key]
    }

    /// Half-open IKE_SAs of this peer address (any port).
    mutating func peerCount(_ address: [UInt8]) -> Int {
        probes += 1
        return perAddress[address] ?? 0
    }

    mutating func insert(_ key: Key, spi: UInt64) {
        probes += 1
        if let old = byKey[key] { remove(spi: old) }
        if let oldKey = bySPI[spi] { remove(key: oldKey) }
        byKey[key] = spi
        bySPI[spi] = key
        perAddress[key.remote.address, default: 0] += 1
    }

    /// Forgets the half-open IKE_SA with our SPI `spi` (nothing when it is not half-open).
    mutating func remove(spi: UInt64) {
        probes += 1
        guard let key = bySPI.removeValue(forKey: spi) else { return }
        byKey[key] = nil
        decrement(key.remote.address)
    }

    private mutating func remove(key: Key) {
        guard byKey.removeValue(forKey: key) != nil else { return }
        decrement(key.remote.address)
    }

    private mutating func decrement(_ address: [UInt8]) {
        let left = (perAddress[address] ?? 1) - 1
        perAddress[address] = left > 0 ? left : nil
    }
}
