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

    /// The most queues (worker threads) one `queue = A-B` may bind.
    public static let maximumQueues = 64

    public init(mode: Mode = .direct, queues: ClosedRange<UInt16> = 0...0, maximumFlows: Int = 1_000_000,
                verify: Verify = .never) {
        self.mode = mode
        self.queues = queues
        self.maximumFlows = maximumFlows
        self.verify = verify
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
