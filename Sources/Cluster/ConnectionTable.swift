/// The inner 5-tuple of a flow (after ESP decryption, or read from the first cipher blocks).
public struct InnerFiveTuple: Hashable, Sendable, CustomStringConvertible {
    public var source: IPAddress
    public var destination: IPAddress
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var ipProtocol: UInt8

    public init(source: IPAddress, destination: IPAddress, sourcePort: UInt16, destinationPort: UInt16, ipProtocol: UInt8) {
        self.source = source
        self.destination = destination
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.ipProtocol = ipProtocol
    }

    public var description: String { "\(ipProtocol) \(source):\(sourcePort) -> \(destination):\(destinationPort)" }
}

/// The distributed connection table of inbound claim 10: which target serves each flow.
/// The inbound distributor (next issue) asks it for every packet to the DVIPA.
public protocol ConnectionTable {
    /// The target serving `flow`, or nil if the flow is new.
    func target(for flow: InnerFiveTuple) -> NodeID?
    /// The flow's target, choosing one of `candidates` (live targets holding the packet's SA)
    /// for a new flow, or moving it when its target is no longer a candidate. Nil when there
    /// is no candidate.
    mutating func route(_ flow: InnerFiveTuple, candidates: [NodeID], now: ClusterInstant) -> NodeID?
    /// Forgets every flow served by `node` (it died or left).
    mutating func removeTarget(_ node: NodeID)
    /// Forgets flows not used since `cutoff`.
    mutating func expire(idleSince cutoff: ClusterInstant)
    /// How many flows are known.
    var count: Int { get }
}

/// A dictionary-backed connection table; new flows go to the candidate with the fewest flows.
public struct NaiveConnectionTable: ConnectionTable, Sendable {
    private var flows: [InnerFiveTuple: (target: NodeID, lastUsed: ClusterInstant)] = [:]
    private var load: [NodeID: Int] = [:]

    public init() {}

    public func target(for flow: InnerFiveTuple) -> NodeID? { flows[flow]?.target }

    public mutating func route(_ flow: InnerFiveTuple, candidates: [NodeID], now: ClusterInstant) -> NodeID? {
        if let existing = flows[flow], candidates.contains(existing.target) {
            flows[flow]?.lastUsed = now
            return existing.target
        }
        if let existing = flows.removeValue(forKey: flow) { unload(existing.target) }
        guard let chosen = candidates.min(by: { (load[$0] ?? 0, $0) < (load[$1] ?? 0, $1) }) else { return nil }
        flows[flow] = (chosen, now)
        load[chosen, default: 0] += 1
        return chosen
    }

    public mutating func removeTarget(_ node: NodeID) {
        flows = flows.filter { $0.value.target != node }
        load[node] = nil
    }

    public mutating func expire(idleSince cutoff: ClusterInstant) {
        for (flow, entry) in flows where entry.lastUsed < cutoff {
            flows[flow] = nil
            unload(entry.target)
        }
    }

    public var count: Int { flows.count }

    /// Flows per target (for status).
    public var flowsPerTarget: [NodeID: Int] { load.filter { $0.value > 0 } }

    private mutating func unload(_ node: NodeID) {
        load[node] = max(0, (load[node] ?? 0) - 1)
    }
}
