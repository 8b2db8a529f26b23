// The `inbound { }` subsection of `vipsec { cluster { } }`: with it, `vipsec routing`
// intercepts ESP to the DVIPA (nft → NFQUEUE), classifies each packet in user space and
// lets the kernel forward it, still encrypted, to the target that owns the connection.
//
//     vipsec {
//         cluster {
//             ...
//             inbound {
//                 mode = direct          # only direct for now (claim 6)
//                 queue = 0              # the NFQUEUE number (one worker thread)
//                 max_flows = 1000000    # connection-table capacity (counts: 64k = 65536)
//             }
//         }
//     }
//
// Without `inbound { }` nothing changes: ESP to the DVIPA stays with this host's kernel.

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

    init(reading reader: inout SectionReader) throws {
        mode = try reader.choice("mode", default: .direct, ["direct": .direct, "encapsulated": .encapsulated])
        if mode == .encapsulated, let entry = reader.section.entry("mode") {
            throw reader.error(entry, "'encapsulated' is not supported yet (the GRE path to the targets is not wired); use direct")
        }
        queue = UInt16(try reader.integer("queue", default: 0, range: 0...65535))
        let flows = try reader.count("max_flows", default: 1_000_000)
        if let entry = reader.section.entry("max_flows"), !(1024...64_000_000).contains(flows) {
            throw reader.error(entry, "'\(entry.value)' is outside 1024...64000000")
        }
        maximumFlows = Int(flows)
        try reader.rejectUnknown()
    }
}
