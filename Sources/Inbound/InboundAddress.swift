// Addresses and flow keys as the per-packet path sees them: fixed-size values with no heap
// storage, cheap to hash and compare (Cluster's `IPAddress` keeps an array; it converts).

import Cluster

/// An IPv4 or IPv6 address in two words. IPv4 keeps its 32 bits in the low word.
public struct InboundAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The first 8 octets of an IPv6 address (0 for IPv4), big-endian.
    public var high: UInt64
    /// The last 8 octets of an IPv6 address, or the IPv4 address, big-endian.
    public var low: UInt64
    /// True for IPv4.
    public var isIPv4: Bool

    public init(high: UInt64, low: UInt64, isIPv4: Bool) {
        self.high = high
        self.low = low
        self.isIPv4 = isIPv4
    }

    /// An IPv4 address from its four parts.
    public static func v4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> InboundAddress {
        InboundAddress(high: 0, low: UInt64(a) << 24 | UInt64(b) << 16 | UInt64(c) << 8 | UInt64(d), isIPv4: true)
    }

    /// An IPv6 address from its 16 octets (nil for any other count).
    public init?(v6 bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        var h: UInt64 = 0, l: UInt64 = 0
        for i in 0..<8 { h = h << 8 | UInt64(bytes[i]); l = l << 8 | UInt64(bytes[8 + i]) }
        self.init(high: h, low: l, isIPv4: false)
    }

    /// The same address as Cluster spells it.
    public init(_ address: IPAddress) {
        if address.isIPv4 {
            let b = address.bytes
            self = .v4(b[0], b[1], b[2], b[3])
        } else {
            self.init(v6: address.bytes)!  // IPAddress holds exactly 4 or 16 octets
        }
    }

    /// Cluster's spelling (for status and the cluster wire).
    public var ipAddress: IPAddress {
        (try? IPAddress(bytes: octets)) ?? .v4(0, 0, 0, 0)
    }

    /// The 4 or 16 octets, network order.
    public var octets: [UInt8] {
        if isIPv4 { return (0..<4).map { UInt8(truncatingIfNeeded: low >> (24 - 8 * UInt64($0))) } }
        return (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64($0))) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64($0))) }
    }

    public static func < (a: InboundAddress, b: InboundAddress) -> Bool {
        (a.isIPv4 ? 0 : 1, a.high, a.low) < (b.isIPv4 ? 0 : 1, b.high, b.low)
    }

    public var description: String { ipAddress.description }
}

extension UnsafeRawBufferPointer {
    @inline(__always) func u8(_ i: Int) -> UInt8 { self[i] }
    @inline(__always) func be16(_ i: Int) -> UInt16 { UInt16(self[i]) << 8 | UInt16(self[i + 1]) }
    @inline(__always) func be32(_ i: Int) -> UInt32 { UInt32(be16(i)) << 16 | UInt32(be16(i + 2)) }
    @inline(__always) func be64(_ i: Int) -> UInt64 { UInt64(be32(i)) << 32 | UInt64(be32(i + 4)) }
    /// The IPv4 address at `i` (caller checked 4 octets).
    @inline(__always) func ipv4(_ i: Int) -> InboundAddress { InboundAddress(high: 0, low: UInt64(be32(i)), isIPv4: true) }
    /// The IPv6 address at `i` (caller checked 16 octets).
    @inline(__always) func ipv6(_ i: Int) -> InboundAddress { InboundAddress(high: be64(i), low: be64(i + 8), isIPv4: false) }
}

/// The stable id of a CHILD_SA line: the peer and CHILD_SA configuration that survives
/// rekeys. The SA authority assigns it, unique across peers, so two tunnel-mode peers with
/// overlapping inner networks never share flows; flows are keyed by it, never by the SPI.
public struct SALineageID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }
    public var description: String { "lineage#\(rawValue)" }
}

/// What the connection table is keyed by: the SA lineage and the inner flow.
/// Ports: TCP/UDP/SCTP ports; ICMP echo: (identifier, 0); other protocols: (0, 0).
public struct FlowKey: Hashable, Sendable, CustomStringConvertible {
    public var lineage: SALineageID
    public var source: InboundAddress
    public var destination: InboundAddress
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var ipProtocol: UInt8

    public init(lineage: SALineageID, source: InboundAddress, destination: InboundAddress,
                sourcePort: UInt16, destinationPort: UInt16, ipProtocol: UInt8) {
        self.lineage = lineage
        self.source = source
        self.destination = destination
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.ipProtocol = ipProtocol
    }

    /// A flow as a target's conntrack reports it (`flowEnded`), in the peer-to-DVIPA direction.
    public init(lineage: SALineageID, _ tuple: InnerFiveTuple) {
        self.init(lineage: lineage, source: InboundAddress(tuple.source), destination: InboundAddress(tuple.destination),
                  sourcePort: tuple.sourcePort, destinationPort: tuple.destinationPort, ipProtocol: tuple.ipProtocol)
    }

    /// Cluster's 5-tuple (for status).
    public var fiveTuple: InnerFiveTuple {
        InnerFiveTuple(source: source.ipAddress, destination: destination.ipAddress,
                       sourcePort: sourcePort, destinationPort: destinationPort, ipProtocol: ipProtocol)
    }

    /// A deterministic hash (the same in every process and on every routing node, so a
    /// backup router places unsynced flows where the old one did). Maglev uses it.
    public var placementHash: UInt64 { hash(seed: 0x5649_5053_4543_4D47) }  // "VIPSECMG"

    /// The hash with `seed` mixed in first.
    @inline(__always) public func hash(seed: UInt64) -> UInt64 {
        var h = mix64(seed ^ UInt64(lineage.rawValue) << 8 ^ UInt64(ipProtocol) ^ (isIPv4 ? 0x1_0000_0000_0000 : 0))
        h = mix64(h ^ source.high)
        h = mix64(h ^ source.low)
        h = mix64(h ^ destination.high)
        h = mix64(h ^ destination.low)
        return mix64(h ^ (UInt64(sourcePort) << 16 | UInt64(destinationPort)))
    }

    var isIPv4: Bool { source.isIPv4 }

    public var description: String {
        "\(lineage) \(ipProtocol) \(source):\(sourcePort) -> \(destination):\(destinationPort)"
    }
}

/// A 64-bit finaliser (SplitMix64 / MurmurHash3 fmix style): every input bit moves every output bit.
@inline(__always) func mix64(_ value: UInt64) -> UInt64 {
    var z = value &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}
