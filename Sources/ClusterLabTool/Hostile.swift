import Cluster
import ClusterNode
import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// A cluster client that writes raw bytes inside a valid TLS session and collects replies.
final class HostileClient: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ClusterFrame.Received
    private let lock = NSLock()
    private var received: [ClusterMessage] = []
    var channel: Channel!

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data).message
        lock.withLock { received.append(message) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }

    var messages: [ClusterMessage] { lock.withLock { received } }

    var welcomed: Bool { messages.contains { if case .welcome = $0 { return true } else { return false } } }

    func write(_ bytes: [UInt8]) {
        channel.writeAndFlush(channel.allocator.buffer(bytes: bytes), promise: nil)
    }

    func write(_ message: ClusterMessage) {
        var buffer = channel.allocator.buffer(capacity: 128)
        ClusterFrame.write(message, to: &buffer)
        channel.writeAndFlush(buffer, promise: nil)
    }
}

func frame(version: UInt8 = ClusterFrame.version, type: UInt8, body: [UInt8], claimedLength: UInt32? = nil) -> [UInt8] {
    [0x56, 0x43, version, type] + withUnsafeBytes(of: (claimedLength ?? UInt32(body.count)).bigEndian) { Array($0) } + body
}

func wait(_ seconds: Double, until condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

/// `hostile --routing HOST:PORT --node-id ID --cert --key --ca`: joins with valid credentials,
/// sends malformed frames and messages about unknown SAs, then loses framing on purpose.
/// Prints `result: NAME yes|no` lines for the scenario to check.
func runHostile(_ values: [String: String]) {
    let (host, port) = hostPort(values["routing"] ?? "10.0.0.1:4501")
    let node: NodeID
    do { node = try NodeID(values["node-id"] ?? "t9") } catch { fail("\(error)") }
    let creds = credentials(values)
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    func connect() -> HostileClient {
        let client = HostileClient()
        do {
            let context = try NIOSSLContext(configuration: creds.clientConfiguration())
            let counters = ClusterDropCounters()
            client.channel = try ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(try NIOSSLClientHandler(context: context, serverHostname: nil))
                        try sync.addHandler(ByteToMessageHandler(ClusterMessageDecoder(counters: counters)))
                        try sync.addHandler(client)
                    }
                }
                .connect(host: host, port: port).wait()
        } catch {
            fail("cannot connect to \(host):\(port): \(error)")
        }
        client.write(.hello(.init(nodeID: node, clusterAddress: .v4(0, 0, 0, 0), capabilities: [], maximumReplayWindow: 4096,
                                  incarnation: UInt64.random(in: 1...UInt64.max), heldEpoch: .none)))
        print("result: welcomed \(wait(5) { client.welcomed } ? "yes" : "no")")
        return client
    }

    let client = connect()
    let malformed: [(String, [UInt8])] = [
        ("truncated heartbeat", frame(type: ClusterMessageType.heartbeat.rawValue, body: [1, 2, 3])),
        ("garbage InstallSA", frame(type: ClusterMessageType.installSA.rawValue, body: [UInt8](repeating: 0xff, count: 40))),
        ("unknown type 200", frame(type: 200, body: [0, 1, 2])),
        ("trailing bytes", frame(type: ClusterMessageType.resyncRequest.rawValue, body: [UInt8](repeating: 0, count: 12))),
    ]
    for (name, bytes) in malformed {
        client.write(bytes)
        print("sent \(name)")
    }
    let unknownSA = ClusterSAID(0xdead_beef)
    client.write(.ack(.init(saID: unknownSA, operation: .installSA)))
    client.write(.lifesizeReport(.init(saID: unknownSA, bytes: 1 << 40, packets: 1 << 30)))
    client.write(.sequenceBlockRequest(.init(saID: unknownSA, currentBlockFirst: 0)))
    client.write(.deleteSA(.init(saID: unknownSA, epoch: .none)))
    print("sent 4 messages about unknown SA \(unknownSA) (ack, lifesize report, sequence block request, a DeleteSA)")
    let nacked = wait(3) {
        client.messages.contains { if case .nack(let nack) = $0 { return nack.saID == unknownSA && nack.reason == .unknownSA } else { return false } }
    }
    print("result: unknown-sa-nacked \(nacked ? "yes" : "no")")
    usleep(300_000)
    print("result: still-connected-after-malformed \(client.channel.isActive ? "yes" : "no")")

    client.write(frame(version: 9, type: ClusterMessageType.heartbeat.rawValue, body: [UInt8](repeating: 0, count: 16)))
    print("sent wrong version 9")
    print("result: closed-after-wrong-version \(wait(3) { !client.channel.isActive } ? "yes" : "no")")

    let second = connect()
    second.write(frame(type: ClusterMessageType.heartbeat.rawValue, body: [], claimedLength: 100_000_000))
    print("sent a frame announcing 100 MB")
    print("result: closed-after-oversized \(wait(3) { !second.channel.isActive } ? "yes" : "no")")

    let third = connect()
    third.write(Array(frame(type: ClusterMessageType.heartbeat.rawValue, body: [UInt8](repeating: 0, count: 16)).prefix(11)))
    usleep(200_000)
    try? third.channel.close().wait()
    print("sent a truncated frame and closed")
    try? group.syncShutdownGracefully()
}

/// `plaintext HOST:PORT`: bytes without TLS on the cluster port; the handshake must fail.
func runPlaintext(_ target: String) {
    let (host, port) = hostPort(target)
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { fail("\(host) is not IPv4") }
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { fail("cannot connect to \(target)") }
    let garbage = frame(type: ClusterMessageType.hello.rawValue, body: [UInt8](repeating: 0x41, count: 64))
    _ = garbage.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var buffer = [UInt8](repeating: 0, count: 4096)
    var timeout = timeval(tv_sec: 3, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var total = 0
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count <= 0 { break }
        total += count
    }
    close(fd)
    print("result: plaintext-closed yes (\(total) bytes answered, a TLS alert at most)")
}
