import Glibc

/// The routing node's interception rules: ESP and ESP-in-UDP to a DVIPA go to NFQUEUE.
///
/// Applied as nft text through `nft -f -` (one atomic transaction), not built as nf_tables
/// netlink: the nf_tables expression encoding (payload/cmp/lookup/queue registers and set
/// batches) is what `nft` itself compiles and checks, it changes with nft releases, and a
/// hand-built encoding would be the riskiest code here for no speed gain (it runs at start
/// and stop only). The text comes from this pure function, so it is unit-tested; every
/// address in it was parsed with inet_pton first, so no input reaches nft unvalidated.
public struct InboundRuleset: Equatable, Sendable {
    /// The nft table: `table inet vipsec`.
    public static let table = "vipsec"

    /// IPv4 DVIPAs (set dvipa4) and IPv6 DVIPAs (set dvipa6), as canonical text.
    public private(set) var dvipa4: [String]
    public private(set) var dvipa6: [String]
    /// Queue numbers A...B; with more than one, `fanout` sends each CPU's packets to queue A + cpu % count.
    public var queues: ClosedRange<UInt16>

    public enum RulesetError: Error, Equatable, CustomStringConvertible {
        case notAnAddress(String)
        case noDVIPA
        public var description: String {
            switch self {
            case .notAnAddress(let text): return "'\(text)' is not an IPv4 or IPv6 address"
            case .noDVIPA: return "no DVIPA to intercept"
            }
        }
    }

    /// Validates and sorts the DVIPAs by family. Throws for anything that is not an address.
    public init(dvipas: [String], queues: ClosedRange<UInt16>) throws {
        var four: [String] = [], six: [String] = []
        for text in dvipas {
            if let canonical = Self.canonical(text, family: AF_INET) {
                four.append(canonical)
            } else if let canonical = Self.canonical(text, family: AF_INET6) {
                six.append(canonical)
            } else {
                throw RulesetError.notAnAddress(text)
            }
        }
        guard !four.isEmpty || !six.isEmpty else { throw RulesetError.noDVIPA }
        dvipa4 = four
        dvipa6 = six
        self.queues = queues
    }

    /// `queue num 3` or `queue num 0-3 fanout`. Never `bypass`: with no listener the kernel
    /// drops (fail closed); bypass would accept, and local delivery would eat the ESP.
    /// `fanout` picks the queue by the CPU that processes the packet (`A + cpu % count`,
    /// net/netfilter/nft_queue.c), so the queues scale with the CPUs receiving the traffic,
    /// even from one peer; without it the kernel hashes (source, destination, protocol)
    /// only, and one peer's ESP would always land on a single queue.
    public var queueStatement: String { "queue num \(queueText)\(queues.count == 1 ? "" : " fanout")" }

    /// `3` or `0-3`, as nft and the configuration write it.
    public var queueText: String {
        queues.count == 1 ? "\(queues.lowerBound)" : "\(queues.lowerBound)-\(queues.upperBound)"
    }

    /// The whole script for `nft -f -`. The first two lines make it idempotent (create if
    /// missing, then delete) so the table is replaced in one transaction.
    ///
    /// Rules, in chain prerouting at priority mangle (-150: after defrag, before routing):
    /// - ESP (IP protocol 50) to a DVIPA → queue.
    /// - UDP to DVIPA:4500 of at least 8 payload bytes whose first 32 bits are non-zero
    ///   (RFC 3948: ESP, the SPI is never 0) → queue. A zero marker is IKE and the 1-byte
    ///   0xFF keepalive is too short: both go on to the local IKE socket.
    public func script() -> String {
        var lines = ["table inet \(Self.table)", "delete table inet \(Self.table)", "table inet \(Self.table) {"]
        if !dvipa4.isEmpty {
            lines.append("  set dvipa4 { type ipv4_addr; elements = { \(dvipa4.joined(separator: ", ")) } }")
        }
        if !dvipa6.isEmpty {
            lines.append("  set dvipa6 { type ipv6_addr; elements = { \(dvipa6.joined(separator: ", ")) } }")
        }
        lines.append("  counter queued_esp { }")
        lines.append("  counter queued_espinudp { }")
        lines.append("  chain prerouting {")
        lines.append("    type filter hook prerouting priority mangle; policy accept;")
        for (family, set) in [("ip", "dvipa4"), ("ip6", "dvipa6")] where set == "dvipa4" ? !dvipa4.isEmpty : !dvipa6.isEmpty {
            lines.append("    \(family) daddr @\(set) meta l4proto esp counter name queued_esp \(queueStatement)")
            lines.append("    \(family) daddr @\(set) udp dport 4500 udp length >= 16 @th,64,32 != 0 "
                + "counter name queued_espinudp \(queueStatement)")
        }
        lines.append("  }")
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The script that removes the table (`nft delete table inet vipsec`), idempotent too.
    public static func removalScript() -> String {
        "table inet \(table)\ndelete table inet \(table)\n"
    }

    /// inet_pton then inet_ntop: the canonical text, or nil.
    static func canonical(_ text: String, family: Int32) -> String? {
        var storage = in6_addr()
        guard inet_pton(family, text, &storage) == 1 else { return nil }
        var out = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(family, &storage, &out, socklen_t(out.count)) != nil else { return nil }
        return String(cString: out)
    }
}
