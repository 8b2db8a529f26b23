// From the cluster state's updates (members with their cluster addresses, inbound SAs with
// their holders) to the steps the distributor's worker carries out: forwarding targets
// (fwmark rule + route) and the classifier's SAs. Pure; runs on the worker thread.
// An update that changes the members (or replaces everything) is planned against the whole
// state: every SA's holders are filtered by the targets. Any other update costs the SAs in
// it (issue 20: a CHILD_SA costs O(1) here, not a visit of every inbound SA).
import Cluster
import ClusterNode
import Inbound

/// One step for the worker, in the order it must be applied.
public enum InboundStep: Equatable, CustomStringConvertible {
    /// Route + fwmark rule first, then `upsertTarget`.
    case addTarget(NodeID, mark: UInt32, gateway: IPAddress)
    /// `removeTarget` (its flows dropped) first, then the rule and route go.
    case removeTarget(NodeID, mark: UInt32, gateway: IPAddress)
    /// `addSA` (keys to user space only).
    case addSA(ClusterSAID)
    case setHolders(ClusterSAID, [NodeID])
    case removeSA(ClusterSAID, destination: InboundAddress, spi: UInt32)

    public var description: String {
        switch self {
        case .addTarget(let node, let mark, let gateway): return "add target \(node) mark \(mark) via \(gateway)"
        case .removeTarget(let node, let mark, let gateway): return "remove target \(node) mark \(mark) via \(gateway)"
        case .addSA(let id): return "add \(id)"
        case .setHolders(let id, let holders): return "\(id) holders \(holders.map(\.name).joined(separator: ","))"
        case .removeSA(let id, _, let spi): return "remove \(id) spi \(String(spi, radix: 16))"
        }
    }
}

/// What the worker has applied so far, and the marks given out.
public struct InboundPlanner {
    /// Marks (and routing tables) are `firstMark + slot`; a slot is reused once freed.
    public static let firstMark: UInt32 = 0x5600
    public static let maximumTargets = 256

    public private(set) var targets: [NodeID: (mark: UInt32, gateway: IPAddress)] = [:]
    public private(set) var sas: [ClusterSAID: (destination: InboundAddress, spi: UInt32, holders: [NodeID])] = [:]
    /// The cluster state as the updates so far make it.
    public private(set) var state = ClusterStateSnapshot()
    /// SAs of `state` the worker could not add (`forget`): tried again with each update, as
    /// when every update was a whole snapshot.
    private var forgotten: Set<ClusterSAID> = []
    /// SAs looked at by `steps`, in all (tests: an update of one SA costs the same with
    /// 50,000 inbound SAs as with 1,000).
    public private(set) var visits = 0

    public init() {}

    /// The steps that `update` asks for; records them as applied.
    public mutating func steps(applying update: ClusterStateUpdate) -> [InboundStep] {
        update.apply(to: &state)
        if update.isFull || update.members != nil { return steps(to: state) }
        var result: [InboundStep] = []
        for id in Set(update.upserted.keys).union(forgotten).sorted() {
            guard let held = state.inboundSAs[id] else { forgotten.remove(id); continue }
            plan(id, held, into: &result)
        }
        for id in update.removed.sorted() {
            visits += 1
            forgotten.remove(id)
            guard state.inboundSAs[id] == nil, let known = sas.removeValue(forKey: id) else { continue }
            result.append(.removeSA(id, destination: known.destination, spi: known.spi))
        }
        return result
    }

    /// The steps from the applied state to `snapshot`; records them as applied. Order:
    /// targets gone (or readdressed), targets added, then SAs (holders are always known targets).
    public mutating func steps(to snapshot: ClusterStateSnapshot) -> [InboundStep] {
        state = snapshot
        var adds: [InboundStep] = [], removals: [InboundStep] = []
        for (node, old) in targets.sorted(by: { $0.key < $1.key }) where snapshot.members[node] != old.gateway {
            removals.append(.removeTarget(node, mark: old.mark, gateway: old.gateway))
            targets[node] = nil
        }
        for (node, gateway) in snapshot.members.sorted(by: { $0.key < $1.key }) where targets[node] == nil {
            guard let mark = freeMark() else { continue }
            targets[node] = (mark, gateway)
            adds.append(.addTarget(node, mark: mark, gateway: gateway))
        }
        // Removals first: a freed mark may be given out again in the same pass.
        var result = removals + adds
        for (id, held) in snapshot.inboundSAs.sorted(by: { $0.key < $1.key }) {
            plan(id, held, into: &result)
        }
        for (id, known) in sas.sorted(by: { $0.key < $1.key }) where snapshot.inboundSAs[id] == nil {
            visits += 1
            result.append(.removeSA(id, destination: known.destination, spi: known.spi))
            sas[id] = nil
        }
        forgotten = forgotten.filter { snapshot.inboundSAs[$0] != nil && sas[$0] == nil }
        return result
    }

    /// The step for SA `id` as `held` now: added, new holders (only those that are targets), or none.
    private mutating func plan(_ id: ClusterSAID, _ held: ClusterStateSnapshot.HeldSA, into result: inout [InboundStep]) {
        visits += 1
        let holders = held.holders.filter { targets[$0] != nil }.sorted()
        if let known = sas[id] {
            if known.holders != holders {
                result.append(.setHolders(id, holders))
                sas[id]?.holders = holders
            }
        } else {
            result.append(.addSA(id))
            sas[id] = (InboundAddress(held.description.destination), held.description.spi, holders)
            forgotten.remove(id)
        }
    }

    /// Forgets an SA the classifier refused (so a later update does not set its holders; the
    /// next one tries to add it again).
    public mutating func forget(_ id: ClusterSAID) {
        sas[id] = nil
        if state.inboundSAs[id] != nil { forgotten.insert(id) }
    }

    func freeMark() -> UInt32? {
        let used = Set(targets.values.map(\.mark))
        return (0..<UInt32(Self.maximumTargets)).lazy.map { Self.firstMark + $0 }.first { !used.contains($0) }
    }
}
