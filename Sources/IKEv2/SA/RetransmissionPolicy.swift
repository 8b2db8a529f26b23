// When our requests are retransmitted (RFC 7296 2.1, 2.4), with strongSwan's defaults.

/// Exponential backoff for the retransmission of our requests.
///
/// After the n-th retransmission (n = 0 for the first transmission) the next timeout is
/// `timeout * base^n`; after `tries` retransmissions have timed out too, the exchange
/// fails. strongSwan's defaults (4 s, 1.8, 5 tries) give up 165 s after the first send.
public struct RetransmissionPolicy: Sendable, Equatable {
    /// Seconds before the first retransmission.
    public var timeout: Double
    /// The factor each following timeout grows by.
    public var base: Double
    /// Retransmissions before the exchange fails.
    public var tries: Int

    public init(timeout: Double = 4, base: Double = 1.8, tries: Int = 5) {
        self.timeout = timeout
        self.base = base
        self.tries = tries
    }

    /// strongSwan's defaults.
    public static let strongSwanDefault = RetransmissionPolicy()

    /// Seconds to wait after transmission number `retransmissions` (0 = the original).
    public func delay(afterRetransmissions retransmissions: Int) -> Double {
        var delay = timeout
        for _ in 0..<max(0, retransmissions) { delay *= base }
        return delay
    }

    /// Seconds from the first transmission until the exchange is given up.
    public var totalTime: Double {
        (0...max(0, tries)).reduce(0) { $0 + delay(afterRetransmissions: $1) }
    }
}
