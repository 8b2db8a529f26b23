import LabToolSupport
import Glibc
import NetfilterQueue

/// Set by the signal handlers, read by the receive loop between batches.
nonisolated(unsafe) var stopRequested: sig_atomic_t = 0
nonisolated(unsafe) var reportRequested: sig_atomic_t = 0

/// `queue`: binds the queue and gives each ESP packet the mark of its SPI; unknown SPIs and
/// non-ESP packets are dropped. SIGUSR1 prints the counters, SIGTERM/SIGINT prints them and
/// unbinds. A stand-in for the classifier: the routing node will put InboundClassifier here.
enum QueueCommand {
    struct Tally {
        var bySPI: [UInt32: Int] = [:]
        var unknownSPI = 0
        var notESP = 0
    }

    static func run(_ args: Arguments) throws {
        var configuration = NFQueue.Configuration(queue: UInt16(truncatingIfNeeded: try args.u32("queue")))
        configuration.copyRange = try args.u32("copy-range", default: 128)
        configuration.maxLength = try args.u32("max-length", default: 8192)
        if args.optional("receive-slots") != nil { configuration.receiveSlots = max(1, Int(try args.u32("receive-slots"))) }
        let marks = Dictionary(uniqueKeysWithValues: try args.pairs("mark-by-spi") { spi, mark in
            parseNumber(spi).flatMap { s in parseNumber(mark).map { (s, $0) } }
        })
        let batchSize = Int(try args.u32("batch", default: 64))

        signal(SIGTERM) { _ in stopRequested = 1 }
        signal(SIGINT) { _ in stopRequested = 1 }
        signal(SIGUSR1) { _ in reportRequested = 1 }

        let queue = try NFQueue(configuration)
        print("queue \(configuration.queue) bound: copy range \(configuration.copyRange), "
            + "\(marks.count) SPIs: " + marks.keys.sorted().map { "\(hex($0))->\(hex(marks[$0]!))" }.joined(separator: " "))
        fflush(stdout)
        var tally = Tally()
        try queue.serve(maxPackets: batchSize, shouldStop: {
            if reportRequested != 0 {
                reportRequested = 0
                report(queue, tally)
            }
            return stopRequested != 0
        }, decide: { packet in
            guard let spi = ESPPeek.spi(packet.payload) else {
                tally.notESP += 1
                return .drop
            }
            guard let mark = marks[spi] else {
                tally.unknownSPI += 1
                return .drop
            }
            tally.bySPI[spi, default: 0] += 1
            return .accept(mark: mark)
        })
        queue.close()
        report(queue, tally)
        print("queue \(configuration.queue) unbound")
    }

    /// One line of counters, then per SPI, then the process's CPU time.
    static func report(_ queue: NFQueue, _ tally: Tally) {
        let c = queue.counters
        print("counters: received=\(c.received) accepted=\(c.accepted) dropped=\(c.dropped) "
            + "unknown_spi=\(tally.unknownSPI) not_esp=\(tally.notESP) malformed=\(c.malformed) "
            + "unreadable=\(c.unreadable) unexpected=\(c.unexpected) verdict_errors=\(c.verdictErrors) "
            + "truncated=\(c.truncated) verdict_datagrams=\(c.verdictDatagrams) receive_calls=\(c.receiveCalls)")
        for spi in tally.bySPI.keys.sorted() { print("spi \(hex(spi)): \(tally.bySPI[spi]!)") }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let user = Int(usage.ru_utime.tv_sec) * 1_000_000 + Int(usage.ru_utime.tv_usec)
        let system = Int(usage.ru_stime.tv_sec) * 1_000_000 + Int(usage.ru_stime.tv_usec)
        print("cpu: user_us=\(user) system_us=\(system)")
        fflush(stdout)
    }
}
