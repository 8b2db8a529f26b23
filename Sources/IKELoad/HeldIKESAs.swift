// The load's established IKE_SAs, kept after their setup while `--hold` runs. They answer
// what the responder asks of a peer that keeps its tunnels: liveness checks (RFC 7296 1.4,
// an empty INFORMATIONAL), CREATE_CHILD_SA rekeys of CHILD_SAs and of the IKE_SA itself
// (1.3.3, 1.3.2; a new CHILD_SA is "installed" at once: nothing goes into a kernel here) and
// Deletes. Looked up by SPI, so one UDP port serves any number of IKE_SAs. Pure: the runner
// does the I/O.
import IKEv2
import NIOCore

struct HeldIKESAs {
    /// What the responder asked of the held IKE_SAs, and how they ended.
    struct Counts: Equatable {
        /// INFORMATIONAL requests answered (liveness checks and Deletes).
        var informational = 0
        /// CREATE_CHILD_SA requests answered (CHILD_SA and IKE_SA rekeys).
        var createChildSA = 0
        /// IKE_SAs that replaced a rekeyed one.
        var ikeSARekeys = 0
        /// IKE_SAs closed: deleted by the responder (a rekeyed one's old IKE_SA included) or failed.
        var closed = 0
        /// Datagrams for no held IKE_SA (dropped).
        var unknownSPI = 0
    }

    private struct Held {
        var sa: IKESA
        /// The local UDP port the IKE_SA lives on (the runner's socket).
        var port: UInt16
    }

    private var table: [UInt64: Held] = [:]
    /// Retransmission timers of requests the held IKE_SAs sent (rare: they only answer).
    private(set) var timers: [UInt64: RetransmissionTimer] = [:]
    private(set) var counts = Counts()
    /// When each CREATE_CHILD_SA request arrived (the runner's clock): the rekey wave.
    private(set) var rekeyTimes: [Double] = []

    /// IKE_SAs held, rekeyed ones waiting for their Delete included.
    var count: Int { table.count }

    /// Established IKE_SAs held.
    var established: Int { table.values.lazy.filter { $0.sa.phase == .established }.count }

    /// Keeps `sa`, which lives on local UDP port `port`.
    mutating func add(_ sa: IKESA, port: UInt16) {
        table[sa.localSPI] = Held(sa: sa, port: port)
    }

    /// Whether an IKE_SA with this local SPI is held.
    func holds(_ spi: UInt64) -> Bool { table[spi] != nil }

    /// The SPI a datagram addresses us by (the responder SPI in messages from the original
    /// initiator, else the initiator SPI), nil if it is no IKE message.
    static func localSPI(of datagram: [UInt8]) -> UInt64? {
        guard datagram.count >= IKEHeader.length else { return nil }
        var buffer = ByteBuffer(bytes: datagram.prefix(IKEHeader.length))
        guard let header = try? IKEHeader(parsing: &buffer) else { return nil }
        return header.isFromInitiator ? header.responderSPI : header.initiatorSPI
    }

    /// A datagram that arrived on local port `port`. Returns what to send, each with the
    /// local port to send it from.
    mutating func receive(_ datagram: [UInt8], now: Double) -> [(bytes: [UInt8], port: UInt16)] {
        guard let spi = Self.localSPI(of: datagram), var held = table[spi] else {
            counts.unknownSPI += 1
            return []
        }
        // Requests only (Response flag 0x20 of octet 19 clear); exchange type: octet 18 (RFC 7296 3.1).
        if datagram[19] & 0x20 == 0 {
            let exchange = ExchangeType(rawValue: datagram[18])
            if exchange == .informational {
                counts.informational += 1
            } else if exchange == .createChildSA {
                counts.createChildSA += 1
                rekeyTimes.append(now)
            }
        }
        let actions = held.sa.receive(datagram, now: now)
        return apply(actions, to: &held, spi: spi, now: now)
    }

    /// Retransmissions of held IKE_SAs' own requests that are due.
    mutating func timersDue(now: Double) -> [(bytes: [UInt8], port: UInt16)] {
        var sends: [(bytes: [UInt8], port: UInt16)] = []
        for (spi, timer) in timers where timer.deadline <= now {
            timers[spi] = nil
            guard var held = table[spi] else { continue }
            sends += apply(held.sa.retransmissionTimerFired(timer, now: now), to: &held, spi: spi, now: now)
        }
        return sends
    }

    /// The earliest retransmission deadline, if any.
    var nextDeadline: Double? { timers.values.lazy.map(\.deadline).min() }

    private mutating func apply(_ actions: [IKEAction], to held: inout Held, spi: UInt64, now: Double)
        -> [(bytes: [UInt8], port: UInt16)] {
        var sends: [(bytes: [UInt8], port: UInt16)] = []
        var pending = actions
        while !pending.isEmpty {
            let batch = pending
            pending = []
            for action in batch {
                switch action {
                case .send(let bytes): sends.append((bytes, held.port))
                case .schedule(let timer): timers[spi] = timer
                case .install(let child):
                    // Nothing to install on this side: the responder's answer may go out now.
                    pending += held.sa.installCompleted(child.reference, succeeded: true, now: now)
                case .closed: counts.closed += 1
                default: break
                }
            }
        }
        for successor in held.sa.takeSuccessors() {
            counts.ikeSARekeys += 1
            var next = Held(sa: successor.sa, port: held.port)
            let successorSPI = successor.sa.localSPI
            sends += apply(successor.actions, to: &next, spi: successorSPI, now: now)
            if next.sa.phase != .closed { table[successorSPI] = next }
        }
        if held.sa.phase == .closed {
            table[spi] = nil
            timers[spi] = nil
        } else {
            table[spi] = held
        }
        return sends
    }
}

/// How a set of events (setups finishing, rekeys arriving) spreads in time: percentiles and
/// the busiest second. Pure.
struct TimeSpread: Equatable {
    var count: Int
    var first: Double
    var last: Double
    var p10: Double
    var p50: Double
    var p90: Double
    /// The most events within one second (windows starting at `first`, one second apart).
    var peakPerSecond: Int

    /// Nil without events. `times` need not be sorted.
    init?(_ times: [Double]) {
        guard !times.isEmpty else { return nil }
        let sorted = times.sorted()
        let at = { (p: Double) in sorted[min(sorted.count - 1, Int((p / 100 * Double(sorted.count - 1)).rounded()))] }
        count = sorted.count
        first = sorted[0]
        last = sorted[sorted.count - 1]
        p10 = at(10)
        p50 = at(50)
        p90 = at(90)
        var perSecond: [Int: Int] = [:]
        for t in sorted { perSecond[Int(t - sorted[0]), default: 0] += 1 }
        peakPerSecond = perSecond.values.max() ?? 0
    }

    /// `first=.. p10=.. p50=.. p90=.. last=.. peak_per_s=..` (seconds), with `prefix_` names.
    func fields(_ prefix: String) -> String {
        let f = { (v: Double) in String(format: "%.1f", v) }
        return "\(prefix)_first=\(f(first)) \(prefix)_p10=\(f(p10)) \(prefix)_p50=\(f(p50)) \(prefix)_p90=\(f(p90)) "
            + "\(prefix)_last=\(f(last)) \(prefix)_peak_per_s=\(peakPerSecond)"
    }
}
