import Foundation
import NIOCore
import NIOPosix
import UnixStream

/// Serves a node's status on a unix socket: every connection gets the current
/// `NodeStatus` as one JSON document, then the socket closes. `vipsec status` reads it
/// with `StatusClient`. The socket is made mode 0600 (status has no keys, but it is the
/// operator's business). The document is written in pieces of a bounded number of SAs, one
/// piece per turn of the node's loop (StatusStream.swift), so a status of 100,000 SAs does
/// not stall the loop that serves the cluster.
public final class StatusSocketServer: @unchecked Sendable {
    private let channel: Channel
    public let path: String

    /// Binds `path` (replacing a stale socket file) on `group`; `stream` runs on the
    /// accepted channel's loop and returns a future of the status as a stream of pieces, each
    /// made on that loop. The node's own loop should be `group` (the pieces read its state).
    /// `ended` (tests) is told how each connection's stream ended.
    public static func start(path: String, group: EventLoopGroup,
                             stream: @escaping @Sendable () -> EventLoopFuture<NodeStatusStream>,
                             ended: (@Sendable (StatusPieceWriter.End) -> Void)? = nil) -> EventLoopFuture<StatusSocketServer> {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        return ServerBootstrap(group: group)
            // A client that shuts its sending side (`socat - UNIX-CONNECT:...` with stdin at its
            // end) still gets the whole document: only a failed write or a closed channel ends it.
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.pipeline.addHandler(StatusWriter(stream: stream, ended: ended))
            }
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true)
            .map { channel in
                chmod(path, 0o600)
                return StatusSocketServer(channel: channel, path: path)
            }
    }

    /// A node whose status is built whole (tests).
    public static func start(path: String, group: EventLoopGroup,
                             snapshot: @escaping @Sendable () -> EventLoopFuture<NodeStatus>) -> EventLoopFuture<StatusSocketServer> {
        start(path: path, group: group, stream: { snapshot().map { NodeStatusStream(whole: $0) } })
    }

    private init(channel: Channel, path: String) {
        self.channel = channel
        self.path = path
    }

    /// Closes the socket and removes its file.
    public func close() -> EventLoopFuture<Void> {
        channel.close().always { _ in unlink(self.path) }
    }
}

private final class StatusWriter: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let stream: @Sendable () -> EventLoopFuture<NodeStatusStream>
    let ended: (@Sendable (StatusPieceWriter.End) -> Void)?

    init(stream: @escaping @Sendable () -> EventLoopFuture<NodeStatusStream>,
         ended: (@Sendable (StatusPieceWriter.End) -> Void)?) {
        self.stream = stream
        self.ended = ended
    }

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        let ended = self.ended
        stream().hop(to: channel.eventLoop).whenComplete { result in
            switch result {
            case .success(let stream):
                StatusPieceWriter(stream, channel, ended: ended).writeNext()
            case .failure(let error):
                var buffer = channel.allocator.buffer(capacity: 256)
                buffer.writeString("{\"error\": \"\(error)\"}\n")
                channel.writeAndFlush(buffer).whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }
}

/// Writes a `NodeStatusStream` on its channel's loop: a piece is made only once the previous
/// one is flushed, and in a task of its own, so other work on the loop runs between any two
/// pieces even when the socket takes every write at once. A client gone (channel inactive, a
/// failed write) ends the production: no further piece is made.
public final class StatusPieceWriter: @unchecked Sendable {
    /// How a stream ended.
    public enum End: Equatable, Sendable {
        /// Every piece was written.
        case complete(pieces: Int, mostSAsInAPiece: Int)
        /// The client went away after `pieces` pieces.
        case disconnected(pieces: Int)
    }

    private var stream: NodeStatusStream
    private let channel: Channel
    private let ended: ((End) -> Void)?
    private var pieces = 0

    public init(_ stream: NodeStatusStream, _ channel: Channel, ended: ((End) -> Void)? = nil) {
        self.stream = stream
        self.channel = channel
        self.ended = ended
    }

    /// Makes and writes the next piece. Call on the channel's loop.
    public func writeNext() {
        guard channel.isActive else { return finish(.disconnected(pieces: pieces)) }
        guard let piece = stream.nextPiece() else {
            channel.close(promise: nil)
            return finish(.complete(pieces: pieces, mostSAsInAPiece: stream.mostSAsInAPiece))
        }
        pieces += 1
        var buffer = channel.allocator.buffer(capacity: piece.count)
        buffer.writeBytes(piece)
        channel.writeAndFlush(buffer).whenComplete { result in
            guard case .success = result else {
                self.channel.close(promise: nil)
                return self.finish(.disconnected(pieces: self.pieces))
            }
            self.channel.eventLoop.execute { self.writeNext() }
        }
    }

    private func finish(_ end: End) {
        ended?(end)
    }
}

/// Reads a node's status from its status socket (`vipsec status`).
public enum StatusClient {
    /// Why the status could not be read.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// How long `read` waits for the node's answer: a status socket answers at once, so
    /// silence means the wrong socket (the control socket waits for a request first) or a
    /// stuck node, and the operator is told instead of left waiting.
    public static let answerTimeout = 30.0

    /// Connects to `path`, reads the JSON document and decodes it.
    public static func read(path: String, timeout: Double = answerTimeout) throws -> (status: NodeStatus, json: Data) {
        let fd: Int32
        do { fd = try UnixStream.connect(path) } catch {
            throw Failure(description: "cannot connect to the status socket \(path): \(error) (is vipsec running there?)")
        }
        defer { close(fd) }
        let data: Data
        do { data = try UnixStream.readToEnd(fd, timeout: timeout) } catch let failure as UnixStream.Failure
                    where failure.code == EAGAIN || failure.code == EWOULDBLOCK {
            throw Failure(description: "no status from \(path) within \(Int(timeout)) s: is it a status socket "
                          + "(`status { socket }`, not the control socket of list-sas), and is the node responsive?")
        } catch {
            throw Failure(description: "reading \(path): \(error)")
        }
        do {
            return (try JSONDecoder().decode(NodeStatus.self, from: data), data)
        } catch {
            throw Failure(description: "the status from \(path) is not valid: \(error)")
        }
    }
}
