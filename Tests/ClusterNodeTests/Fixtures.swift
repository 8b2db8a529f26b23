import Cluster
import Foundation
import VipsecTestSupport
import NIOCore
import NIOPosix
import NIOSSL
import XCTest
@testable import ClusterNode

/// Credentials made by the real `scripts/cluster-ca` into a temporary directory: the
/// cluster's CA with `router`, `t1`, `t2`, `t3`, and a rogue CA that also issued a `t1`.
final class TestPKI {
    let directory: URL
    let rogue: URL

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("vipsec-pki-\(UUID().uuidString)")
        directory = base.appendingPathComponent("cluster")
        rogue = base.appendingPathComponent("rogue")
        try Self.run(["init", directory.path])
        for node in ["router", "t1", "t2", "t3"] { try Self.run(["issue", directory.path, node]) }
        try Self.run(["init", rogue.path])
        try Self.run(["issue", rogue.path, "t1"])
    }

    deinit {
        try? FileManager.default.removeItem(at: directory.deletingLastPathComponent())
    }

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static func run(_ arguments: [String]) throws {
        try runProgram(repositoryRoot.appendingPathComponent("scripts/cluster-ca"), arguments)
    }

    func credentials(_ node: String, rogue useRogue: Bool = false) throws -> ClusterCredentials {
        let dir = useRogue ? rogue : directory
        return try ClusterCredentials(certificatePath: dir.appendingPathComponent("\(node).crt").path,
                                      keyPath: dir.appendingPathComponent("\(node).key").path,
                                      caPath: dir.appendingPathComponent("ca.crt").path)
    }
}

/// The agent's kernel as an in-memory twin: records what the agent asked for.
final class RecordingKernel: AgentKernel, @unchecked Sendable {
    private let lock = NSLock()
    private var states: [ClusterSAID: SADescription] = [:]
    private(set) var installCount = 0
    /// The threads installs ran on (the agent's kernel thread, never its event loop).
    private(set) var installThreads: Set<String> = []
    var refuse: Set<UInt32> = []
    var bytesPerRead: UInt64 = 0
    private var bytes: [ClusterSAID: UInt64] = [:]

    /// Seconds every install blocks its caller (a slow kernel: crypto modules loading).
    var installDelay: Double = 0

    func install(_ sa: SADescription, outputSequence: UInt64?) throws {
        let delay = lock.withLock { installDelay }
        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
        try lock.withLock {
            if refuse.contains(sa.spi) { throw XFRMTestError.refused }
            states[sa.saID] = sa
            installCount += 1
            installThreads.insert(Thread.current.name ?? "unnamed")
        }
    }

    func replaceState(_ sa: SADescription, outputSequence: UInt64) throws {
        lock.withLock { states[sa.saID] = sa }
    }

    func remove(_ sa: SADescription) throws {
        lock.withLock { _ = states.removeValue(forKey: sa.saID) }
    }

    func counters(of sa: SADescription) throws -> KernelSACounters? {
        lock.withLock {
            guard states[sa.saID] != nil else { return nil }
            bytes[sa.saID, default: 0] += bytesPerRead
            let value = bytes[sa.saID] ?? 0
            return KernelSACounters(bytes: value, packets: value / 100, outputSequence: 0)
        }
    }

    func removeLeftovers() -> Int { 0 }

    /// What `replayState(of:)` answers per SA (held SAs only), and `openConnections()`.
    var replayTops: [ClusterSAID: UInt64] = [:]
    var heldConnections: [InnerFiveTuple] = []
    var connectionsFail = false

    func setReplayTop(_ saID: ClusterSAID, _ top: UInt64) { lock.withLock { replayTops[saID] = top } }

    func replayState(of sa: SADescription) throws -> KernelReplayState? {
        lock.withLock {
            guard states[sa.saID] != nil, let top = replayTops[sa.saID] else { return nil }
            return KernelReplayState(top: top, bitmap: [.max])
        }
    }

    func openConnections() throws -> [InnerFiveTuple] {
        try lock.withLock {
            if connectionsFail { throw XFRMTestError.refused }
            return heldConnections
        }
    }

    /// Encapsulated mode: "start ROUTER LOCAL" / "stop", in order.
    private(set) var decapsulationCalls: [String] = []

    func startDecapsulation(router: IPAddress, local: IPAddress) throws -> [String] {
        lock.withLock { decapsulationCalls.append("start \(router) \(local)") }
        return ["GRE from \(router)"]
    }

    func stopDecapsulation() throws {
        lock.withLock { decapsulationCalls.append("stop") }
    }

    var decapsulations: [String] { lock.withLock { decapsulationCalls } }

    var spis: Set<UInt32> { lock.withLock { Set(states.values.map(\.spi)) } }
}

enum XFRMTestError: Error, CustomStringConvertible {
    case refused
    var description: String { "refused by the test kernel" }
}

/// Polls `condition` every 20 ms for up to `seconds`.
func eventually(_ seconds: Double = 5, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(nanoseconds: 20_000_000)
    }
    return try await condition()
}

/// An SA as the IKE daemon would hand it over (AES-GCM-128, tunnel mode, peer ↔ DVIPA).
func testSA(_ id: UInt64, spi: UInt32, direction: SADirection = .inbound, owner: String? = nil) -> SADescription {
    let peer = IPAddress.v4(192, 0, 2, 1), dvipa = IPAddress.v4(192, 0, 2, 100)
    let key = SecretBytes((0..<20).map { UInt8(truncatingIfNeeded: Int(id) * 31 + $0) })
    let inbound = direction == .inbound
    var lifetimes = SALifetimes()
    lifetimes.hardByteLimit = 1_000_000
    return SADescription(
        saID: ClusterSAID(id), epoch: ClusterEpoch(rawValue: 1), spi: spi, direction: direction,
        source: inbound ? peer : dvipa, destination: inbound ? dvipa : peer,
        algorithms: [SAAlgorithm(kind: .aead, name: "rfc4106(gcm(aes))", key: key, bits: 128)],
        lifetimes: lifetimes,
        selectors: [SASelector(source: inbound ? .v4(10, 1, 0, 0) : .v4(10, 2, 0, 0), sourcePrefixLength: 24,
                               destination: inbound ? .v4(10, 2, 0, 0) : .v4(10, 1, 0, 0), destinationPrefixLength: 24)],
        reqid: 1, sequencing: owner.map { (try? NodeID($0)).map { .perTarget(owner: $0) } ?? .notApplicable } ?? .notApplicable)
}

/// A cluster client that speaks raw bytes inside TLS (for hostile input), collecting what
/// the routing node sends back.
final class RawClusterClient: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ClusterFrame.Received
    private let lock = NSLock()
    private var received: [ClusterMessage] = []
    private(set) var channel: Channel!

    static func connect(port: Int, credentials: ClusterCredentials, group: EventLoopGroup) async throws -> RawClusterClient {
        let client = RawClusterClient()
        let context = try NIOSSLContext(configuration: credentials.clientConfiguration())
        let counters = ClusterDropCounters()
        client.channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(try NIOSSLClientHandler(context: context, serverHostname: nil))
                    try sync.addHandler(ByteToMessageHandler(ClusterMessageDecoder(counters: counters)))
                    try sync.addHandler(client)
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return client
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data).message
        lock.withLock { received.append(message) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    var messages: [ClusterMessage] { lock.withLock { received } }

    func send(_ message: ClusterMessage) async throws {
        var buffer = channel.allocator.buffer(capacity: 256)
        ClusterFrame.write(message, to: &buffer)
        try await channel.writeAndFlush(buffer).get()
    }

    func sendRaw(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes)).get()
    }

    /// A frame header for `type` with a body of `body` bytes, as given.
    static func frame(version: UInt8 = ClusterFrame.version, type: UInt8, body: [UInt8], claimedLength: UInt32? = nil) -> [UInt8] {
        let length = claimedLength ?? UInt32(body.count)
        return [0x56, 0x43, version, type] + withUnsafeBytes(of: length.bigEndian) { Array($0) } + body
    }

    static func hello(_ node: String, incarnation: UInt64 = 7) throws -> ClusterMessage {
        .hello(.init(nodeID: try NodeID(node), clusterAddress: .v4(127, 0, 0, 1), capabilities: [],
                     maximumReplayWindow: 4096, incarnation: incarnation, heldEpoch: .none))
    }
}
