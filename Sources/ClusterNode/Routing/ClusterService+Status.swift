import Cluster
import NIOCore

extension ClusterService {
    /// The routing node's status now (members, SAs and who holds them, lifesize totals,
    /// sequence blocks, drops). Safe from any thread.
    public func status() -> EventLoopFuture<NodeStatus> {
        loop.submit { [self] in makeStatus() }
    }

    func makeStatus() -> NodeStatus {
        let now = Self.now()
        let membership = authority.membership
        let heartbeat = membership.configuration.heartbeatInterval
        let members = membership.liveMembers.compactMap { membership.members[$0] }.map { member in
            let silence = now - member.lastHeard
            return MemberStatus(node: member.nodeID.name, clusterAddress: member.clusterAddress.description,
                                incarnation: String(member.incarnation, radix: 16),
                                health: silence > heartbeat * 2 ? "silent" : "live",
                                lastHeardMillisecondsAgo: silence.milliseconds,
                                memberForSeconds: (now - member.joinedAt).milliseconds / 1000)
        }
        let sas = authority.currentSAs.map { sa -> DistributedSAStatus in
            let lifesize = authority.lifesize.totals(of: sa.saID).map {
                LifesizeStatus(byteLimit: $0.byteLimit, reportStep: $0.reportStep, reportedBytes: $0.reportedBytes,
                               reportedPackets: $0.reportedPackets, reporters: $0.reporters, rekeyRequested: $0.rekeyRequested)
            }
            let blocks = authority.sequenceAllocator(for: sa.saID).map { allocator in
                SequenceBlockStatus(blockSize: allocator.configuration.blockSize, highWaterMark: allocator.highWaterMark,
                                    outstanding: Dictionary(uniqueKeysWithValues: allocator.outstanding.map {
                                        ($0.key.name, $0.value.map(\.description))
                                    }))
            }
            return DistributedSAStatus(
                id: sa.saID.rawValue, spi: sa.spi.spiText, direction: sa.direction.description,
                source: sa.source.description, destination: sa.destination.description, mode: sa.mode.description,
                reqid: sa.reqid, generation: sa.generation, sequencing: sa.sequencing.description,
                holders: authority.holders(of: sa.saID).map(\.name).sorted(),
                pending: authority.pendingTargets(of: sa.saID).map(\.name).sorted(),
                refused: Dictionary(uniqueKeysWithValues: authority.refusals(of: sa.saID).map { ($0.key.name, $0.value.description) }),
                lifesize: lifesize, sequenceBlocks: blocks)
        }
        let counters = authority.counters
        let dropStatus = DropStatus(frames: drops.snapshot, connectionsClosedForFraming: drops.closedConnections,
                                    fromNonMembers: counters.fromNonMembers, unexpected: counters.unexpected,
                                    unknownSA: counters.unknownSA)
        let routing = RoutingStatus(
            epoch: String(epoch.rawValue, radix: 16),
            listen: "\(configuration.listenHost):\(configuration.listenPort)",
            heartbeatIntervalMilliseconds: heartbeat.milliseconds,
            failureTimeoutMilliseconds: membership.configuration.failureTimeout.milliseconds,
            installTimeoutMilliseconds: configuration.authority.installTimeout.milliseconds,
            reportingPercent: authority.lifesize.percent, members: members, sas: sas,
            heldResponses: authority.heldResponses.count, drops: dropStatus, events: events)
        return NodeStatus(role: "routing", node: configuration.nodeID.name, routing: routing)
    }
}

extension Duration {
    /// Whole milliseconds (clamped).
    var milliseconds: Int {
        let (seconds, attoseconds) = components
        return Int(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    /// Whole nanoseconds (clamped).
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : scaled + attoseconds / 1_000_000_000
    }
}

extension UInt32 {
    /// "0x0000c0de", as `ip xfrm state` prints an SPI.
    var spiText: String {
        let hex = String(self, radix: 16)
        return "0x" + String(repeating: "0", count: Swift.max(0, 8 - hex.count)) + hex
    }
}
