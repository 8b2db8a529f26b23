import Cluster
import NIOCore

extension ClusterService {
    /// The routing node's status now (members, SAs and who holds them, lifesize totals,
    /// sequence blocks, drops). Safe from any thread.
    public func status() -> EventLoopFuture<NodeStatus> {
        loop.submit { [self] in makeStatus() }
    }

    /// The status socket's document (StatusStream.swift): the head now, then the SAs a chunk
    /// per loop turn, each as the authority holds it when its chunk is encoded. Safe from any thread.
    public func statusStream(sasPerPiece: Int = NodeStatusStream.sasPerPiece) -> EventLoopFuture<NodeStatusStream> {
        loop.submit { [self] in
            let ids = authority.statusSAIDs()
            return NodeStatusStream(head: makeStatus(includingSAs: false), count: ids.count, sasPerPiece: sasPerPiece) { [self] range in
                loop.preconditionInEventLoop()
                return ids[range].compactMap { authority.saStatus(of: $0) }
            }
        }
    }

    func makeStatus(includingSAs: Bool = true) -> NodeStatus {
        let snapshot = authority.status(now: Self.now(), includingSAs: includingSAs)
        let membership = authority.membership.configuration
        let members = snapshot.members.map { member in
            MemberStatus(node: member.nodeID, clusterAddress: member.clusterAddress,
                         incarnation: String(member.incarnation, radix: 16), health: member.silent ? "silent" : "live",
                         lastHeardMillisecondsAgo: Int(clamping: member.silentForMilliseconds),
                         memberForSeconds: Int(clamping: member.memberForMilliseconds / 1000))
        }
        let dropStatus = DropStatus(frames: drops.snapshot, connectionsClosedForFraming: drops.closedConnections,
                                    fromNonMembers: snapshot.dropped.fromNonMembers, unexpected: snapshot.dropped.unexpected,
                                    unknownSA: snapshot.dropped.unknownSA)
        let routing = RoutingStatus(
            epoch: snapshot.epoch,
            listen: "\(configuration.listenHost):\(configuration.listenPort)",
            heartbeatIntervalMilliseconds: membership.heartbeatInterval.milliseconds,
            failureTimeoutMilliseconds: membership.failureTimeout.milliseconds,
            installTimeoutMilliseconds: configuration.authority.installTimeout.milliseconds,
            reportingPercent: snapshot.reportingPercent, members: members, sas: snapshot.sas,
            heldResponses: snapshot.heldResponses.count, drops: dropStatus, reports: snapshot.reports, events: events,
            inbound: inboundStatusProvider?(), ha: haStatusProvider?())
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
