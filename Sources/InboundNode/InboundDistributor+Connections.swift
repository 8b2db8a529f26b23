// `vipsec status --connections` on the routing node: the connection table's entries, read
// from the classifier the NFQUEUE workers share in bounded pieces (Inbound's
// ConnectionListing.swift), on the caller's thread (the control socket's loop).
import Inbound

extension InboundDistributor {
    /// The most entries one listing copies (`--limit`).
    public static let maximumListing = 100_000

    /// Up to `limit` entries (clamped to 0...`maximumListing`) and the table's totals; nil
    /// when the distributor is not running (not started yet, or stopped).
    public func listConnections(limit: Int) -> ConnectionListing? {
        guard let shared = stopLock.withLock({ shared }) else { return nil }
        return shared.listConnections(limit: min(max(0, limit), Self.maximumListing), now: Self.now())
    }
}
