// Traffic selector narrowing (RFC 7296 section 2.9).
//
// "To enable the responder to choose the appropriate range in this case, if the initiator
// has requested the SA due to a data packet, the initiator SHOULD include as the first
// Traffic Selector in each of TSi and TSr a very specific Traffic Selector including the
// addresses in the packet triggering the request." -- and the responder "narrows" the
// proposed selectors to the subset its policy allows: here, their intersection with the
// configured selectors.

/// Intersection of proposed and configured traffic selectors.
public enum TrafficSelectorNarrowing {
    /// The part of `proposed` that `configured` allows: every non-empty pairwise
    /// intersection, in the proposed order, without duplicates. Empty when none overlap.
    public static func narrow(proposed: [TrafficSelector], configured: [TrafficSelector]) -> [TrafficSelector] {
        var result: [TrafficSelector] = []
        for theirs in proposed {
            for ours in configured {
                if let common = intersection(theirs, ours), !result.contains(common) { result.append(common) }
            }
        }
        return result
    }

    /// The responder's narrowing of both sides: TSi (the initiator's side) against the
    /// configured remote selectors, TSr against the configured local ones.
    /// - Throws: `NegotiationError.tsUnacceptable` when either side comes out empty.
    public static func narrow(initiator tsi: [TrafficSelector], responder tsr: [TrafficSelector],
                              configuredRemote: [TrafficSelector], configuredLocal: [TrafficSelector])
        throws -> (initiator: [TrafficSelector], responder: [TrafficSelector]) {
        let narrowedInitiator = narrow(proposed: tsi, configured: configuredRemote)
        if narrowedInitiator.isEmpty { throw NegotiationError.tsUnacceptable("TSi") }
        let narrowedResponder = narrow(proposed: tsr, configured: configuredLocal)
        if narrowedResponder.isEmpty { throw NegotiationError.tsUnacceptable("TSr") }
        return (narrowedInitiator, narrowedResponder)
    }

    /// The selector both `a` and `b` cover, or nil: same known type and address length,
    /// compatible IP protocol (0 = any), overlapping port and address ranges. The OPAQUE
    /// port range (start 65535, end 0) intersects only with itself and with any-port.
    public static func intersection(_ a: TrafficSelector, _ b: TrafficSelector) -> TrafficSelector? {
        guard a.type == b.type, let length = a.type.addressLength,
              a.startAddress.count == length, a.endAddress.count == length,
              b.startAddress.count == length, b.endAddress.count == length else { return nil }

        let ipProtocolID: UInt8
        if a.ipProtocolID == 0 { ipProtocolID = b.ipProtocolID }
        else if b.ipProtocolID == 0 || b.ipProtocolID == a.ipProtocolID { ipProtocolID = a.ipProtocolID }
        else { return nil }

        let ports: (start: UInt16, end: UInt16)
        let aOpaque = isOpaque(a), bOpaque = isOpaque(b)
        if aOpaque || bOpaque {
            guard (aOpaque || isAnyPort(a)) && (bOpaque || isAnyPort(b)) else { return nil }
            ports = (65535, 0)
        } else {
            ports = (max(a.startPort, b.startPort), min(a.endPort, b.endPort))
            if ports.start > ports.end { return nil }
        }

        let start = maxAddress(a.startAddress, b.startAddress)
        let end = minAddress(a.endAddress, b.endAddress)
        if end.lexicographicallyPrecedes(start) { return nil }
        return TrafficSelector(type: a.type, ipProtocolID: ipProtocolID, startPort: ports.start, endPort: ports.end,
                               startAddress: start, endAddress: end)
    }

    static func isOpaque(_ ts: TrafficSelector) -> Bool { ts.startPort == 65535 && ts.endPort == 0 }
    static func isAnyPort(_ ts: TrafficSelector) -> Bool { ts.startPort == 0 && ts.endPort == 65535 }
    static func maxAddress(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] { a.lexicographicallyPrecedes(b) ? b : a }
    static func minAddress(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] { a.lexicographicallyPrecedes(b) ? a : b }
}
