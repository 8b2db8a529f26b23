// Time as the cluster logic sees it: an instant handed in by the caller (the injected clock).
//
// Nothing in this module reads a clock. Every method that depends on time takes `now:`; the
// shells pass `ClusterInstant(nanoseconds: NIODeadline.now().uptimeNanoseconds)` or similar,
// the tests pass whatever instant the scenario needs.

/// A point on a monotonic clock, in nanoseconds since an arbitrary origin.
public struct ClusterInstant: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Nanoseconds since the clock's origin.
    public var nanoseconds: UInt64

    /// Creates an instant `nanoseconds` after the clock's origin.
    public init(nanoseconds: UInt64) {
        self.nanoseconds = nanoseconds
    }

    /// The clock's origin.
    public static let zero = ClusterInstant(nanoseconds: 0)

    public static func < (lhs: ClusterInstant, rhs: ClusterInstant) -> Bool {
        lhs.nanoseconds < rhs.nanoseconds
    }

    /// The instant `duration` later (saturating; negative durations move back, not below zero).
    public static func + (lhs: ClusterInstant, rhs: Duration) -> ClusterInstant {
        let delta = rhs.clusterNanoseconds
        if delta >= 0 {
            let (sum, overflow) = lhs.nanoseconds.addingReportingOverflow(UInt64(delta))
            return ClusterInstant(nanoseconds: overflow ? .max : sum)
        }
        let back = delta.magnitude
        return ClusterInstant(nanoseconds: lhs.nanoseconds > back ? lhs.nanoseconds - back : 0)
    }

    /// The time from `rhs` to `lhs` (negative if `lhs` is earlier).
    public static func - (lhs: ClusterInstant, rhs: ClusterInstant) -> Duration {
        if lhs >= rhs {
            return .nanoseconds(Int64(clamping: lhs.nanoseconds - rhs.nanoseconds))
        }
        return .nanoseconds(-Int64(clamping: rhs.nanoseconds - lhs.nanoseconds))
    }

    public var description: String { "t+\(nanoseconds)ns" }
}

extension Duration {
    /// The duration in whole nanoseconds, clamped to `Int64`.
    var clusterNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflow2) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow2 { return seconds < 0 ? .min : .max }
        return sum
    }

    /// The duration in whole milliseconds, clamped to `UInt32` (the wire's unit for timers).
    var clusterMilliseconds: UInt32 {
        UInt32(clamping: clusterNanoseconds / 1_000_000)
    }
}
