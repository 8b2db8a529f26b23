import NIOCore

/// Why an agent refused a request. Open: unknown codes round-trip.
public struct NackReason: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The kernel refused the SA or policy (the detail carries its errno text).
    public static let kernelRejected = NackReason(rawValue: 1)
    /// The agent's kernel lacks the algorithm, ESN, offload or encapsulation asked for.
    public static let unsupported = NackReason(rawValue: 2)
    /// The request carries an epoch other than the agent's current one.
    public static let staleEpoch = NackReason(rawValue: 3)
    /// The request names an SA the receiver does not know.
    public static let unknownSA = NackReason(rawValue: 4)
    /// Routing node → agent: no sequence block now, the peer's replay window is full; retry.
    public static let windowFull = NackReason(rawValue: 5)
    /// Routing node → agent: the SA's sequence space is used up; a rekey is on its way.
    public static let sequenceExhausted = NackReason(rawValue: 6)

    public var description: String {
        switch self {
        case .kernelRejected: return "kernel-rejected"
        case .unsupported: return "unsupported"
        case .staleEpoch: return "stale-epoch"
        case .unknownSA: return "unknown-sa"
        case .windowFull: return "window-full"
        case .sequenceExhausted: return "sequence-exhausted"
        default: return "reason(\(rawValue))"
        }
    }
}

extension ClusterMessage {
    /// Routing node → agent: remove the SA. Body: SA id (u64), epoch (u64).
    public struct DeleteSA: Equatable, Sendable, CustomStringConvertible {
        public var saID: ClusterSAID
        public var epoch: ClusterEpoch

        public init(saID: ClusterSAID, epoch: ClusterEpoch) {
            self.saID = saID
            self.epoch = epoch
        }

        public init(parsing buffer: inout ByteBuffer) throws {
            saID = try buffer.readClusterValue("DeleteSA id")
            epoch = try buffer.readClusterValue("DeleteSA epoch")
        }

        public func write(to buffer: inout ByteBuffer) {
            buffer.writeClusterValue(saID)
            buffer.writeClusterValue(epoch)
        }

        public var description: String { "DeleteSA(\(saID), \(epoch))" }
    }

    /// Agent → routing node: the request of type `operation` about `saID` succeeded.
    /// Body: SA id (u64), operation (u8, a message type).
    public struct Ack: Equatable, Sendable, CustomStringConvertible {
        public var saID: ClusterSAID
        public var operation: ClusterMessageType

        public init(saID: ClusterSAID, operation: ClusterMessageType) {
            self.saID = saID
            self.operation = operation
        }

        public init(parsing buffer: inout ByteBuffer) throws {
            saID = try buffer.readClusterValue("Ack SA id")
            operation = try buffer.readClusterValue("Ack operation")
        }

        public func write(to buffer: inout ByteBuffer) {
            buffer.writeClusterValue(saID)
            buffer.writeClusterValue(operation)
        }

        public var description: String { "Ack(\(operation) \(saID))" }
    }

    /// Either direction: the request of type `operation` about `saID` failed.
    /// Body: SA id (u64), operation (u8), reason (u8), detail (string, never key bytes).
    public struct Nack: Equatable, Sendable, CustomStringConvertible {
        public var saID: ClusterSAID
        public var operation: ClusterMessageType
        public var reason: NackReason
        public var detail: String

        public init(saID: ClusterSAID, operation: ClusterMessageType, reason: NackReason, detail: String = "") {
            self.saID = saID
            self.operation = operation
            self.reason = reason
            self.detail = detail
        }

        public init(parsing buffer: inout ByteBuffer) throws {
            saID = try buffer.readClusterValue("Nack SA id")
            operation = try buffer.readClusterValue("Nack operation")
            reason = try buffer.readClusterValue("Nack reason")
            detail = try buffer.readClusterString("Nack detail")
        }

        public func write(to buffer: inout ByteBuffer) {
            buffer.writeClusterValue(saID)
            buffer.writeClusterValue(operation)
            buffer.writeClusterValue(reason)
            buffer.writeClusterString(detail)
        }

        public var description: String {
            detail.isEmpty ? "Nack(\(operation) \(saID): \(reason))" : "Nack(\(operation) \(saID): \(reason): \(detail))"
        }
    }
}
