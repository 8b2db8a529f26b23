// The `inbound { }` subsection of `vipsec { cluster { } }`: with it, `vipsec routing`
// intercepts ESP to the DVIPA (nft → NFQUEUE), classifies each packet in user space and
// lets the kernel forward it, still encrypted, to the target that owns the connection.
//
//     vipsec {
//         cluster {
//             ...
//             inbound {
//                 mode = direct          # or encapsulated (GRE to the targets, tunnel check)
//                 queue = 0              # the NFQUEUE number (one worker thread)
//                 max_flows = 1000000    # connection-table capacity (counts: 64k = 65536)
//             }
//         }
//     }
//
// Without `inbound { }` nothing changes: ESP to the DVIPA stays with this host's kernel.
//
// `direct` (claim 6): the still-encrypted packet goes unchanged to the target's cluster
// address. `encapsulated` (claims 7-8): the tunnel check first (inner addresses outside the
// SA's traffic selectors are dropped), then GRE from this node's cluster address (`listen`)
// to the target, which decapsulates GRE from that address only. Encapsulated mode is IPv4
// only for now: an IPv6 DVIPA or an IPv6 / wildcard `listen` address is refused.

/// `vipsec { cluster { inbound { ... } } }`.
public struct InboundSettings: Sendable, Equatable {
    public enum Mode: String, Sendable, Equatable {
        case direct
        case encapsulated
    }
    public var mode: Mode
    public var queue: UInt16
    public var maximumFlows: Int

    public init(mode: Mode = .direct, queue: UInt16 = 0, maximumFlows: Int = 1_000_000) {
        self.mode = mode
        self.queue = queue
        self.maximumFlows = maximumFlows
    }

    /// `listenHost` and `dvipa`: the cluster section's values (encapsulated mode needs both IPv4,
    /// and `listen` a host address: it is the GRE source the targets accept).
    init(reading reader: inout SectionReader, listenHost: String, dvipa: String) throws {
        mode = try reader.choice("mode", default: .direct, ["direct": .direct, "encapsulated": .encapsulated])
        if mode == .encapsulated, let entry = reader.section.entry("mode") {
            if let refusal = Self.encapsulationRefusal(listenHost: listenHost, dvipa: dvipa) {
                throw reader.error(entry, refusal)
            }
        }
        queue = UInt16(try reader.integer("queue", default: 0, range: 0...65535))
        let flows = try reader.count("max_flows", default: 1_000_000)
        if let entry = reader.section.entry("max_flows"), !(1024...64_000_000).contains(flows) {
            throw reader.error(entry, "'\(entry.value)' is outside 1024...64000000")
        }
        maximumFlows = Int(flows)
        try reader.rejectUnknown()
    }

    /// Why encapsulated mode cannot run with these cluster addresses (nil: it can).
    static func encapsulationRefusal(listenHost: String, dvipa: String) -> String? {
        if dvipa.contains(":") {
            return "'encapsulated' is IPv4 only for now (dvipa \(dvipa) is IPv6: the ip6gre path is not built); use direct"
        }
        if listenHost.contains(":") {
            return "'encapsulated' needs an IPv4 cluster address in vipsec.cluster.listen (\(listenHost) is IPv6: GRE over IPv6 is not built)"
        }
        if listenHost == "0.0.0.0" {
            return "'encapsulated' needs vipsec.cluster.listen on this node's cluster address, not 0.0.0.0 (it is the GRE source the targets accept)"
        }
        return nil
    }
}
