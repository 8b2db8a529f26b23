import Cluster
import NIOCore
import NIOSSL

/// One agent's connection on the routing node, after TLS and framing.
///
/// The first message must be a Hello whose node id is one of the names in the agent's
/// certificate (the cluster CA vouches for it); anything before that is dropped and counted,
/// a Hello naming another node closes the connection. Afterwards every message goes to the
/// service. A TLS failure (wrong CA, no certificate) is counted as `tls-handshake`. With HA,
/// agents' frames carry the highest leader term they follow: the service checks it first
/// (`ClusterService.deposedBy`): a newer term than this node's means it was deposed.
final class RoutingConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ClusterFrame.Received

    private let service: ClusterService
    private var node: NodeID?

    init(service: ClusterService) {
        self.service = service
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let message = frame.message
        guard let node else {
            guard case .hello(let hello) = message else {
                service.drops.count("before-hello")
                return
            }
            let names = (try? context.pipeline.syncOperations.nioSSL_peerCertificate())
                .flatMap { $0 }.map(ClusterCredentials.nodeNames(of:)) ?? []
            guard names.contains(hello.nodeID.name) else {
                service.drops.count("node-id-mismatch")
                service.refused("refused Hello from \(hello.nodeID): its certificate names \(names.isEmpty ? "nobody" : names.joined(separator: ","))")
                context.close(promise: nil)
                return
            }
            self.node = hello.nodeID
            service.accept(hello, term: frame.term, on: context.channel)
            return
        }
        if case .hello(let hello) = message, hello.nodeID != node {
            service.drops.count("node-id-mismatch")
            return
        }
        service.received(message, term: frame.term, from: node, on: context.channel)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let node { service.closed(node, channel: context.channel) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if error is NIOSSLError || error is BoringSSLError {
            service.drops.count("tls-handshake")
            service.refused("TLS refused from \(context.remoteAddress?.description ?? "?"): \(error)")
        } else {
            service.drops.count("connection-error")
        }
        context.close(promise: nil)
    }
}
