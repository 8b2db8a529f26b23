/// A snapshot of the routing node's cluster state, the part of `vipsec status` (table or
/// `--json`) that the SA authority knows. Never carries key material: SAs appear by id,
/// SPI and parameters only.
///
/// The node's status (`NodeStatus` in ClusterNode) shows `sas` as they are; the JSON keys
/// of `SAStatus` are the ones the lab scenarios read with jq (`id`, `sequenceBlocks`, ...),
/// see the `CodingKeys` below.
public struct ClusterStatus: Codable, Equatable, Sendable {
    public struct MemberStatus: Codable, Equatable, Sendable {
        public var nodeID: String
        public var clusterAddress: String
        public var incarnation: UInt64
        public var capabilities: UInt32
        public var maximumReplayWindow: UInt32
        /// Milliseconds since the member was last heard from.
        public var silentForMilliseconds: UInt64
        /// Not heard from for more than two heartbeat intervals.
        public var silent: Bool
        /// Milliseconds since the member joined.
        public var memberForMilliseconds: UInt64
    }

    /// The summed lifesize of one SA.
    public struct LifesizeStatus: Codable, Equatable, Sendable {
        public var byteLimit: UInt64
        public var reportStep: UInt64
        public var reportedBytes: UInt64
        public var reportedPackets: UInt64
        public var reporters: Int
        public var rekeyRequested: Bool
    }

    /// A shared outbound SA's sequence blocks.
    public struct SequenceStatus: Codable, Equatable, Sendable {
        public var blockSize: UInt64
        public var highWaterMark: UInt64
        /// Blocks held per target, as "first...last".
        public var blocks: [String: [String]]
    }

    /// One SA as the authority distributes it.
    public struct SAStatus: Codable, Equatable, Sendable {
        public var saID: UInt64
        /// "0x" and eight hex digits, as `ip xfrm state` prints it.
        public var spi: String
        public var direction: String
        public var source: String
        public var destination: String
        public var mode: String
        public var reqid: UInt32
        public var generation: UInt32
        public var sequencing: String
        /// Targets that acknowledged the install.
        public var holders: [String]
        /// Targets that have not answered yet.
        public var pending: [String]
        /// Targets that refused, with the reason.
        public var refused: [String: String]
        public var lifesize: LifesizeStatus?
        public var sequence: SequenceStatus?
        /// Inbound SAs: the highest sequence number a holder's kernel authenticated (claim 22).
        public var inboundHighWater: UInt64?
    }

    /// Messages the authority ignored.
    public struct CounterStatus: Codable, Equatable, Sendable {
        public var fromNonMembers: Int
        public var unexpected: Int
        public var unknownSA: Int
    }

    /// What the targets reported about their kernels' state: replay evidence, and the
    /// connections they hold (sent after the resync that follows each Welcome).
    public struct ReportStatus: Codable, Equatable, Sendable {
        /// Replay reports taken, and of those with a top below the SA's high-water mark (kept).
        public var replayReports: Int
        public var replayBelowHighWater: Int
        /// FlowReports received; connections handed to the distributor; connections dropped
        /// because their SA was unknown, not inbound or not held by the reporting target.
        public var flowReports: Int
        public var flowsReported: Int
        public var flowsUnknownSA: Int
    }

    /// The epoch, hex.
    public var epoch: String
    /// N, the lifesize reporting percentage for new SAs.
    public var reportingPercent: Double
    public var members: [MemberStatus]
    public var sas: [SAStatus]
    public var heldResponses: [UInt64]
    public var dropped: CounterStatus
    public var reports: ReportStatus
}

// The JSON names `vipsec status --json` prints (the lab scenarios read them with jq).
extension ClusterStatus.SAStatus {
    enum CodingKeys: String, CodingKey {
        case saID = "id"
        case spi, direction, source, destination, mode, reqid, generation, sequencing, holders, pending, refused, lifesize
        case sequence = "sequenceBlocks"
        case inboundHighWater
    }
}

extension ClusterStatus.SequenceStatus {
    enum CodingKeys: String, CodingKey {
        case blockSize, highWaterMark
        case blocks = "outstanding"
    }
}

extension SAAuthority {
    /// The current state, for status output.
    /// `includingSAs: false` leaves `sas` empty: the status socket lists the SAs a chunk at a
    /// time with `statusSAIDs()` and `saStatus(of:)` instead (StatusStream.swift).
    public func status(now: ClusterInstant, includingSAs: Bool = true) -> ClusterStatus {
        let heartbeat = membership.configuration.heartbeatInterval
        let members = membership.liveMembers.compactMap { membership.members[$0] }.map { member in
            ClusterStatus.MemberStatus(
                nodeID: member.nodeID.name, clusterAddress: member.clusterAddress.description, incarnation: member.incarnation,
                capabilities: member.capabilities.rawValue, maximumReplayWindow: member.maximumReplayWindow,
                silentForMilliseconds: now.milliseconds(since: member.lastHeard),
                silent: now - member.lastHeard > heartbeat * 2,
                memberForMilliseconds: now.milliseconds(since: member.joinedAt))
        }
        let sas = includingSAs ? statusSAIDs().compactMap { saStatus(of: $0) } : []
        return ClusterStatus(epoch: String(membership.epoch.rawValue, radix: 16), reportingPercent: lifesize.percent,
                             members: members, sas: sas, heldResponses: heldResponses.map(\.rawValue),
                             dropped: .init(fromNonMembers: counters.fromNonMembers, unexpected: counters.unexpected,
                                            unknownSA: counters.unknownSA),
                             reports: .init(replayReports: counters.replayReports, replayBelowHighWater: counters.replayBelowHighWater,
                                            flowReports: counters.flowReports, flowsReported: counters.flowsReported,
                                            flowsUnknownSA: counters.flowsUnknownSA))
    }

    /// The ids of the SAs the status lists, in order.
    public func statusSAIDs() -> [ClusterSAID] {
        distributions.keys.sorted()
    }

    /// One SA as the status lists it; nil when the authority no longer holds it.
    public func saStatus(of saID: ClusterSAID) -> ClusterStatus.SAStatus? {
        guard let distribution = distributions[saID] else { return nil }
        let sa = distribution.sa
        let lifesize = self.lifesize.totals(of: saID).map {
            ClusterStatus.LifesizeStatus(byteLimit: $0.byteLimit, reportStep: $0.reportStep, reportedBytes: $0.reportedBytes,
                                         reportedPackets: $0.reportedPackets, reporters: $0.reporters,
                                         rekeyRequested: $0.rekeyRequested)
        }
        let sequence = allocators[saID].map { allocator in
            ClusterStatus.SequenceStatus(
                blockSize: allocator.configuration.blockSize, highWaterMark: allocator.highWaterMark,
                blocks: Dictionary(uniqueKeysWithValues: allocator.outstanding.map { ($0.key.name, $0.value.map(\.description)) }))
        }
        return ClusterStatus.SAStatus(
            saID: saID.rawValue, spi: sa.spiText, direction: sa.direction.description,
            source: sa.source.description, destination: sa.destination.description, mode: sa.mode.description,
            reqid: sa.reqid, generation: sa.generation, sequencing: sa.sequencing.description,
            holders: distribution.installed.map(\.name).sorted(), pending: distribution.pending.keys.map(\.name).sorted(),
            refused: Dictionary(uniqueKeysWithValues: distribution.refused.map { ($0.key.name, $0.value.description) }),
            lifesize: lifesize, sequence: sequence,
            inboundHighWater: sa.direction == .inbound ? distribution.inboundHighWater : nil)
    }
}

extension SADescription {
    /// The SPI as `ip xfrm state` prints it: "0x0000c0de".
    public var spiText: String { Self.spiText(spi) }

    public static func spiText(_ spi: UInt32) -> String {
        let hex = String(spi, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - hex.count)) + hex
    }
}

extension ClusterInstant {
    /// Whole milliseconds from `earlier` to this instant (0 if `earlier` is later).
    func milliseconds(since earlier: ClusterInstant) -> UInt64 {
        self > earlier ? (nanoseconds - earlier.nanoseconds) / 1_000_000 : 0
    }
}
