import Cluster

/// The kernel as the agent uses it: one SA (with its policies) in, one out, its counters.
/// `XFRMAgentKernel` is the real one (netlink XFRM); unit tests use an in-memory twin.
public protocol AgentKernel: AnyObject {
    /// Puts the SA and its policies into the kernel. `outputSequence`: for a shared
    /// outbound SA, the last number before its block (the next packet gets +1).
    func install(_ sa: SADescription, outputSequence: UInt64?) throws
    /// Replaces the SA's kernel state with a fresh one (policies stay): a shared SA's next
    /// sequence block.
    func replaceState(_ sa: SADescription, outputSequence: UInt64) throws
    /// Removes the SA (absent is fine: it may have expired) and the policies no other held
    /// SA needs.
    func remove(_ sa: SADescription) throws
    /// The SA's counters, nil when the kernel does not hold it.
    func counters(of sa: SADescription) throws -> KernelSACounters?
    /// Removes kernel SAs left by an earlier run of this agent (from its journal).
    func removeLeftovers() -> Int
    /// At stop, after every held SA was removed: removes whatever this agent still has in
    /// the kernel (states and policies); returns how many states.
    func removeAll() -> Int
    /// At a clean stop: removes the journal when nothing is left in the kernel; true if it did.
    func removeJournal() -> Bool
    /// Inbound encapsulated mode (claims 7-8): decapsulates GRE from `router` only (GRE from
    /// anyone else dropped and counted), `local` being this target's cluster address; a
    /// decapsulation already there is replaced. Returns what it changed, for the log.
    func startDecapsulation(router: IPAddress, local: IPAddress) throws -> [String]
    /// Removes the decapsulation (none there is fine).
    func stopDecapsulation() throws
    /// An inbound SA's replay state as the kernel keeps it (XFRM_MSG_GETAE; top and bitmap,
    /// bit i = top - i), nil when the kernel does not hold it.
    func replayState(of sa: SADescription) throws -> KernelReplayState?
    /// The open connections the kernel's conntrack holds (original direction: for inbound
    /// cluster traffic peer → DVIPA).
    func openConnections() throws -> [InnerFiveTuple]
}

/// An SA's authenticated replay window as the kernel keeps it.
public struct KernelReplayState: Equatable, Sendable {
    public var top: UInt64
    public var bitmap: [UInt64]
    public init(top: UInt64, bitmap: [UInt64]) {
        self.top = top
        self.bitmap = bitmap
    }
}

extension AgentKernel {
    public func removeAll() -> Int { 0 }
    public func removeJournal() -> Bool { false }
    /// Kernels without GRE (the in-memory ones of the unit tests) have nothing to set up.
    public func startDecapsulation(router: IPAddress, local: IPAddress) throws -> [String] { [] }
    public func stopDecapsulation() throws {}
    /// Kernels without replay state (the in-memory ones of the unit tests) report none.
    public func replayState(of sa: SADescription) throws -> KernelReplayState? { nil }
    /// ... and no connections.
    public func openConnections() throws -> [InnerFiveTuple] { [] }
}

/// An SA's counters as the kernel keeps them.
public struct KernelSACounters: Equatable, Sendable {
    public var bytes: UInt64
    public var packets: UInt64
    public var outputSequence: UInt64

    public init(bytes: UInt64, packets: UInt64, outputSequence: UInt64) {
        self.bytes = bytes
        self.packets = packets
        self.outputSequence = outputSequence
    }
}
