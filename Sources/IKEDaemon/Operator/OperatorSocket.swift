// The control socket: a unix stream socket, mode 0660, owned by the daemon's user and by
// root's group or `control { group }`. Who may connect is decided by the file's mode (the
// kernel refuses connect() with EACCES to everyone else). One request per connection
// (OperatorProtocol.swift); a request over 64 KiB or not JSON gets an error answer.
import Foundation
import NIOCore
import NIOPosix
import UnixStream

/// The daemon's end.
public final class OperatorSocketServer: @unchecked Sendable {
    private let channel: Channel
    public let path: String

    /// Binds `settings.socket` (replacing a stale socket file) on `group`; awaits the bind
    /// without blocking a thread.
    public static func start(settings: ControlSettings, service: OperatorService, group: EventLoopGroup) async throws -> OperatorSocketServer {
        let path = settings.socket
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o755])
        }
        // Bound with a umask that leaves nobody but the owner a moment's access; then 0660.
        let previous = umask(0o177)
        let bound: Channel
        do {
            bound = try await ServerBootstrap(group: group)
                .childChannelInitializer { $0.pipeline.addHandler(OperatorRequestHandler(service: service)) }
                .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        } catch {
            umask(previous)
            throw OperatorError("control socket \(path): \(error)")
        }
        umask(previous)
        guard chown(path, geteuid(), settings.groupID ?? 0) == 0, chmod(path, 0o660) == 0 else {
            let reason = String(cString: strerror(errno))
            bound.close(promise: nil)
            throw OperatorError("control socket \(path): cannot set its owner and mode: \(reason)")
        }
        return OperatorSocketServer(channel: bound, path: path)
    }

    private init(channel: Channel, path: String) {
        self.channel = channel
        self.path = path
    }

    /// Closes the socket and removes its file (awaited, no thread blocked).
    public func close() async {
        try? await channel.close().get()
        unlink(path)
    }
}

/// Reads one request line, answers, closes.
private final class OperatorRequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    static let maximumRequest = 64 << 10
    let service: OperatorService
    var received: [UInt8] = []
    var answered = false

    init(service: OperatorService) { self.service = service }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        received += Array(unwrapInboundIn(data).readableBytesView)
        if let newline = received.firstIndex(of: UInt8(ascii: "\n")) {
            answer(context, Array(received[..<newline]))
        } else if received.count > Self.maximumRequest {
            respond(context, .failure("request longer than \(Self.maximumRequest) bytes"))
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event, !answered { answer(context, received) }
    }

    func channelInactive(context: ChannelHandlerContext) { answered = true }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }

    private func answer(_ context: ChannelHandlerContext, _ bytes: [UInt8]) {
        answered = true
        guard let request = try? JSONDecoder().decode(OperatorRequest.self, from: Data(bytes)) else {
            respond(context, .failure("not a vipsec control request (a vipsec CLI of another version?)"))
            return
        }
        let channel = context.channel
        service.handle(request, on: channel.eventLoop).whenComplete { result in
            let response: OperatorResponse
            switch result {
            case .success(let value): response = value
            case .failure(let error): response = .failure("\(error)")
            }
            Self.write(response, to: channel)
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ response: OperatorResponse) {
        answered = true
        Self.write(response, to: context.channel)
    }

    /// Writes the answer piece by piece (OperatorResponseStream.swift), then closes.
    private static func write(_ response: OperatorResponse, to channel: Channel) {
        PieceWriter(OperatorResponseStream(response), channel).writeNext()
    }
}

/// Writes an `OperatorResponseStream`: each piece is encoded once the previous one has been
/// flushed, on the channel's loop (other work on the loop runs in between).
final class PieceWriter: @unchecked Sendable {
    private var stream: OperatorResponseStream
    private let channel: Channel

    init(_ stream: OperatorResponseStream, _ channel: Channel) {
        self.stream = stream
        self.channel = channel
    }

    func writeNext() {
        guard let piece = stream.nextPiece() else {
            channel.close(promise: nil)
            return
        }
        var buffer = channel.allocator.buffer(capacity: piece.count)
        buffer.writeBytes(piece)
        channel.writeAndFlush(buffer).whenComplete { result in
            guard case .success = result else { return self.channel.close(promise: nil) }
            self.writeNext()
        }
    }
}

public enum OperatorClient {
    /// Sends `request` to the daemon at `path` and returns its answer. Throws with the reason
    /// (no daemon there, permission refused, a broken answer).
    public static func send(_ request: OperatorRequest, path: String) throws -> OperatorResponse {
        let fd: Int32
        do { fd = try UnixStream.connect(path) } catch let failure as UnixStream.Failure {
            switch failure.code {
            case EACCES, EPERM:
                throw OperatorError("permission denied on the control socket \(path): it is for root and the group of `vipsec { control { group } }`")
            case ENOENT, ECONNREFUSED:
                throw OperatorError("cannot connect to the control socket \(path): \(failure) (is vipsec routing running? see --socket)")
            default:
                throw OperatorError("cannot connect to the control socket \(path): \(failure)")
            }
        }
        defer { close(fd) }
        // The daemon may wait `timeout` for the effect: allow that and a margin.
        var wait = timeval(tv_sec: Int(max(0, request.timeout)) + 15, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        var message = try JSONEncoder().encode(request)
        message.append(UInt8(ascii: "\n"))
        let sent = message.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == message.count else { throw OperatorError("writing to \(path): \(String(cString: strerror(errno)))") }
        let data: Data
        do { data = try UnixStream.readToEnd(fd) } catch {
            throw OperatorError("reading the answer from \(path): \(error)")
        }
        do {
            return try JSONDecoder().decode(OperatorResponse.self, from: data)
        } catch {
            throw OperatorError("the answer from \(path) is not valid: \(error)")
        }
    }
}
