// `vipsec status --connections` on the control socket: the inbound distributor's connection
// table, bounded by the request's `limit`, with each entry's CHILD_SA line named from the IKE
// daemon's own listing (reqid → "connection/child" and the peer). The control socket, not
// the status socket: the status socket answers every connection at once with the same
// document (the lab reads it with socat and compares it byte for byte), so it takes no
// request; the control socket takes one, and is for root and the control group only, as
// the peers' inner addresses are.
import Cluster
import NIOCore

/// Lists up to `limit` connection-table entries; nil when the distributor is not running
/// now (starting or stopping). Called on the control socket's loop; must not block long
/// (the inbound distributor takes its lock in bounded pieces).
public typealias ConnectionLister = @Sendable (_ limit: Int) -> ConnectionList?

extension OperatorService {
    func connections(_ request: OperatorRequest, on loop: EventLoop) -> EventLoopFuture<OperatorResponse> {
        guard let listConnections else {
            return loop.makeSucceededFuture(.failure(
                "no connection table here: only a routing node with cluster { inbound { } } distributes inbound ESP and keeps one"))
        }
        let limit = request.limit ?? OperatorRequest.defaultConnectionLimit
        guard (0...OperatorRequest.maximumConnectionLimit).contains(limit) else {
            return loop.makeSucceededFuture(.failure("limit \(limit) is not 0...\(OperatorRequest.maximumConnectionLimit)"))
        }
        guard var list = listConnections(limit) else {
            return loop.makeSucceededFuture(.failure("the inbound distributor is not running (starting or stopping): no connection table now"))
        }
        guard let workers = control.running, !list.connections.isEmpty else {
            return loop.makeSucceededFuture(OperatorResponse(ok: true, connections: list))
        }
        return listing(workers, on: loop).map { ikeSAs in
            Self.name(&list, from: ikeSAs)
            return OperatorResponse(ok: true, connections: list)
        }
    }

    /// Each entry's CHILD_SA line by its reqid: "connection/child" and the peer's address.
    static func name(_ list: inout ConnectionList, from ikeSAs: [IKESAEntry]) {
        var lines: [UInt32: (child: String, peer: String)] = [:]
        for ike in ikeSAs {
            for child in ike.childSAs where lines[child.reqid] == nil { lines[child.reqid] = ("\(ike.name)/\(child.name)", ike.remoteHost) }
        }
        for index in list.connections.indices {
            guard let line = lines[list.connections[index].reqid] else { continue }
            list.connections[index].child = line.child
            list.connections[index].peer = line.peer
        }
    }
}
