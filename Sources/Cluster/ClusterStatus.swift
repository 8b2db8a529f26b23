/// A snapshot of the routing node's cluster state for `vipsec status` (table or `--json`).
/// Never carries key material: SAs appear by id, SPI and parameters only.
public struct ClusterStatus: Codable, Equatable, Sendable {
    public struct MemberStatus: Codable, Equatable, Sendable {
        public var nodeID: String
        public var clusterAddress: String
        public var incarnation: UInt64
        public var capabilities: UInt32
        public var maximumReplayWindow: UInt32
        /// Milliseconds since the member was last heard from.
        public var silentForMilliseconds: UInt64
    }

    public struct LifesizeStatus: Codable, Equatable, Sendable {
        public var byteLimit: UInt64
        public var reportStep: UInt64
        public var reportedBytes: UInt64
        public var reportedPackets: UInt64
        public var reporters: Int
        public var rekeyRequested: Bool
    }

    public struct SequenceStatus: Codable, Equatable, Sendable {
        public var blockSize: UInt64
        public var peerReplayWindow: UInt64
        public var highWaterMark: UInt64
        /// Blocks held per target, as "first...last".
        public var blocks: [String: [String]]
    }

    public struct SAStatus: Codable, Equatable, Sendable {
        public var saID: UInt64
        /// The SPI in hex, as `ip xfrm state` prints it (0x...).
        public var spi: String
        public var direction: String
        public var reqid: UInt32
        public var generation: UInt32
        public var sequencing: String
        public var holders: [String]
        public var pending: [String]
        public var refused: [String: String]
        public var lifesize: LifesizeStatus?
        public var sequence: SequenceStatus?
    }

    public struct CounterStatus: Codable, Equatable, Sendable {
        public var fromNonMembers: Int
        public var unexpected: Int
        public var unknownSA: Int
    }

    public var epoch: String
    /// N, the lifesize reporting percentage for new SAs.
    public var reportingPercent: Double
    public var members: [MemberStatus]
    public var sas: [SAStatus]
    public var heldResponses: [UInt64]
    public var dropped: CounterStatus
}

extension SAAuthority {
    /// The current state, for status output.
    public func status(now: ClusterInstant) -> ClusterStatus {
        let members = membership.liveMembers.compactMap { membership.members[$0] }.map { member in
            ClusterStatus.MemberStatus(
                nodeID: member.nodeID.name, clusterAddress: member.clusterAddress.description, incarnation: member.incarnation,
                capabilities: member.capabilities.rawValue, maximumReplayWindow: member.maximumReplayWindow,
                silentForMilliseconds: now > member.lastHeard ? (now.nanoseconds - member.lastHeard.nanoseconds) / 1_000_000 : 0)
        }
        let sas = distributions.keys.sorted().compactMap { saID -> ClusterStatus.SAStatus? in
            guard let distribution = distributions[saID] else { return nil }
            let sa = distribution.sa
            let lifesize = self.lifesize.totals(of: saID).map {
                ClusterStatus.LifesizeStatus(byteLimit: $0.byteLimit, reportStep: $0.reportStep, reportedBytes: $0.reportedBytes,
                                             reportedPackets: $0.reportedPackets, reporters: $0.reporters,
                                             rekeyRequested: $0.rekeyRequested)
            }
            let sequence = allocators[saID].map { allocator in
                ClusterStatus.SequenceStatus(
                    blockSize: allocator.configuration.blockSize, peerReplayWindow: allocator.configuration.peerReplayWindow,
                    highWaterMark: allocator.highWaterMark,
                    blocks: Dictionary(uniqueKeysWithValues: allocator.outstanding.map { ($0.key.name, $0.value.map(\.description)) }))
            }
            return ClusterStatus.SAStatus(
                saID: saID.rawValue, spi: "0x" + String(sa.spi, radix: 16), direction: sa.direction.description,
                reqid: sa.reqid, generation: sa.generation, sequencing: sa.sequencing.description,
                holders: distribution.installed.map(\.name).sorted(), pending: distribution.pending.keys.map(\.name).sorted(),
                refused: Dictionary(uniqueKeysWithValues: distribution.refused.map { ($0.key.name, $0.value.description) }),
                lifesize: lifesize, sequence: sequence)
        }
        return ClusterStatus(epoch: String(membership.epoch.rawValue, radix: 16), reportingPercent: lifesize.percent,
                             members: members, sas: sas, heldResponses: heldResponses.map(\.rawValue),
                             dropped: .init(fromNonMembers: counters.fromNonMembers, unexpected: counters.unexpected,
                                            unknownSA: counters.unknownSA))
    }
}
