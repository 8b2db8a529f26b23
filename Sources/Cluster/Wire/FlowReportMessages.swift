import NIOCore

extension ClusterMessage {
    /// Agent → routing node, after the resync that follows each Welcome: connections this
    /// target's kernel holds (conntrack), each with the inbound cluster SA whose traffic
    /// selectors admit it, so that a routing node that took over (or restarted into the same
    /// epoch) rebuilds its connection table from the targets instead of from a record per
    /// connection (issue 19 item 2). The routing node places each on the reporting target
    /// (the entry's CHILD_SA line is the SA's lineage) within the table's cap; flows of SAs
    /// the target does not hold are dropped and counted.
    ///
    /// Body: count (u16, at most 1024), then per flow: SA id (u64), protocol (u8: 6 TCP or
    /// 17 UDP), source and destination address (family byte 4 or 6, then 4 or 16 octets; one
    /// family per flow; peer → DVIPA as the peer's inner packets carry them), source port
    /// (u16), destination port (u16). More flows than fit go in several reports.
    public struct FlowReport: Equatable, Sendable, CustomStringConvertible {
        /// Flows per report at most (~27 octets each with IPv4: a full report is ~28 KB).
        public static let maximumFlows = 1024

        public struct Flow: Hashable, Sendable {
            public var saID: ClusterSAID
            public var flow: InnerFiveTuple
            public init(saID: ClusterSAID, flow: InnerFiveTuple) {
                self.saID = saID
                self.flow = flow
            }
        }

        public var flows: [Flow]

        public init(flows: [Flow]) {
            self.flows = Array(flows.prefix(Self.maximumFlows))
        }

        public init(parsing buffer: inout ByteBuffer) throws {
            flows = try buffer.readClusterList("FlowReport flows", maximum: Self.maximumFlows) { buffer in
                let saID: ClusterSAID = try buffer.readClusterValue("FlowReport SA id")
                let ipProtocol: UInt8 = try buffer.readClusterInteger("FlowReport protocol")
                guard FlowEndReport.protocols.contains(ipProtocol) else {
                    throw ClusterWireError.invalidValue(field: "FlowReport protocol", reason: "\(ipProtocol) is neither TCP nor UDP")
                }
                let source = try buffer.readClusterAddress("FlowReport source")
                let destination = try buffer.readClusterAddress("FlowReport destination")
                guard source.isIPv4 == destination.isIPv4 else {
                    throw ClusterWireError.invalidValue(field: "FlowReport destination", reason: "address family differs from the source's")
                }
                return Flow(saID: saID, flow: InnerFiveTuple(
                    source: source, destination: destination,
                    sourcePort: try buffer.readClusterInteger("FlowReport source port"),
                    destinationPort: try buffer.readClusterInteger("FlowReport destination port"),
                    ipProtocol: ipProtocol))
            }
        }

        public func write(to buffer: inout ByteBuffer) {
            buffer.writeClusterList(flows.prefix(Self.maximumFlows)) { buffer, entry in
                buffer.writeClusterValue(entry.saID)
                buffer.writeInteger(entry.flow.ipProtocol)
                buffer.writeClusterAddress(entry.flow.source)
                buffer.writeClusterAddress(entry.flow.destination)
                buffer.writeInteger(entry.flow.sourcePort)
                buffer.writeInteger(entry.flow.destinationPort)
            }
        }

        public var description: String { "FlowReport(\(flows.count) flows)" }
    }
}
