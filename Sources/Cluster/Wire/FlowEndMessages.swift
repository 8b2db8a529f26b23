import NIOCore

extension ClusterMessage {
    /// Agent → routing node: connections that ended in this target's kernel (conntrack), in
    /// the peer-to-DVIPA direction as the peer's inner packets carry them (inbound claim 10:
    /// what makes the connection table distributed). The routing node removes the matching
    /// connection-table entries this target owns; any other flow is ignored and counted.
    ///
    /// Body: count (u16, at most 1024), then per flow: protocol (u8: 6 TCP or 17 UDP), source
    /// and destination address (family byte 4 or 6, then 4 or 16 octets; one family per
    /// flow), source port (u16), destination port (u16).
    public struct FlowEndReport: Equatable, Sendable, CustomStringConvertible {
        /// Flows per report at most (a batch of 1024 flows is ~15 KB of body with IPv4).
        public static let maximumFlows = 1024
        /// The protocols a report may carry (RFC 9293 TCP, RFC 768 UDP).
        public static let protocols: Set<UInt8> = [6, 17]

        public var flows: [InnerFiveTuple]

        public init(flows: [InnerFiveTuple]) {
            self.flows = Array(flows.prefix(Self.maximumFlows))
        }

        public init(parsing buffer: inout ByteBuffer) throws {
            flows = try buffer.readClusterList("FlowEndReport flows", maximum: Self.maximumFlows) { buffer in
                let ipProtocol: UInt8 = try buffer.readClusterInteger("FlowEndReport protocol")
                guard Self.protocols.contains(ipProtocol) else {
                    throw ClusterWireError.invalidValue(field: "FlowEndReport protocol", reason: "\(ipProtocol) is neither TCP nor UDP")
                }
                let source = try buffer.readClusterAddress("FlowEndReport source")
                let destination = try buffer.readClusterAddress("FlowEndReport destination")
                guard source.isIPv4 == destination.isIPv4 else {
                    throw ClusterWireError.invalidValue(field: "FlowEndReport destination", reason: "address family differs from the source's")
                }
                return InnerFiveTuple(source: source, destination: destination,
                                      sourcePort: try buffer.readClusterInteger("FlowEndReport source port"),
                                      destinationPort: try buffer.readClusterInteger("FlowEndReport destination port"),
                                      ipProtocol: ipProtocol)
            }
        }

        public func write(to buffer: inout ByteBuffer) {
            buffer.writeClusterList(flows.prefix(Self.maximumFlows)) { buffer, flow in
                buffer.writeInteger(flow.ipProtocol)
                buffer.writeClusterAddress(flow.source)
                buffer.writeClusterAddress(flow.destination)
                buffer.writeInteger(flow.sourcePort)
                buffer.writeInteger(flow.destinationPort)
            }
        }

        public var description: String { "FlowEndReport(\(flows.count) flows)" }
    }
}
