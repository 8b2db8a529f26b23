import Cluster
import NIOCore
import NIOSSL

/// The agent's connection to the routing node, after TLS and framing: hands every message
/// to the agent with its term; a TLS failure (routing node not from the cluster CA) is
/// counted and closes.
final class AgentConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ClusterFrame.Received

    private let agent: ClusterAgent

    init(agent: ClusterAgent) {
        self.agent = agent
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let channel = context.channel
        agent.loop.execute { self.agent.received(frame.message, term: frame.term, on: channel) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if error is NIOSSLError || error is BoringSSLError {
            agent.drops.count("tls-handshake")
            agent.logger.error("TLS with the routing node failed: \(error)")
        } else {
            agent.drops.count("connection-error")
        }
        context.close(promise: nil)
    }
}
