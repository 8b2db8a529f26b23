// The classifier's settings and its view of the targets.

import Cluster

/// Settings of one classifier (one per NFQUEUE queue / thread).
public struct InboundConfiguration: Sendable {
    /// Global cap on connection-table entries (claim 10 anti-pollution, memory bound).
    public var maximumFlows = 1_000_000
    public var timeouts = FlowTimeouts()
    public var fragmentCapacity = 8192
    public var fragmentLifetime: Duration = .seconds(30)
    /// Maglev table size M (prime, > 100 × targets).
    public var maglevSize = MaglevTable.defaultSize
    /// Plaintext octets peeked first (4 AES blocks, one ChaCha20 block): inner IPv4/IPv6 +
    /// TCP/UDP without options.
    public var initialPeek = 64
    /// The most plaintext octets a decision may peek (IPv6 extension headers, ICMP errors).
    public var maximumPeek = 256
    /// Tunnel mode: also peek the trailer when the copy holds it (next header must be 4 or
    /// 41 matching the inner version, 59 is a dummy). Transport mode always peeks it.
    public var checksTrailerInTunnelMode = true
    /// Check that the ESP padding octets seen are 1, 2, 3, ... (RFC 4303 §2.4 default
    /// padding, which RFC 4106, 3602 and 7634 SAs use).
    public var checksPadding = true
    /// Flow-table slots swept per classified packet (the shell's `tick` sweeps more).
    public var sweepBudgetPerPacket = 4
    /// Full ICV verification at the routing node (`ICVVerification.swift`).
    public var verification = ICVVerification.never
    /// `underAttack`: when an SA's verification goes off again.
    public var attackRule = AttackRule()
    /// Keys the flow table's slot hash (use a random value).
    public var tableSeed: UInt64 = 0x7461_626C_65

    public init() {}
}

/// A cluster member that can receive forwarded ESP.
public struct InboundTarget: Sendable, Hashable {
    public var id: NodeID
    /// fwmark for direct mode (policy routing to the target's cluster address).
    public var directMark: UInt32
    /// fwmark for encapsulated mode (policy routing into the target's GRE device).
    public var encapsulatedMark: UInt32
    /// Maglev weight ≥ 1.
    public var weight: Int
    /// Alive (heartbeats) and healthy: only healthy targets get new flows.
    public var healthy: Bool

    public init(id: NodeID, directMark: UInt32, encapsulatedMark: UInt32, weight: Int = 1, healthy: Bool = true) {
        self.id = id
        self.directMark = directMark
        self.encapsulatedMark = encapsulatedMark
        self.weight = weight
        self.healthy = healthy
    }
}

/// Errors of the target registry.
public enum InboundTargetError: Error, Equatable {
    case tooManyTargets
    case unknownTarget(NodeID)
}

/// Where new flows go for one candidate set: a Maglev table and its members.
struct Placement {
    var table: MaglevTable
    /// Maglev backend index → target index.
    var members: [UInt16]

    @inline(__always) func target(for hash: UInt64) -> UInt16 { members[Int(table.lookup(hash))] }
}

/// The SA table's key: (outer destination, SPI), as XFRM looks states up.
struct SAKey: Hashable {
    var destination: InboundAddress
    var spi: UInt32

    func hash(into hasher: inout Hasher) {
        hasher.combine(spi)
        hasher.combine(destination.low)
    }
}

/// One SA's state in the classifier.
struct SAEntry {
    var sa: InboundSA
    var peeker: ESPPeekDecryptor
    var replay: ReplayWindow
    var bucket: TokenBucket
    /// Registered targets among the SA's holders.
    var holderSet = TargetSet()
    /// The placement last used by this SA, valid while `placementGeneration` is current.
    var placement: Placement?
    var placementCandidates = TargetSet()
    var placementGeneration = -1
    /// The ICV verifier (nil: `verify = never`).
    var verifier: ESPICVVerifier?
    /// `under-attack`: verification on for this SA until then (nanoseconds, 0: off).
    var verifyUntil: UInt64 = 0
}
