// The agent's side of rebuilding the connection table after a takeover (issue 19 item 2):
// of the connections its kernel's conntrack holds, those of inbound cluster traffic (TCP or
// UDP to the DVIPA, still open) are matched to the inbound SA whose traffic selectors admit
// them and batched into FlowReports. Pure: the agent reads conntrack and its SAs, this
// decides what to say. A connection no held inbound SA admits is not reported (counted).

/// Matches conntrack entries to inbound SAs and batches them (`ClusterMessage.FlowReport`).
public enum HeldFlowReporter {
    /// What one round found.
    public struct Outcome: Equatable, Sendable {
        public var reports: [ClusterMessage.FlowReport]
        /// Connections reported (the sum over `reports`).
        public var reported: Int
        /// TCP/UDP connections to a destination that no held inbound SA admits.
        public var unmatched: Int
        /// Connections left out as not inbound cluster traffic (another protocol or destination).
        public var filtered: Int
    }

    /// `connections`: the conntrack entries' original-direction tuples (peer → DVIPA), open
    /// ones only. `inboundSAs`: the inbound SAs in this target's kernel. `destinations`: the
    /// DVIPA(s). Each connection goes with the first SA (by id, newest first: after a rekey
    /// both CHILD_SAs share the line) whose selectors admit its source, destination and protocol.
    public static func reports(connections: [InnerFiveTuple], inboundSAs: [SADescription],
                               destinations: Set<IPAddress>) -> Outcome {
        let sas = inboundSAs.filter { $0.direction == .inbound }.sorted { $0.saID > $1.saID }
        var flows: [ClusterMessage.FlowReport.Flow] = []
        var unmatched = 0, filtered = 0
        var seen = Set<InnerFiveTuple>()
        for connection in connections {
            guard ClusterMessage.FlowEndReport.protocols.contains(connection.ipProtocol),
                  destinations.contains(connection.destination), seen.insert(connection).inserted else {
                filtered += 1
                continue
            }
            guard let sa = sas.first(where: { admits($0, connection) }) else {
                unmatched += 1
                continue
            }
            flows.append(.init(saID: sa.saID, flow: connection))
        }
        let size = ClusterMessage.FlowReport.maximumFlows
        let reports = stride(from: 0, to: flows.count, by: size).map {
            ClusterMessage.FlowReport(flows: Array(flows[$0..<min($0 + size, flows.count)]))
        }
        return Outcome(reports: reports, reported: flows.count, unmatched: unmatched, filtered: filtered)
    }

    /// True when one of the SA's selectors admits the connection (no selectors: any). Ports
    /// are not compared, as the distributor does not (its entry keys on them; the kernel's
    /// policy enforced them when the connection's packets came in).
    static func admits(_ sa: SADescription, _ connection: InnerFiveTuple) -> Bool {
        if sa.selectors.isEmpty { return true }
        return sa.selectors.contains { selector in
            (selector.ipProtocol == 0 || selector.ipProtocol == connection.ipProtocol)
                && inPrefix(connection.source, selector.source, selector.sourcePrefixLength)
                && inPrefix(connection.destination, selector.destination, selector.destinationPrefixLength)
        }
    }

    /// `address` lies in `network`/`length` (same family).
    static func inPrefix(_ address: IPAddress, _ network: IPAddress, _ length: UInt8) -> Bool {
        guard address.bytes.count == network.bytes.count else { return false }
        var bits = min(Int(length), address.bytes.count * 8)
        var i = 0
        while bits > 0 {
            let mask: UInt8 = bits >= 8 ? 0xff : ~(0xff >> UInt8(bits))
            if address.bytes[i] & mask != network.bytes[i] & mask { return false }
            bits -= 8
            i += 1
        }
        return true
    }
}
