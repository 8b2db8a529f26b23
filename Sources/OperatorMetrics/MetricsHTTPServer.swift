// `vipsec { metrics { listen = ADDRESS:PORT } }` (routing node) and `vipsec target
// --metrics ADDRESS:PORT` (agent): GET /metrics over HTTP/1.1 (SwiftNIO's NIOHTTP1), the
// Prometheus text format the swift-prometheus registry emits. Anything else: 404 (path) or
// 405 (method).
import ClusterNode
import Foundation
import IKEDaemon
import NIOCore
import NIOHTTP1
import NIOPosix

/// The metrics endpoint.
public final class MetricsHTTPServer: @unchecked Sendable {
    /// Reads the daemon's numbers at each scrape (nil: the daemon is not running yet).
    public typealias Source = @Sendable () -> EventLoopFuture<(GatewayMetricsSnapshot, ClusterMetricsSnapshot?)>?

    private let channel: Channel
    /// The bound address (port 0 in the settings: the one the kernel chose).
    public let localAddress: SocketAddress

    /// Makes one scrape's body (nil: the daemon is not running yet).
    public typealias Render = @Sendable () -> EventLoopFuture<[UInt8]>?

    /// The routing node's endpoint: `source` read and moved into `metrics` at each scrape.
    public static func start(host: String, port: Int, metrics: RoutingMetrics, group: EventLoopGroup,
                             source: @escaping Source) async throws -> MetricsHTTPServer {
        let lock = NSLock()
        return try await start(host: host, port: port, group: group) {
            source()?.map { gateway, cluster in
                lock.withLock { () -> [UInt8] in
                    metrics.update(gateway, cluster: cluster)
                    return metrics.exposition()
                }
            }
        }
    }

    /// The agent's endpoint: its snapshot moved into `metrics` at each scrape.
    public static func start(host: String, port: Int, metrics: AgentMetrics, group: EventLoopGroup,
                             source: @escaping @Sendable () -> EventLoopFuture<AgentMetricsSnapshot>) async throws -> MetricsHTTPServer {
        let lock = NSLock()
        return try await start(host: host, port: port, group: group) {
            source().map { snapshot in
                lock.withLock { () -> [UInt8] in
                    metrics.update(snapshot)
                    return metrics.exposition()
                }
            }
        }
    }

    /// An endpoint whose body `render` makes at each scrape; the bind is awaited without
    /// blocking a thread.
    public static func start(host: String, port: Int, group: EventLoopGroup, render: @escaping Render) async throws -> MetricsHTTPServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                    channel.pipeline.addHandler(MetricsRequestHandler(render: render))
                }
            }
            .bind(host: host, port: port).get()
        return MetricsHTTPServer(channel: channel)
    }

    private init(channel: Channel) {
        self.channel = channel
        localAddress = channel.localAddress!
    }

    /// Closes the listening socket (awaited, no thread blocked).
    public func close() async { try? await channel.close().get() }
}

private final class MetricsRequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let render: MetricsHTTPServer.Render
    var head: HTTPRequestHead?

    init(render: @escaping MetricsHTTPServer.Render) {
        self.render = render
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request): head = request
        case .body: break
        case .end:
            guard let request = head else { return }
            head = nil
            let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
            guard request.method == .GET || request.method == .HEAD else {
                return respond(context, request, .methodNotAllowed, Array("GET /metrics only\n".utf8))
            }
            guard path == "/metrics" else { return respond(context, request, .notFound, Array("try /metrics\n".utf8)) }
            guard let future = render() else {
                return respond(context, request, .serviceUnavailable, Array("the IKE daemon is starting\n".utf8))
            }
            let loop = context.eventLoop
            let boundContext = NIOLoopBound(context, eventLoop: loop)
            future.hop(to: loop).whenComplete { [self] result in
                let context = boundContext.value
                switch result {
                case .success(let body):
                    respond(context, request, .ok, body, type: "text/plain; version=0.0.4; charset=utf-8")
                case .failure(let error):
                    respond(context, request, .internalServerError, Array("\(error)\n".utf8))
                }
            }
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ request: HTTPRequestHead, _ status: HTTPResponseStatus, _ body: [UInt8],
                         type: String = "text/plain; charset=utf-8") {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: "\(body.count)")
        let keepAlive = request.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if request.method != .HEAD {
            var buffer = context.channel.allocator.buffer(capacity: body.count)
            buffer.writeBytes(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }
}
