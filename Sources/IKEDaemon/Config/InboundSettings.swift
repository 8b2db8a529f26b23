// The `inbound { }` subsection of `vipsec { cluster { } }`: with it, `vipsec routing`
// intercepts ESP to the DVIPA (nft → NFQUEUE), classifies each packet in user space and
// lets the kernel forward it, still encrypted, to the target that owns the connection.
//
//     vipsec {
//         cluster {
//             ...
//             inbound {
//                 mode = direct          # or encapsulated (GRE to the targets, tunnel check)
//                 queue = 0              # the NFQUEUE number, or a range: queue = 0-3
//                 max_flows = 1000000    # connection-table capacity (counts: 64k = 65536)
//                 verify = never         # ICV verification here: never, always, under-attack
//                 gre_source = fd00:c::1 # encapsulated only: the GRE source (default: listen's address)
//             }
//         }
//     }
//
// `queue` is written as nft writes `queue num`: one number, or a range `A-B` (A < B, at most
// 64 queues). A range binds one NFQUEUE socket and one worker thread per queue, and the nft
// rules spread packets over them with `queue num A-B fanout` (by the CPU the packet arrives
// on); the workers share one classifier (connection table, replay windows) under a lock.
//
// `verify` (claim 9): `never` (the default) peeks only and moves the replay window on the
// targets' kernels' evidence alone; `always` verifies every packet's ICV with OpenSSL before
// it can move anything or be forwarded (wrong ICV: dropped as `icv`; a verified packet
// moves the window itself); `under-attack` does so per SA from the first sign of forged ESP
// on it until 60 s pass without one (Sources/Inbound/ICVVerification.swift). The one key of
// `vipsec { }` a reload changes live (ReloadPlan.inboundVerify).
//
// Without `inbound { }` nothing changes: ESP to the DVIPA stays with this host's kernel.
//
// `direct` (claim 6): the still-encrypted packet goes unchanged to the target's cluster
// address. `encapsulated` (claims 7-8): the tunnel check first (inner addresses outside the
// SA's traffic selectors are dropped), then GRE from this node's cluster address (`gre_source`,
// default `listen`'s) to the target, which decapsulates GRE from that address only. The GRE
// source must be of the DVIPA's family: an IPv4 DVIPA's ESP goes in GRE (kind gre) between
// IPv4 cluster addresses, an IPv6 DVIPA's in ip6gre between IPv6 ones (the cluster channel
// may stay on IPv4: `listen = 10.0.0.1:4501` with `gre_source = fd00:c::1`). Mixed families
// (IPv6 ESP in IPv4 GRE, IPv4 ESP in ip6gre) are refused: the kernel can carry them, but
// the lab proves only the two same-family paths. A wildcard source (0.0.0.0, ::) is refused.

/// `vipsec { cluster { inbound { ... } } }`.
public struct InboundSettings: Sendable, Equatable {
    public enum Mode: String, Sendable, Equatable {
        case direct
        case encapsulated
    }
    public var mode: Mode
    /// The NFQUEUE numbers: `queue = 3` is 3...3, `queue = 0-3` is 0...3 (one worker each).
    public var queues: ClosedRange<UInt16>
    public var maximumFlows: Int
    /// `verify = never | always | under-attack`.
    public var verify: Verify

    /// ICV verification at the routing node (the names are `ICVVerification`'s in Inbound).
    public enum Verify: String, Sendable, Equatable {
        case never
        case always
        case underAttack = "under-attack"
    }
    /// Encapsulated mode: the GRE source, this node's cluster address (`gre_source`, or
    /// `listen`'s address); nil in direct mode.
    public var greSource: String?

    /// The most queues (worker threads) one `queue = A-B` may bind.
    public static let maximumQueues = 64

    public init(mode: Mode = .direct, queues: ClosedRange<UInt16> = 0...0, maximumFlows: Int = 1_000_000,
                verify: Verify = .never, greSource: String? = nil) {
        self.mode = mode
        self.queues = queues
        self.maximumFlows = maximumFlows
        self.verify = verify
        self.greSource = greSource
    }

    /// `listenHost` and `dvipa`: the cluster section's values (encapsulated mode's GRE source,
    /// `gre_source` or else `listen`'s address, must be a host address of the DVIPA's family).
    init(reading reader: inout SectionReader, listenHost: String, dvipa: String) throws {
        mode = try reader.choice("mode", default: .direct, ["direct": .direct, "encapsulated": .encapsulated])
        let sourceEntry = reader.entry("gre_source")
        if let sourceEntry, mode != .encapsulated {
            throw reader.error(sourceEntry, "is only used with mode = encapsulated (direct mode sends no GRE)")
        }
        if mode == .encapsulated, let modeEntry = reader.section.entry("mode") {
            let source = sourceEntry?.value ?? listenHost
            if let refusal = Self.encapsulationRefusal(source: source, fromListen: sourceEntry == nil, dvipa: dvipa) {
                throw reader.error(sourceEntry ?? modeEntry, refusal)
            }
            greSource = source
        }
        if let entry = reader.entry("queue") {
            switch Self.queues(entry.value) {
            case .success(let range): queues = range
            case .failure(let refusal): throw reader.error(entry, refusal.message)
            }
        } else {
            queues = 0...0
        }
        let flows = try reader.count("max_flows", default: 1_000_000)
        if let entry = reader.section.entry("max_flows"), !(1024...64_000_000).contains(flows) {
            throw reader.error(entry, "'\(entry.value)' is outside 1024...64000000")
        }
        maximumFlows = Int(flows)
        verify = try reader.choice("verify", default: .never,
                                   ["never": .never, "always": .always, "under-attack": .underAttack])
        try reader.rejectUnknown()
    }

    struct QueueRefusal: Error { var message: String }

    /// `N` or `A-B` as nft's `queue num` takes them: numbers 0...65535, A < B, at most
    /// `maximumQueues` queues.
    static func queues(_ text: String) -> Result<ClosedRange<UInt16>, QueueRefusal> {
        let usage = "'\(text)' is not a queue number in 0...65535 or a range A-B like 0-3"
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        let numbers = parts.compactMap { part in part.allSatisfy { ("0"..."9").contains($0) } ? UInt16(String(part)) : nil }
        guard (1...2).contains(parts.count), numbers.count == parts.count else { return .failure(QueueRefusal(message: usage)) }
        guard numbers.count == 2 else { return .success(numbers[0]...numbers[0]) }
        guard numbers[0] < numbers[1] else {
            return .failure(QueueRefusal(message: "'\(text)': the range's first queue must be below its last (write one number for one queue)"))
        }
        let count = Int(numbers[1]) - Int(numbers[0]) + 1
        guard count <= maximumQueues else {
            return .failure(QueueRefusal(message: "'\(text)' is \(count) queues: at most \(maximumQueues) (one worker thread each)"))
        }
        return .success(numbers[0]...numbers[1])
    }

    /// Why encapsulated mode cannot send GRE from `source` (nil: it can). `fromListen`: the
    /// source is `listen`'s address (no `gre_source`).
    static func encapsulationRefusal(source: String, fromListen: Bool, dvipa: String) -> String? {
        let named = fromListen ? "vipsec.cluster.listen's address \(source)" : "'\(source)'"
        guard let bytes = IPPrefix.parseAddress(source) else { return "\(named) is not an IP address" }
        if bytes.allSatisfy({ $0 == 0 }) {
            return "\(named) is a wildcard: the GRE source must be this node's cluster address (the targets accept GRE from it only)"
                + (fromListen ? "; set gre_source" : "")
        }
        let sourceIPv6 = bytes.count == 16, dvipaIPv6 = dvipa.contains(":")
        guard sourceIPv6 == dvipaIPv6 else {
            let family = dvipaIPv6 ? "IPv6" : "IPv4"
            return "the GRE source \(named) is \(sourceIPv6 ? "IPv6" : "IPv4") but dvipa \(dvipa) is \(family): "
                + "encapsulated mode sends \(family) ESP in \(dvipaIPv6 ? "ip6gre" : "gre") between \(family) cluster addresses only"
                + (fromListen ? "; set gre_source to this node's \(family) cluster address" : "")
        }
        return nil
    }
}
