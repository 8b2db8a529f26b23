// When each IKE_SA behind a NAT sends its next NAT keepalive (RFC 3948 2.3, 4): a heap
// keyed by due time (swift-collections' Heap), so that a tick costs the keepalives due
// (each O(log N)), not a scan of every IKE_SA. The gateway keeps it in step with its table
// in `store` (IKEGateway.swift); the worker's tick sends what `takeDue` returns.
//
// A removed IKE_SA's heap entry is not searched for: it stays until its due time and is then
// dropped (its due time no longer matches `due`), so the heap holds at most the wanted
// IKE_SAs plus those removed within the last interval.
import HeapModule

/// Seconds between NAT keepalives of one IKE_SA (RFC 3948 4: 20 s is the usual value).
let natKeepaliveInterval: Double = 20

struct NATKeepaliveSchedule {
    struct Entry: Comparable {
        var due: Double
        var spi: UInt64
        static func < (a: Entry, b: Entry) -> Bool { (a.due, a.spi) < (b.due, b.spi) }
    }

    let interval: Double
    private var heap = Heap<Entry>()
    /// The IKE_SAs that want keepalives (by our SPI), and when their next one is due.
    private(set) var due: [UInt64: Double] = [:]
    /// Heap entries looked at by `takeDue` (taken off, or the first one not yet due): the
    /// work of the ticks, for tests (it must follow the keepalives due, not the IKE_SAs).
    private(set) var visits = 0

    init(interval: Double = natKeepaliveInterval) { self.interval = interval }

    /// IKE_SAs that want keepalives.
    var count: Int { due.count }
    /// Entries in the heap (wanted IKE_SAs and removed ones not yet dropped).
    var queued: Int { heap.count }
    /// When the next entry is due (nil: none queued).
    var nextDue: Double? { heap.min?.due }

    /// Whether the IKE_SA with our SPI `spi` wants keepalives now: the first one goes out an
    /// interval from `now`; an IKE_SA that no longer wants them (gone, rekeyed) is dropped.
    mutating func update(ikeSA spi: UInt64, wanted: Bool, now: Double) {
        if wanted {
            guard due[spi] == nil else { return }
            due[spi] = now + interval
            heap.insert(Entry(due: now + interval, spi: spi))
        } else {
            due[spi] = nil
        }
    }

    /// The IKE_SAs whose keepalive is due at `now`, each queued again an interval later.
    mutating func takeDue(now: Double) -> [UInt64] {
        var taken: [UInt64] = []
        while let first = heap.min {
            visits += 1
            guard first.due <= now else { break }
            heap.removeMin()
            guard due[first.spi] == first.due else { continue }   // removed (or re-added) since
            taken.append(first.spi)
            due[first.spi] = now + interval
            heap.insert(Entry(due: now + interval, spi: first.spi))
        }
        return taken
    }
}
