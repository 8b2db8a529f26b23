import NIOCore

/// What an agent's kernel can do, announced in Hello.
public struct KernelCapabilities: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Extended (64-bit) sequence numbers (XFRM_STATE_ESN / XFRMA_REPLAY_ESN_VAL).
    public static let extendedSequenceNumbers = KernelCapabilities(rawValue: 1 << 0)
    /// ESP offload to a NIC (XFRMA_OFFLOAD_DEV).
    public static let offload = KernelCapabilities(rawValue: 1 << 1)
    /// ESP in UDP (XFRMA_ENCAP).
    public static let udpEncapsulation = KernelCapabilities(rawValue: 1 << 2)
}

extension ClusterMessage {
    /// Agent → routing node, first message on a connection: join (or rejoin) the cluster.
    ///
    /// Body: node id (string), cluster address, capabilities (u32), max replay window (u32),
    /// incarnation (u64, new on every agent start), held epoch (u64, 0 = holds no SAs).
    public struct Hello: Equatable, Sendable, CustomStringConvertible {
        public var nodeID: NodeID
        /// The agent's address on the cluster link (where forwarded packets go).
        public var clusterAddress: IPAddress
        public var capabilities: KernelCapabilities
        /// The largest replay window its kernel accepts (Linux: 4096 with ESN replay state).
        public var maximumReplayWindow: UInt32
        /// Changes on every agent process start, so the routing node can tell a restart from
        /// a reconnect of the same process.
        public var incarnation: UInt64
        /// The epoch of the SAs the agent still holds, or `.none`.
        public var heldEpoch: ClusterEpoch

        public init(nodeID: NodeID, clusterAddress: IPAddress, capabilities: KernelCapabilities,
                    maximumReplayWindow: UInt32, incarnation: UInt64, heldEpoch: ClusterEpoch) {
            self.nodeID = nodeID
            self.clusterAddress = clusterAddress
            self.capabilities = capabilities
            self.maximumReplayWindow = maximumReplayWindow
            self.incarnation = incarnation
            self.heldEpoch = heldEpoch
        }

        public init(parsing buffer: inout ByteBuffer) throws {
            nodeID = try buffer.readClusterNodeID("Hello node id")
            clusterAddress = try buffer.readClusterAddress("Hello cluster address")
            capabilities = try buffer.readClusterValue("Hello capabilities")
            maximumReplayWindow = try buffer.readClusterInteger("Hello max replay window")
            incarnation = try buffer.readClusterInteger("Hello incarnation")
            heldEpoch = try buffer.readClusterValue("Hello held epoch")
        }

        public func write(to buffer: inout ByteBuffer) {
            buffer.writeClusterNodeID(nodeID)
            buffer.writeClusterAddress(clusterAddress)
            buffer.writeClusterValue(capabilities)
            buffer.writeInteger(maximumReplayWindow)
            buffer.writeInteger(incarnation)
            buffer.writeClusterValue(heldEpoch)
        }

        public var description: String {
            "Hello(\(nodeID) at \(clusterAddress), caps 0x\(String(capabilities.rawValue, radix: 16)), window \(maximumReplayWindow), incarnation \(incarnation), held \(heldEpoch))"
        }
    }

    /// Routing node → agent: accepted into `epoch`. An agent holding SAs of any other epoch
    /// drops them all before doing anything else.
    ///
    /// Body: epoch (u64), heartbeat interval (u32 ms), failure timeout (u32 ms), then, only
    /// when the routing node forwards inbound ESP in GRE (encapsulated mode, inbound claims
    /// 7-8): inbound forwarding (u8, 1 = encapsulated) and the GRE source address (the
    /// routing node's cluster address; the agent decapsulates GRE from it only). A direct or
    /// inbound-less routing node sends the three fields alone, byte for byte as before, so
    /// agents of every version join it; an older agent refuses the longer Welcome
    /// (`trailingBytes`) and stays out of an encapsulated cluster it could not serve.
    public struct Welcome: Equatable, Sendable, CustomStringConvertible {
        /// The `inbound forwarding` octet's one value.
        static let encapsulatedForwarding: UInt8 = 1

        public var epoch: ClusterEpoch
        public var heartbeatIntervalMilliseconds: UInt32
        public var failureTimeoutMilliseconds: UInt32
        /// Encapsulated mode: where the routing node's GRE comes from (nil: no GRE to decapsulate).
        public var greSource: IPAddress?

        public init(epoch: ClusterEpoch, heartbeatIntervalMilliseconds: UInt32, failureTimeoutMilliseconds: UInt32,
                    greSource: IPAddress? = nil) {
            self.epoch = epoch
            self.heartbeatIntervalMilliseconds = heartbeatIntervalMilliseconds
            self.failureTimeoutMilliseconds = failureTimeoutMilliseconds
            self.greSource = greSource
        }

        public init(parsing buffer: inout ByteBuffer) throws {
            epoch = try buffer.readClusterValue("Welcome epoch")
            heartbeatIntervalMilliseconds = try buffer.readClusterInteger("Welcome heartbeat interval")
            failureTimeoutMilliseconds = try buffer.readClusterInteger("Welcome failure timeout")
            guard epoch != .none else {
                throw ClusterWireError.invalidValue(field: "Welcome epoch", reason: "zero")
            }
            if buffer.readableBytes > 0 {
                let forwarding: UInt8 = try buffer.readClusterInteger("Welcome inbound forwarding")
                guard forwarding == Self.encapsulatedForwarding else {
                    throw ClusterWireError.invalidValue(field: "Welcome inbound forwarding", reason: "code \(forwarding)")
                }
                greSource = try buffer.readClusterAddress("Welcome GRE source")
            }
        }

        public func write(to buffer: inout ByteBuffer) {
            buffer.writeClusterValue(epoch)
            buffer.writeInteger(heartbeatIntervalMilliseconds)
            buffer.writeInteger(failureTimeoutMilliseconds)
            if let greSource {
                buffer.writeInteger(Self.encapsulatedForwarding)
                buffer.writeClusterAddress(greSource)
            }
        }

        public var description: String {
            "Welcome(\(epoch), heartbeat \(heartbeatIntervalMilliseconds) ms, timeout \(failureTimeoutMilliseconds) ms\(greSource.map { ", inbound GRE from \($0)" } ?? ""))"
        }
    }

    /// Both ways: alive. Body: epoch (u64), counter (u64).
    public struct Heartbeat: Equatable, Sendable, CustomStringConvertible {
        public var epoch: ClusterEpoch
        public var counter: UInt64

        public init(epoch: ClusterEpoch, counter: UInt64) {
            self.epoch = epoch
            self.counter = counter
        }

        public init(parsing buffer: inout ByteBuffer) throws {
            epoch = try buffer.readClusterValue("Heartbeat epoch")
            counter = try buffer.readClusterInteger("Heartbeat counter")
        }

        public func write(to buffer: inout ByteBuffer) {
            buffer.writeClusterValue(epoch)
            buffer.writeInteger(counter)
        }

        public var description: String { "Heartbeat(\(epoch), #\(counter))" }
    }

    /// Agent → routing node: resend every SA I should hold, then a FullState.
    /// Body: held epoch (u64).
    public struct ResyncRequest: Equatable, Sendable, CustomStringConvertible {
        public var heldEpoch: ClusterEpoch

        public init(heldEpoch: ClusterEpoch) { self.heldEpoch = heldEpoch }

        public init(parsing buffer: inout ByteBuffer) throws {
            heldEpoch = try buffer.readClusterValue("ResyncRequest held epoch")
        }

        public func write(to buffer: inout ByteBuffer) {
            buffer.writeClusterValue(heldEpoch)
        }

        public var description: String { "ResyncRequest(held \(heldEpoch))" }
    }

    /// Routing node → agent, after the InstallSAs of a (re)join or resync: the complete list
    /// of SAs this agent should hold. The agent deletes every SA not listed.
    ///
    /// Body: epoch (u64), count (u16), SA ids (u64 each).
    public struct FullState: Equatable, Sendable, CustomStringConvertible {
        /// The most SA ids one FullState carries (fits the default frame cap).
        public static let maximumCount = 8000

        public var epoch: ClusterEpoch
        public var saIDs: [ClusterSAID]

        public init(epoch: ClusterEpoch, saIDs: [ClusterSAID]) {
            self.epoch = epoch
            self.saIDs = saIDs
        }

        public init(parsing buffer: inout ByteBuffer) throws {
            epoch = try buffer.readClusterValue("FullState epoch")
            saIDs = try buffer.readClusterList("FullState SA ids", maximum: FullState.maximumCount) {
                try $0.readClusterValue("FullState SA id")
            }
        }

        public func write(to buffer: inout ByteBuffer) {
            buffer.writeClusterValue(epoch)
            buffer.writeClusterList(saIDs.prefix(FullState.maximumCount)) { $0.writeClusterValue($1) }
        }

        public var description: String { "FullState(\(epoch), \(saIDs.count) SAs)" }
    }
}
