// What the classifier decides for one packet, and the counters of those decisions.

/// Why a packet goes to the routing node's own stack instead of a target.
public enum LocalReason: UInt8, CaseIterable, Sendable, CustomStringConvertible {
    /// UDP 4500 with the zero non-ESP marker (RFC 3948 §2.2): IKE.
    case ike
    /// The one-octet 0xFF NAT keepalive (RFC 3948 §2.3).
    case natKeepalive
    /// Neither ESP nor ESP-in-UDP on 4500 (the nft rule should not have queued it).
    case notESP

    public var description: String {
        switch self {
        case .ike: return "ike"
        case .natKeepalive: return "nat-keepalive"
        case .notESP: return "not-esp"
        }
    }
}

/// Why a packet is dropped at the routing node. Every drop is counted under one of these.
public enum DropReason: UInt8, CaseIterable, Sendable, Error, CustomStringConvertible {
    /// The packet ends before the bytes a decision needs (outer headers, ESP header, IV, peek).
    case tooShort
    /// The outer IP header is inconsistent (version, IHL, lengths, CBC length not a block multiple).
    case malformedOuter
    /// An outer fragment: nf_defrag should have reassembled it before the queue.
    case outerFragment
    /// No inbound SA for (outer destination, SPI).
    case noSA
    /// The sequence number's bit is set in the authenticated window (claim 9).
    case replay
    /// The sequence number lies left of the authenticated window (claim 9).
    case tooOld
    /// Encapsulated mode: an inner address outside the SA's traffic selectors (claim 8).
    case tunnelCheck
    /// The peeked plaintext is not a plausible inner packet (forged ESP decrypts to garbage).
    case malformedInner
    /// Next header 59: a TFC dummy packet (RFC 4303 §2.7).
    case dummy
    /// An inner non-first fragment whose first fragment was never seen.
    case fragmentUnknown
    /// No healthy target holds the SA.
    case noHealthyTarget
    /// The connection table is at its global cap.
    case tableFull
    /// The SA's lineage exceeded its budget of new connections per second.
    case rateLimited
    /// The peek decryption failed (cipher error).
    case peekFailed
    /// Verification on (`verify`): the ICV is wrong (forged or damaged), or the copy lacks
    /// the whole packet.
    case icv

    public var description: String {
        switch self {
        case .tooShort: return "too-short"
        case .malformedOuter: return "malformed-outer"
        case .outerFragment: return "outer-fragment"
        case .noSA: return "no-sa"
        case .replay: return "replay"
        case .tooOld: return "too-old"
        case .tunnelCheck: return "tunnel-check"
        case .malformedInner: return "malformed-inner"
        case .dummy: return "dummy"
        case .fragmentUnknown: return "fragment-unknown"
        case .noHealthyTarget: return "no-healthy-target"
        case .tableFull: return "table-full"
        case .rateLimited: return "rate-limited"
        case .peekFailed: return "peek-failed"
        case .icv: return "icv"
        }
    }
}

/// A target as the verdict needs it: its index in the classifier and its fwmark.
public struct TargetRef: Hashable, Sendable {
    /// The classifier's index for the target (`InboundClassifier.target(at:)` names it).
    public var index: UInt16
    /// The mark for the verdict (NFQA_MARK): direct or encapsulated per the SA's mode.
    public var mark: UInt32
}

/// The verdict for one packet.
public enum InboundDecision: Hashable, Sendable {
    /// Accept without a mark: the routing node's own stack (IKE daemon, keepalives).
    case local(LocalReason)
    /// Accept with the target's mark: the kernel forwards it, still encrypted.
    case forward(TargetRef)
    /// Drop.
    case drop(DropReason)
}

/// How forwarded packets were placed (for status).
public enum PlacementKind: UInt8, CaseIterable, Sendable, CustomStringConvertible {
    /// A connection-table entry existed.
    case entry
    /// A new entry was made (SYN, first UDP/ICMP packet).
    case created
    /// No entry and none made: the Maglev hash (TCP mid-flow, ICMP errors, selector
    /// mismatch in direct mode).
    case hashed
    /// An inner non-first fragment placed by the fragment table.
    case fragment

    public var description: String {
        switch self {
        case .entry: return "entry"
        case .created: return "created"
        case .hashed: return "hashed"
        case .fragment: return "fragment"
        }
    }
}

/// Counters of every decision: a small value, cheap to copy for status and SIGUSR1.
public struct InboundCounters: Hashable, Sendable, CustomStringConvertible {
    public private(set) var forwarded: UInt64 = 0
    public private(set) var local = [UInt64](repeating: 0, count: LocalReason.allCases.count)
    public private(set) var dropped = [UInt64](repeating: 0, count: DropReason.allCases.count)
    public private(set) var placements = [UInt64](repeating: 0, count: PlacementKind.allCases.count)
    /// Direct mode: packets whose inner addresses were outside the selectors, forwarded by
    /// hash without an entry (the target's kernel enforces its policy after decryption).
    public private(set) var selectorMismatchForwarded: UInt64 = 0
    /// Packets whose ICV the routing node verified (right ICV; wrong ones are `icv` drops).
    public private(set) var verified: UInt64 = 0
    /// Connection ends the targets reported, per result (`FlowEndResult`).
    public private(set) var flowEnds = [UInt64](repeating: 0, count: FlowEndResult.allCases.count)
    /// Connections the targets reported holding (after a Welcome), per result (`HeldFlowResult`).
    public private(set) var heldFlows = [UInt64](repeating: 0, count: HeldFlowResult.allCases.count)

    public init() {}

    public subscript(reason: DropReason) -> UInt64 { dropped[Int(reason.rawValue)] }
    public subscript(reason: LocalReason) -> UInt64 { local[Int(reason.rawValue)] }
    public subscript(kind: PlacementKind) -> UInt64 { placements[Int(kind.rawValue)] }
    public subscript(result: FlowEndResult) -> UInt64 { flowEnds[Int(result.rawValue)] }
    public subscript(result: HeldFlowResult) -> UInt64 { heldFlows[Int(result.rawValue)] }

    /// Every drop.
    public var droppedTotal: UInt64 { dropped.reduce(0, &+) }

    mutating func count(_ decision: InboundDecision) {
        switch decision {
        case .local(let reason): local[Int(reason.rawValue)] &+= 1
        case .forward: forwarded &+= 1
        case .drop(let reason): dropped[Int(reason.rawValue)] &+= 1
        }
    }

    mutating func count(_ kind: PlacementKind) { placements[Int(kind.rawValue)] &+= 1 }
    mutating func countSelectorMismatch() { selectorMismatchForwarded &+= 1 }
    mutating func countVerified() { verified &+= 1 }
    mutating func count(_ result: FlowEndResult) { flowEnds[Int(result.rawValue)] &+= 1 }
    mutating func count(_ result: HeldFlowResult) { heldFlows[Int(result.rawValue)] &+= 1 }

    public var description: String {
        var parts = ["forwarded=\(forwarded)"]
        for kind in PlacementKind.allCases where self[kind] > 0 { parts.append("placed-\(kind)=\(self[kind])") }
        if selectorMismatchForwarded > 0 { parts.append("selector-mismatch-forwarded=\(selectorMismatchForwarded)") }
        if verified > 0 { parts.append("verified=\(verified)") }
        for reason in LocalReason.allCases where self[reason] > 0 { parts.append("local-\(reason)=\(self[reason])") }
        for reason in DropReason.allCases where self[reason] > 0 { parts.append("drop-\(reason)=\(self[reason])") }
        for result in FlowEndResult.allCases where self[result] > 0 { parts.append("flow-end-\(result)=\(self[result])") }
        for result in HeldFlowResult.allCases where self[result] > 0 { parts.append("held-flow-\(result)=\(self[result])") }
        return parts.joined(separator: " ")
    }
}
