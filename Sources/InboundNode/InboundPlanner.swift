// From successive cluster snapshots (members with their cluster addresses, inbound SAs with
// their holders) to the steps the distributor's worker carries out: forwarding targets
// (fwmark rule + route) and the classifier's SAs. Pure; runs on the worker thread.
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

    public init() {}

    /// The steps from the applied state to `snapshot`; records them as applied. Order:
    /// targets gone (or readdressed), targets added, then SAs (holders are always known targets).
    public mutating func steps(to snapshot: ClusterStateSnapshot) -> [InboundStep] {
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
            let holders = held.holders.filter { targets[$0] != nil }.sorted()
            if let known = sas[id] {
                if known.holders != holders {
                    result.append(.setHolders(id, holders))
                    sas[id]?.holders = holders
                }
            } else {
                result.append(.addSA(id))
                sas[id] = (InboundAddress(held.description.destination), held.description.spi, holders)
            }
        }
        for (id, known) in sas.sorted(by: { $0.key < $1.key }) where snapshot.inboundSAs[id] == nil {
            result.append(.removeSA(id, destination: known.destination, spi: known.spi))
            sas[id] = nil
        }
        return result
    }

    /// Forgets an SA the classifier refused (so a later snapshot does not set its holders).
    public mutating func forget(_ id: ClusterSAID) { sas[id] = nil }

    func freeMark() -> UInt32? {
        let used = Set(targets.values.map(\.mark))
        return (0..<UInt32(Self.maximumTargets)).lazy.map { Self.firstMark + $0 }.first { !used.contains($0) }
    }
}
