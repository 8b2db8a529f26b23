import Cluster
import Foundation
import NIOCore
import NIOEmbedded
import NIOPosix
import UnixStream
import XCTest
@testable import ClusterNode

/// The status socket streams its document (issue 20): the pieces joined are byte for byte what
/// `JSONEncoder` makes of the whole status (what `vipsec status --json` always printed), each
/// piece holds at most `sasPerPiece` SAs and is made in a loop task of its own, and a client
/// that goes away ends the production.
final class StatusStreamTests: ClusterHarnessTestCase {
    var group: MultiThreadedEventLoopGroup { harness.group }

    /// A routing node with three members, `count` SAs (inbound, and shared outbound with
    /// sequence blocks; acknowledged, refused, pending, with lifesize), HA and inbound status.
    func routingService(count: Int) throws -> ClusterService {
        let authority = SAAuthority.Configuration(
            // Long heartbeats: the members stay "live" between the reads the test compares.
            membership: MembershipConfiguration(heartbeatInterval: .seconds(30), failureTimeout: .seconds(600)),
            installTimeout: .seconds(2), outboundMode: .shared(blockSize: 64, peerReplayWindow: 256))
        let service = try ClusterService(configuration: .init(nodeID: try NodeID("router"), listenHost: "127.0.0.1",
                                                              listenPort: 4501, authority: authority),
                                         credentials: try harness.pki.credentials("router"), group: group)
        service.authority = SAAuthority(epoch: ClusterEpoch(rawValue: 0x5eed), configuration: authority)
        let t1 = try NodeID("t1"), t2 = try NodeID("t2"), t3 = try NodeID("t3")
        let now = ClusterService.now()
        for (node, last) in [(t1, UInt8(1)), (t2, 2), (t3, 3)] {
            _ = service.authority.receivedHello(.init(nodeID: node, clusterAddress: .v4(10, 9, 0, last), capabilities: [],
                                                      maximumReplayWindow: 4096, incarnation: UInt64(last), heldEpoch: .none), now: now)
        }
        for pair in 0..<(count / 2) {
            let inboundID = UInt64(2 * pair + 1), outboundID = UInt64(2 * pair + 2)
            var outbound = testSA(outboundID, spi: 0x1_0000 + UInt32(outboundID), direction: .outbound)
            outbound.sequencing = .shared(blockSize: 64)
            _ = service.authority.childSANegotiated([testSA(inboundID, spi: 0x1_0000 + UInt32(inboundID)), outbound],
                                                    response: IKEResponseToken(UInt64(pair + 1)), now: now)
            _ = service.authority.received(.ack(.init(saID: ClusterSAID(inboundID), operation: .installSA)), from: t1, now: now)
            if pair % 3 == 0 {
                _ = service.authority.received(.nack(.init(saID: ClusterSAID(inboundID), operation: .installSA,
                                                           reason: .kernelRejected, detail: "File \"exists\"/\(pair)")), from: t2, now: now)
            }
            if pair % 2 == 0 {
                _ = service.authority.received(.sequenceBlockRequest(.init(saID: ClusterSAID(outboundID), currentBlockFirst: 0)),
                                               from: t2, now: now)
                _ = service.authority.received(.lifesizeReport(.init(saID: ClusterSAID(inboundID), bytes: 1234, packets: 5)),
                                               from: t1, now: now)
            }
        }
        service.drops.count("before-hello")
        service.events = ["t1 joined", "t2 joined", "t3 \"quoted\" joined"]
        service.haStatusProvider = {
            HAStatus(role: "active", term: 4, leader: "router", leaderTerm: 4, etcd: "reachable", servingMillisecondsLeft: 900,
                     stepDowns: [:], roleSinceMonotonicMilliseconds: 12, takeover: nil)
        }
        service.inboundStatusProvider = {
            InboundStatus(mode: "direct", queue: 7, sas: count / 2, forwarded: 3, dropped: ["no-sa": 0],
                          flowsPerTarget: ["t1": 2], windowTops: ["0x00010001": 5])
        }
        return service
    }

    /// Every piece of `stream`, made on `loop`.
    func pieces(of stream: NodeStatusStream, on loop: EventLoop) async throws -> (pieces: [Data], mostSAsInAPiece: Int) {
        try await loop.submit {
            var stream = stream, pieces: [Data] = []
            while let piece = stream.nextPiece() { pieces.append(piece) }
            return (pieces, stream.mostSAsInAPiece)
        }.get()
    }

    func wholeJSON(_ status: NodeStatus) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(status), as: UTF8.self) + "\n"
    }

    /// Milliseconds and seconds measured against the clock differ between two reads.
    func normalised(_ text: String) -> String {
        var text = text
        for pattern in [#"("lastHeardMillisecondsAgo" : )\d+"#, #"("memberForSeconds" : )\d+"#, #"("lastContactMillisecondsAgo" : )\d+"#] {
            let regex = try! NSRegularExpression(pattern: pattern)
            text = regex.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: "$1#")
        }
        return text
    }

    func testARoutingNodesStreamedStatusIsItsWholeEncodingByteForByte() async throws {
        let service = try routingService(count: 1000)
        let whole = try await service.loop.submit { service.makeStatus() }.get()
        XCTAssertEqual(whole.routing?.sas.count, 1000)
        XCTAssertEqual(whole.routing?.sas.filter { !$0.refused.isEmpty }.count, 167, "the fixture has refusals")
        for perPiece in [1, 7, 256, 5000] {
            let stream = try await service.statusStream(sasPerPiece: perPiece).get()
            let (pieces, most) = try await pieces(of: stream, on: service.loop)
            XCTAssertEqual(pieces.count, (1000 + perPiece - 1) / perPiece, "one piece per \(perPiece) SAs")
            XCTAssertEqual(most, min(perPiece, 1000))
            let streamed = String(decoding: pieces.reduce(Data(), +), as: UTF8.self)
            XCTAssertEqual(normalised(streamed), normalised(try wholeJSON(whole)), "\(perPiece) SAs per piece")
            XCTAssertEqual(try JSONDecoder().decode(NodeStatus.self, from: Data(streamed.utf8)).routing?.sas.map(\.saID),
                           whole.routing?.sas.map(\.saID))
        }
    }

    func testAnAgentsStreamedStatusIsItsWholeEncodingByteForByte() async throws {
        let configuration = ClusterAgent.Configuration(
            nodeID: try NodeID("t1"), routingHost: "192.0.2.10", routingPort: 4501, clusterAddress: .v4(10, 9, 0, 1),
            dvipa: .v4(192, 0, 2, 100), grace: .milliseconds(30_500), watchExpireEvents: false)
        let agent = try ClusterAgent(configuration: configuration, credentials: try harness.pki.credentials("t1"),
                                     kernel: RecordingKernel(), group: group)
        let epoch = ClusterEpoch(rawValue: 0x5eed)
        let now = ClusterAgent.now()
        let welcome = ClusterMessage.Welcome(epoch: epoch, heartbeatIntervalMilliseconds: 100, failureTimeoutMilliseconds: 600)
        var counters: [ClusterSAID: KernelSACounters] = [:]
        try await agent.loop.submit {
            _ = agent.cache.welcomed(welcome, now: now)
            for id in UInt64(1)...600 {
                var sa = testSA(id, spi: 0x2_0000 + UInt32(id), direction: id % 2 == 0 ? .outbound : .inbound)
                sa.epoch = epoch
                _ = agent.cache.install(.init(sa: sa), now: now)
                if id % 3 != 0 {
                    agent.inKernel.insert(ClusterSAID(id))
                    counters[ClusterSAID(id)] = KernelSACounters(bytes: id * 100, packets: id, outputSequence: id * 2)
                }
            }
            agent.welcome = welcome
            agent.kernelErrors = ["install sa#3: File \"exists\""]
        }.get()
        let fixed = counters
        let whole = try await agent.loop.submit { agent.makeStatus(counters: fixed) }.get()
        XCTAssertEqual(whole.target?.sas.count, 600)
        XCTAssertEqual(whole.target?.sas.filter(\.inKernel).count, 400)
        for perPiece in [1, 64, 256] {
            let stream = try await agent.loop.submit { agent.makeStatusStream(counters: fixed, sasPerPiece: perPiece) }.get()
            let (pieces, most) = try await pieces(of: stream, on: agent.loop)
            XCTAssertEqual(pieces.count, (600 + perPiece - 1) / perPiece)
            XCTAssertEqual(most, perPiece)
            let streamed = String(decoding: pieces.reduce(Data(), +), as: UTF8.self)
            XCTAssertEqual(normalised(streamed), normalised(try wholeJSON(whole)), "\(perPiece) SAs per piece")
        }
        // And through the agent's own path (counters read on the kernel thread).
        let viaKernel = try await agent.statusStream().get()
        let (pieces, _) = try await pieces(of: viaKernel, on: agent.loop)
        XCTAssertEqual(try JSONDecoder().decode(NodeStatus.self, from: pieces.reduce(Data(), +)).target?.sas.count, 600)
        await agent.stop(removingSAs: false)
    }

    /// Statuses without SAs, with one, with an HA target's term (a key after the list), and
    /// with an inbound status (whose own "sas" key is a number, not the list): the stream still
    /// splits at the right place.
    func testSmallStatusesStreamAsTheirWholeEncoding() throws {
        let sa = ShadowSAStatus(id: 1, spi: "0x00000001", direction: "in", source: "192.0.2.1", destination: "192.0.2.100",
                                sequencing: "local", inKernel: true, bytes: 1, packets: 1, outputSequence: nil, sequenceBlock: nil)
        let drops = DropStatus(frames: [:], connectionsClosedForFraming: 0, fromNonMembers: 0, unexpected: 0, unknownSA: 0)
        func target(_ sas: [ShadowSAStatus]) -> NodeStatus {
            NodeStatus(role: "target", node: "t1", target: TargetStatus(
                epoch: "1", connected: true, routing: "r:1", dvipa: nil, graceSeconds: 1, lastContactMillisecondsAgo: nil,
                sas: sas, drops: drops, kernelErrors: [], reconnects: 0))
        }
        var routing = NodeStatus(role: "routing", node: "r", routing: RoutingStatus(
            epoch: "1", listen: "x:1", heartbeatIntervalMilliseconds: 1, failureTimeoutMilliseconds: 1, installTimeoutMilliseconds: 1,
            reportingPercent: 5, members: [], sas: [], heldResponses: 0, drops: drops, events: [],
            inbound: InboundStatus(mode: "direct", queue: 1, sas: 3)))
        // With HA a target's status has `term`, a key after `sas`.
        var withTerm = target([sa, sa, sa])
        withTerm.target?.term = 26
        for status in [target([]), target([sa]), target([sa, sa, sa]), withTerm, routing, NodeStatus(role: "routing", node: "bare")] {
            var stream = NodeStatusStream(whole: status, sasPerPiece: 2)
            var joined = Data()
            while let piece = stream.nextPiece() { joined += piece }
            XCTAssertEqual(String(decoding: joined, as: UTF8.self), try wholeJSON(status))
        }
        routing.routing?.sas = []
        XCTAssertNotNil(NodeStatusStream.split(Data(try wholeJSON(routing).utf8)))
        XCTAssertNil(NodeStatusStream.split(Data("{\"sas\" : [1]}".utf8)), "a list that is not the empty last key is not split")
    }

    /// A status of 50,000 SAs on a channel: no piece holds more than `sasPerPiece` SAs, and work
    /// queued on the loop while a piece is made runs before the next piece is made.
    func testTheWorkPerLoopTurnIsBoundedAt50000SAs() throws {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let loop = channel.embeddedEventLoop
        var produced: [Int] = [], otherWorkRun = 0, interleaved = true
        let count = 50_000, perPiece = 256
        let stream = NodeStatusStream(head: Self.targetHead(), count: count, sasPerPiece: perPiece) { range in
            // The other work queued during the previous piece must have run by now.
            if otherWorkRun != produced.count { interleaved = false }
            produced.append(range.count)
            loop.execute { otherWorkRun += 1 }
            return range.map { Self.shadowSA(UInt64($0)) }
        }
        var end: StatusPieceWriter.End?
        StatusPieceWriter(stream, channel) { end = $0 }.writeNext()
        var rounds = 0
        while end == nil, rounds < 10_000 { loop.run(); rounds += 1 }
        XCTAssertEqual(end, .complete(pieces: 196, mostSAsInAPiece: perPiece))
        XCTAssertEqual(produced.count, 196)
        XCTAssertLessThanOrEqual(produced.max() ?? .max, perPiece)
        XCTAssertEqual(produced.reduce(0, +), count)
        XCTAssertTrue(interleaved, "other work on the loop ran between every two pieces")
        var written = Data()
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { written += Data(buffer.readableBytesView) }
        var whole = Self.targetHead()
        whole.target?.sas = (0..<count).map { Self.shadowSA(UInt64($0)) }
        XCTAssertEqual(String(decoding: written, as: UTF8.self), try wholeJSON(whole))
    }

    /// A client that goes away mid-stream: the next piece is not made, the writer ends.
    func testAClientThatDisconnectsStopsTheProduction() throws {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        var produced = 0
        let stream = NodeStatusStream(head: Self.targetHead(), count: 50_000, sasPerPiece: 256) { range in
            produced += 1
            if produced == 3 { channel.close(promise: nil) }
            return range.map { Self.shadowSA(UInt64($0)) }
        }
        var end: StatusPieceWriter.End?
        StatusPieceWriter(stream, channel) { end = $0 }.writeNext()
        var rounds = 0
        while end == nil, rounds < 1000 { channel.embeddedEventLoop.run(); rounds += 1 }
        XCTAssertEqual(end, .disconnected(pieces: 3))
        XCTAssertEqual(produced, 3, "nothing was made after the client went away")
    }

    /// The same over a real unix socket: the client reads a little and closes; the server stops.
    func testAClientThatClosesTheSocketStopsTheServersStream() throws {
        let path = NSTemporaryDirectory() + "status-stream-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let ended = expectation(description: "the stream ended")
        let outcome = LockedEnd()
        let server = try StatusSocketServer.start(path: path, group: group, stream: { [group] in
            group.next().makeSucceededFuture(NodeStatusStream(head: Self.targetHead(), count: 50_000) { range in
                range.map { Self.shadowSA(UInt64($0)) }
            })
        }, ended: { end in
            outcome.withLockedValue { $0 = end }
            ended.fulfill()
        }).wait()
        defer { try? server.close().wait() }
        let fd = try UnixStream.connect(path)
        var byte = [UInt8](repeating: 0, count: 4096)
        XCTAssertGreaterThan(read(fd, &byte, byte.count), 0, "the document began")
        close(fd)
        wait(for: [ended], timeout: 60)
        guard case .disconnected(let pieces) = outcome.withLockedValue({ $0 }) else {
            return XCTFail("the stream ended \(String(describing: outcome.withLockedValue { $0 })), not by the disconnect")
        }
        XCTAssertLessThan(pieces, 196, "the production stopped before the end of the document")
    }

    /// A client that shuts its sending side at once (as socat does when its stdin ends) gets
    /// the whole document even when the node takes a while to begin (the agent reads its kernel
    /// counters first): the lab's raw read of t1's socket got nothing before.
    func testAClientThatHalfClosesStillGetsTheWholeDocument() throws {
        let path = NSTemporaryDirectory() + "status-stream-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let server = try StatusSocketServer.start(path: path, group: group, stream: { [group] in
            group.next().scheduleTask(in: .milliseconds(300)) {
                NodeStatusStream(head: Self.targetHead(), count: 2000) { range in range.map { Self.shadowSA(UInt64($0)) } }
            }.futureResult
        }).wait()
        defer { try? server.close().wait() }
        let fd = try UnixStream.connect(path)
        defer { close(fd) }
        XCTAssertEqual(shutdown(fd, Int32(SHUT_WR)), 0)
        let data = try UnixStream.readToEnd(fd, timeout: 30)
        XCTAssertEqual(try JSONDecoder().decode(NodeStatus.self, from: data).target?.sas.count, 2000)
    }

    /// The routing node's socket end to end: `vipsec status` reads the streamed document.
    func testTheRoutingNodesSocketServesTheStreamedDocument() async throws {
        let service = try routingService(count: 5000)
        let path = NSTemporaryDirectory() + "status-stream-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let ended = LockedEnd()
        let server = try await StatusSocketServer.start(path: path, group: service.loop, stream: { service.statusStream() },
                                                        ended: { end in ended.withLockedValue { $0 = end } }).get()
        let (status, json) = try StatusClient.read(path: path, timeout: 60)
        try await server.close().get()
        let whole = try await service.loop.submit { service.makeStatus() }.get()
        XCTAssertEqual(normalised(String(decoding: json, as: UTF8.self)), normalised(try wholeJSON(whole)))
        XCTAssertEqual(status.routing?.sas.count, 5000)
        XCTAssertEqual(ended.withLockedValue { $0 }, .complete(pieces: 20, mostSAsInAPiece: 256))
    }

    static func targetHead() -> NodeStatus {
        NodeStatus(role: "target", node: "t1", target: TargetStatus(
            epoch: "5eed", connected: true, routing: "192.0.2.10:4501", dvipa: "192.0.2.100", graceSeconds: 30,
            lastContactMillisecondsAgo: 5, sas: [],
            drops: DropStatus(frames: ["tls-handshake": 1], connectionsClosedForFraming: 0, fromNonMembers: 0, unexpected: 0, unknownSA: 0),
            kernelErrors: [], reconnects: 0))
    }

    static func shadowSA(_ id: UInt64) -> ShadowSAStatus {
        ShadowSAStatus(id: id, spi: String(format: "0x%08x", id), direction: id % 2 == 0 ? "out" : "in", source: "192.0.2.1",
                       destination: "192.0.2.100", sequencing: "local", inKernel: id % 3 != 0, bytes: id, packets: id / 10,
                       outputSequence: id % 2 == 0 ? id : nil, sequenceBlock: nil)
    }
}

/// How a stream ended, set on a loop and read by the test.
private final class LockedEnd: @unchecked Sendable {
    private let lock = NSLock()
    private var end: StatusPieceWriter.End?
    func withLockedValue<T>(_ body: (inout StatusPieceWriter.End?) -> T) -> T { lock.withLock { body(&end) } }
}
