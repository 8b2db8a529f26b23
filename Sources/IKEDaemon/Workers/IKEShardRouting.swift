// Which worker (event loop) owns an IKE message: the daemon shards its IKE_SAs over N
// workers, each with its own IKEGateway, so that the expensive per-IKE_SA work (key
// exchange, SKEYSEED/prf+, AUTH, the CHILD_SA keys) of different IKE_SAs runs on different
// cores while each IKE_SA's state stays on one loop. Pure: bytes in, worker index out.
//
// The key is the IKE_SA's *initiator* SPI (RFC 7296 3.1), which the initiator chooses in
// its IKE_SA_INIT request and which every later message of the IKE_SA carries:
//   - I flag set (the sender is the original initiator, we are the responder): worker =
//     mix(SPIi) mod N. A retransmitted IKE_SA_INIT, its COOKIE retry, IKE_AUTH and every
//     later exchange of that IKE_SA land on the same worker, on 500 or 4500 alike.
//   - I flag clear (the sender is the original responder): an IKE_SA we initiated; the
//     daemon initiates only on worker 0 (`initiatorWorker`), so those go there.
// An IKE_SA whose SPIs change (IKE_SA rekey) may live on another worker than this rule
// names; a worker that does not know the SPI passes the message on to the next worker
// (`next(after:)`), at most N - 1 times, and the last one counts it as an unknown SPI.

/// The mapping of IKE messages to workers.
public struct IKEShardRouting: Sendable, Equatable {
    /// Number of workers (at least 1).
    public let workerCount: Int

    /// The worker that starts IKE_SAs as initiator (configured `start_action = start`).
    public static let initiatorWorker = 0

    /// IKE header: SPIi at 0..<8, flags at 19 (RFC 7296 3.1).
    static let headerLength = 28
    static let flagsOffset = 19
    static let initiatorFlag: UInt8 = 0x08

    public init(workerCount: Int) {
        self.workerCount = max(1, workerCount)
    }

    /// The worker for an IKE message (`bytes` without the non-ESP marker). Too short to be
    /// IKE: worker 0, whose gateway counts it as malformed.
    public func worker(for bytes: some Collection<UInt8>) -> Int {
        guard workerCount > 1, bytes.count >= Self.headerLength else { return 0 }
        var spi: UInt64 = 0
        var flags: UInt8 = 0
        for (offset, byte) in bytes.prefix(Self.headerLength).enumerated() {
            if offset < 8 { spi = spi << 8 | UInt64(byte) }
            if offset == Self.flagsOffset { flags = byte }
        }
        guard flags & Self.initiatorFlag != 0 else { return Self.initiatorWorker }
        return worker(forInitiatorSPI: spi)
    }

    /// The SPI the receiver chose for an IKE message's IKE_SA: SPIr in messages from the
    /// original initiator, else SPIi (0: a new IKE_SA_INIT). Nil when shorter than a header.
    public static func localSPI(of bytes: [UInt8]) -> UInt64? {
        guard bytes.count >= headerLength else { return nil }
        let fromInitiator = bytes[flagsOffset] & initiatorFlag != 0
        let start = fromInitiator ? 8 : 0
        return bytes[start..<start + 8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    /// The worker of a peer-initiated IKE_SA with initiator SPI `spi`.
    public func worker(forInitiatorSPI spi: UInt64) -> Int {
        Int(Self.mix(spi) % UInt64(workerCount))
    }

    /// Where a worker that does not know a message's SPI passes it on.
    public func next(after worker: Int) -> Int {
        (worker + 1) % workerCount
    }

    /// The splitmix64 finalizer: every SPI bit affects the worker, so SPIs that differ only
    /// in their high bits (some implementations count) still spread over the workers.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The number of workers for the `workers` setting: 0 = one per CPU.
    public static func workerCount(configured: Int, cpus: Int) -> Int {
        configured > 0 ? configured : max(1, cpus)
    }
}
