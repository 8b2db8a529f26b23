// Connection ends reported by the targets (inbound claim 10: the table is distributed). A
// target's conntrack knows a connection's inner 5-tuple, not the CHILD_SA lineage the
// table's key starts with: the entry is looked up under each lineage of the SAs the
// reporting target holds (a few per peer; one report's lineages are gathered once). Only
// the entry's own target may end it: a report for an entry another target owns is ignored
// and counted (`notOwner`), one that matches no entry too (`noEntry`: the entry already
// ended, or the flow was never placed by this table).

import Cluster

/// What became of one reported end.
public enum FlowEndResult: UInt8, CaseIterable, Sendable, CustomStringConvertible {
    /// The reporting target owned the entry; it is gone.
    case ended
    /// An entry exists but another target owns it: left alone.
    case notOwner
    /// No entry under any lineage the target holds (or the target is unknown).
    case noEntry

    public var description: String {
        switch self {
        case .ended: return "ended-by-target"
        case .notOwner: return "not-owner"
        case .noEntry: return "no-entry"
        }
    }
}

extension InboundClassifier {
    /// `target`'s conntrack reported that the flows `ends` (peer-to-DVIPA direction) ended.
    /// Returns one result per flow, in order; each is counted (`counters[result]`).
    @discardableResult
    public mutating func flowsEnded(by target: NodeID, _ ends: [InnerFiveTuple], now: ClusterInstant) -> [FlowEndResult] {
        var lineages: [SALineageID] = []
        if let index = targetIndex[target] {
            var seen = Set<SALineageID>()
            for entry in sas where entry.holderSet.contains(index) && seen.insert(entry.sa.lineage).inserted {
                lineages.append(entry.sa.lineage)
            }
        }
        let index = targetIndex[target]
        let time = seconds(now)
        return ends.map { flow in
            var result = FlowEndResult.noEntry
            for lineage in lineages {
                let key = FlowKey(lineage: lineage, flow)
                guard let slot = flows.find(key, now: time) else { continue }
                if flows.target(atSlot: slot) == index {
                    _ = flows.remove(key)
                    result = .ended
                    break
                }
                result = .notOwner
            }
            counters.count(result)
            return result
        }
    }
}
