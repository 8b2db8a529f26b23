// Connection ends reported by the targets (inbound claim 10: the table is distributed). A
// target's conntrack knows a connection's inner 5-tuple, not the CHILD_SA lineage the
// table's key starts with: the entry is looked up under each lineage of the SAs the
// reporting target holds (a few per peer), which the classifier keeps per target
// (`lineagesByTarget`, changed with each SA's holders), so a report never visits every SA. Only
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
        let index = targetIndex[target]
        // The target's lineages from the index kept per target: never a visit of every SA.
        let lineages = index.map { Array(lineagesByTarget[Int($0)].keys) } ?? []
        flowEndWork += lineages.count
        let time = seconds(now)
        return ends.map { flow in
            var result = FlowEndResult.noEntry
            for lineage in lineages {
                flowEndWork += 1
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
