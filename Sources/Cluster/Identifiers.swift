// Names the cluster gives to its nodes, epochs and SAs.

/// A cluster member's name, chosen by its operator (`vipsec target --node-id t1`).
///
/// 1...64 bytes of UTF-8 without control characters, so it can be printed in status and logs.
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The node's name.
    public let name: String

    /// The largest name length in UTF-8 bytes.
    public static let maximumLength = 64

    /// Creates a node id, or throws when the name is empty, too long or has control characters.
    public init(_ name: String) throws {
        let count = name.utf8.count
        guard count >= 1, count <= NodeID.maximumLength else {
            throw ClusterWireError.invalidValue(field: "node id", reason: "length \(count) is not 1...\(NodeID.maximumLength)")
        }
        guard !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw ClusterWireError.invalidValue(field: "node id", reason: "contains a control character")
        }
        self.name = name
    }

    public static func < (lhs: NodeID, rhs: NodeID) -> Bool { lhs.name < rhs.name }
    public var description: String { name }
}

/// The routing node's incarnation. A routing node picks a fresh epoch every time it starts;
/// every SA carries the epoch it was negotiated in, and an agent that is welcomed into an
/// epoch different from its SAs' drops them (they died with the IKE state that made them).
public struct ClusterEpoch: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// "No epoch": an agent that holds no SAs says so in its Hello.
    public static let none = ClusterEpoch(rawValue: 0)

    /// A fresh non-zero epoch from `generator` (the routing node passes its system RNG).
    public static func fresh<G: RandomNumberGenerator>(using generator: inout G) -> ClusterEpoch {
        var value: UInt64 = 0
        while value == 0 { value = generator.next() }
        return ClusterEpoch(rawValue: value)
    }

    public var description: String { "epoch \(String(rawValue, radix: 16))" }
}

/// The term of the HA leader that sent a cluster frame (issue 19, docs/takeover.md): the etcd
/// revision at which the active routing node won its election. Terms only grow, so an agent
/// that has accepted a term refuses every older one (a deposed routing node). `.none` (0):
/// no HA, the frame carries no term.
public struct ClusterTerm: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    /// No term: a routing node without `ha { }`.
    public static let none = ClusterTerm(rawValue: 0)

    public static func < (lhs: ClusterTerm, rhs: ClusterTerm) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "term \(rawValue)" }
}

/// The routing node's handle for one kernel SA (one SPI in one direction), unique within an
/// epoch. The IKE daemon assigns it when it hands the SA to the authority.
public struct ClusterSAID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public static func < (lhs: ClusterSAID, rhs: ClusterSAID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "sa#\(rawValue)" }
}

/// An IPv4 or IPv6 address as it travels on the cluster wire.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// 4 bytes (IPv4) or 16 bytes (IPv6), network order.
    public let bytes: [UInt8]

    /// Creates an address from 4 or 16 bytes, or throws.
    public init(bytes: [UInt8]) throws {
        guard bytes.count == 4 || bytes.count == 16 else {
            throw ClusterWireError.invalidValue(field: "address", reason: "\(bytes.count) bytes, want 4 or 16")
        }
        self.bytes = bytes
    }

    /// An IPv4 address from its four parts.
    public static func v4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> IPAddress {
        IPAddress(unchecked: [a, b, c, d])
    }

    private init(unchecked bytes: [UInt8]) { self.bytes = bytes }

    /// True for IPv4.
    public var isIPv4: Bool { bytes.count == 4 }

    public var description: String {
        if isIPv4 { return bytes.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 16, by: 2)
            .map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
            .joined(separator: ":")
    }
}
