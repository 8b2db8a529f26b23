// The `cluster { }` subsection of `vipsec { }`: with it, `vipsec routing` hands every
// negotiated CHILD_SA to the cluster's target hosts instead of this host's kernel.
//
//     vipsec {
//         cluster {
//             listen = 10.0.0.1:4501      # the cluster channel (TLS 1.3)
//             ca = /etc/vipsec/ca.crt     # the cluster CA, this node's certificate and key
//             cert = /etc/vipsec/router.crt
//             key = /etc/vipsec/router.key
//             node_id = router            # the name in the certificate [router]
//             dvipa = 192.0.2.100         # the address the peers negotiate with
//             status_socket = /run/vipsec/status.sock
//             install_timeout = 2s        # a target's time to acknowledge an install
//             heartbeat = 0.5s
//             member_timeout = 3s         # a target not heard from this long is dropped
//             sequence_mode = per-target  # or shared
//             block_size = 16             # shared: packets per sequence block
//             replay_window = 4096        # shared: the peer's anti-replay window (packets)
//             lifesize_report_percent = 5 # first report step, % of the byte limit
//             inbound { ... }             # ESP distribution: InboundSettings.swift
//             ha { ... }                  # several routing nodes, elected through etcd: HASettings.swift
//         }
//     }
// Plain values only: the IKE daemon does not depend on the cluster modules; `vipsec routing`
// turns these into the cluster service's configuration.

/// `vipsec { cluster { ... } }`.
public struct ClusterSettings: Sendable, Equatable {
    public enum SequenceMode: String, Sendable, Equatable {
        case perTarget = "per-target"
        case shared
    }
    public var listenHost: String
    public var listenPort: Int
    public var caPath: String
    public var certificatePath: String
    public var keyPath: String
    public var nodeID: String
    public var dvipa: String
    public var statusSocket: String?
    /// Seconds.
    public var installTimeout: Double
    public var heartbeatInterval: Double
    public var memberTimeout: Double
    public var sequenceMode: SequenceMode
    public var blockSize: UInt64
    public var replayWindow: UInt64
    public var lifesizeReportPercent: Double
    /// `inbound { }`: classify ESP to the DVIPA and forward it to the targets (nil: off).
    public var inbound: InboundSettings?
    /// `ha { }`: one of several routing nodes, elected through etcd (nil: the only one).
    public var ha: HASettings?

    init(reading reader: inout SectionReader) throws {
        guard let listenEntry = reader.entry("listen") else { throw reader.error(missing: "listen") }
        guard let colon = listenEntry.value.lastIndex(of: ":"),
              let port = Int(listenEntry.value[listenEntry.value.index(after: colon)...]), (1...65535).contains(port),
              IPPrefix.parseAddress(String(listenEntry.value[..<colon])) != nil else {
            throw reader.error(listenEntry, "'\(listenEntry.value)' is not ADDRESS:PORT")
        }
        listenHost = String(listenEntry.value[..<colon])
        listenPort = port
        caPath = try reader.requiredString("ca")
        certificatePath = try reader.requiredString("cert")
        keyPath = try reader.requiredString("key")
        nodeID = reader.string("node_id") ?? "router"
        guard let dvipaEntry = reader.entry("dvipa") else { throw reader.error(missing: "dvipa") }
        guard IPPrefix.parseAddress(dvipaEntry.value) != nil else {
            throw reader.error(dvipaEntry, "'\(dvipaEntry.value)' is not an IP address")
        }
        dvipa = dvipaEntry.value
        statusSocket = reader.string("status_socket")
        installTimeout = try reader.duration("install_timeout", default: 2)
        heartbeatInterval = try reader.duration("heartbeat", default: 0.5)
        memberTimeout = try reader.duration("member_timeout", default: 3)
        if let entry = reader.section.entry("member_timeout"), memberTimeout <= heartbeatInterval {
            throw reader.error(entry, "must be longer than heartbeat (\(heartbeatInterval)s)")
        }
        sequenceMode = try reader.choice("sequence_mode", default: .perTarget,
                                         ["per-target": .perTarget, "shared": .shared])
        blockSize = try reader.count("block_size", default: 16)
        replayWindow = try reader.count("replay_window", default: 32)
        if sequenceMode == .shared, blockSize == 0 || blockSize * 2 > replayWindow,
           let entry = reader.section.entry("block_size") ?? reader.section.entry("replay_window") ?? reader.section.entry("sequence_mode") {
            throw reader.error(entry, "shared mode needs 0 < block_size <= replay_window / 2 (\(blockSize), \(replayWindow))")
        }
        lifesizeReportPercent = Double(try reader.integer("lifesize_report_percent", default: 5, range: 1...20))
        if var inboundReader = reader.subsection("inbound") {
            inbound = try InboundSettings(reading: &inboundReader, listenHost: listenHost, dvipa: dvipa)
        }
        if var haReader = reader.subsection("ha") {
            ha = try HASettings(reading: &haReader)
        }
        try reader.rejectUnknown()
    }
}
