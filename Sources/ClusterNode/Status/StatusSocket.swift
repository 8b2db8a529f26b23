import Foundation
import NIOCore
import NIOPosix
import UnixStream

/// Serves a node's status on a unix socket: every connection gets the current
/// `NodeStatus` as one JSON document, then the socket closes. `vipsec status` reads it
/// with `StatusClient`. The socket is made mode 0600 (status has no keys, but it is the
/// operator's business).
public final class StatusSocketServer: @unchecked Sendable {
    private let channel: Channel
    public let path: String

    /// Binds `path` (replacing a stale socket file) on `group`; `snapshot` runs on the
    /// accepted channel's loop and returns a future of the status.
    public static func start(path: String, group: EventLoopGroup,
                             snapshot: @escaping @Sendable () -> EventLoopFuture<NodeStatus>) -> EventLoopFuture<StatusSocketServer> {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        return ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.pipeline.addHandler(StatusWriter(snapshot: snapshot))
            }
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true)
            .map { channel in
                chmod(path, 0o600)
                return StatusSocketServer(channel: channel, path: path)
            }
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
    let snapshot: @Sendable () -> EventLoopFuture<NodeStatus>

    init(snapshot: @escaping @Sendable () -> EventLoopFuture<NodeStatus>) { self.snapshot = snapshot }

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        snapshot().whenComplete { result in
            var buffer = channel.allocator.buffer(capacity: 4096)
            switch result {
            case .success(let status):
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                buffer.writeBytes((try? encoder.encode(status)) ?? Data("{}".utf8))
            case .failure(let error):
                buffer.writeString("{\"error\": \"\(error)\"}")
            }
            buffer.writeString("\n")
            channel.writeAndFlush(buffer).whenComplete { _ in channel.close(promise: nil) }
        }
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
