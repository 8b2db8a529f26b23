// Connections the targets hold, reported after a Welcome (issue 19 item 2: the connection
// table is rebuilt from the targets after a takeover, not written per connection). Each
// reported connection names the inbound SA whose traffic it is (the agent matched its
// conntrack entry against the SA's selectors); its entry key is that SA's CHILD_SA line
// (lineage), and it is placed on the reporting target, which holds the connection's state.
// Bounded by the table's cap (`maximumFlows`); what cannot be placed is dropped and counted.

import Cluster

/// One connection a target reported holding, with its SA as the classifier knows SAs.
public struct HeldFlow: Hashable, Sendable {
    public var destination: InboundAddress
    public var spi: UInt32
    public var flow: InnerFiveTuple
    public init(destination: InboundAddress, spi: UInt32, flow: InnerFiveTuple) {
        self.destination = destination
        self.spi = spi
        self.flow = flow
    }
}

/// What became of one reported connection.
public enum HeldFlowResult: UInt8, CaseIterable, Sendable, CustomStringConvertible {
    /// A new entry on the reporting target.
    case placed
    /// The entry was on the reporting target already: refreshed.
    case kept
    /// An entry exists on another target (placed since the takeover): left alone.
    case otherOwner
    /// The SA is not here, or the reporting target is unknown or does not hold it.
    case unknownSA
    /// The flow lies outside the SA's traffic selectors (or is not TCP/UDP).
    case outsideSelectors
    /// The table is at its cap.
    case full

    public var description: String {
        switch self {
        case .placed: return "placed"
        case .kept: return "kept"
        case .otherOwner: return "other-owner"
        case .unknownSA: return "unknown-sa"
        case .outsideSelectors: return "outside-selectors"
        case .full: return "table-full"
        }
    }
}

extension InboundClassifier {
    /// `target` holds the connections `held` (peer-to-DVIPA direction, each with its SA).
    /// Returns one result per flow, in order; each is counted (`counters[result]`). The
    /// per-SA new-flow rate limit does not apply (these are not new flows), the table's
    /// cap does.
    @discardableResult
    public mutating func flowsHeld(by target: NodeID, _ held: [HeldFlow], now: ClusterInstant) -> [HeldFlowResult] {
        let index = targetIndex[target]
        let time = seconds(now)
        return held.map { entry in
            let result = placeHeld(entry, on: index, now: time)
            counters.count(result)
            return result
        }
    }

    private mutating func placeHeld(_ entry: HeldFlow, on target: UInt16?, now: UInt32) -> HeldFlowResult {
        guard let target, let sa = saLookup.find(SAKey(destination: entry.destination, spi: entry.spi)),
              sas[sa].holderSet.contains(target) else { return .unknownSA }
        let flow = entry.flow
        let source = InboundAddress(flow.source), destination = InboundAddress(flow.destination)
        guard flow.ipProtocol == IPProtocolNumber.tcp || flow.ipProtocol == IPProtocolNumber.udp,
              sas[sa].sa.remoteSelectors.admits(source, ipProtocol: flow.ipProtocol),
              sas[sa].sa.localSelectors.admits(destination, ipProtocol: flow.ipProtocol) else { return .outsideSelectors }
        let key = FlowKey(lineage: sas[sa].sa.lineage, flow)
        if let slot = flows.find(key, now: now) {
            guard flows.target(atSlot: slot) == target else { return .otherOwner }
            flows.refresh(slot: slot, now: now, closing: false)
            return .kept
        }
        return flows.insert(key, target: target, now: now) ? .placed : .full
    }
}
