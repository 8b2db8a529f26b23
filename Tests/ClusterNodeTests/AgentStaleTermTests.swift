import Cluster
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import XCTest
@testable import ClusterNode

/// No split brain (issue 19 item 4) at a real agent: a hand-driven routing node over real TLS
/// writes frames with any term it likes (as a deposed node could), and the agent drops those
/// older than the term it follows before they touch its cache or kernel, counting
/// `stale-term`; frames of a newer term are accepted; a stale Welcome closes the connection.
final class AgentStaleTermTests: ClusterHarnessTestCase {
    /// The routing node's end, without `ClusterService`: records what the agent sends and
    /// writes raw frames (`ClusterFrame.write` with a chosen term).
    final class RawRoutingNode: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ClusterFrame.Received
        let received = NIOLockedValueBox<[ClusterMessage]>([])
        let connection = NIOLockedValueBox<Channel?>(nil)
        let closed = NIOLockedValueBox(0)

        func channelActive(context: ChannelHandlerContext) {
            connection.withLockedValue { $0 = context.channel }
            context.fireChannelActive()
        }

        func channelInactive(context: ChannelHandlerContext) {
            closed.withLockedValue { $0 += 1 }
            context.fireChannelInactive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let message = unwrapInboundIn(data).message
            received.withLockedValue { $0.append(message) }
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }

        func send(_ message: ClusterMessage, term: ClusterTerm) async throws {
            guard let channel = connection.withLockedValue({ $0 }) else { throw XFRMTestError.refused }
            var buffer = channel.allocator.buffer(capacity: 256)
            ClusterFrame.write(message, term: term, to: &buffer)
            try await channel.writeAndFlush(buffer).get()
        }

        var hellos: Int { received.withLockedValue { $0.filter { if case .hello = $0 { return true } else { return false } }.count } }
        func acks(_ operation: ClusterMessageType) -> [ClusterSAID] {
            received.withLockedValue {
                $0.compactMap { if case .ack(let ack) = $0, ack.operation == operation { return ack.saID } else { return nil } }
            }
        }
    }

    func testFramesOfAnOlderTermAreDroppedAndCountedAndChangeNothing() async throws {
        let node = RawRoutingNode()
        let context = try NIOSSLContext(configuration: try harness.pki.credentials("router").serverConfiguration())
        let server = try await ServerBootstrap(group: harness.group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(NIOSSLServerHandler(context: context))
                    try sync.addHandler(ByteToMessageHandler(ClusterMessageDecoder(counters: ClusterDropCounters())))
                    try sync.addHandler(node)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        harness.port = try XCTUnwrap(server.localAddress?.port)
        let kernel = RecordingKernel()
        let agent = try await harness.startAgent("t1", kernel: kernel)
        func target() async throws -> TargetStatus {
            let status = try await agent.status().get()
            return try XCTUnwrap(status.target)
        }
        func stale() -> Int { agent.drops.snapshot["stale-term", default: 0] }

        let helloed = await eventually(10) { node.hellos == 1 }
        XCTAssertTrue(helloed)
        let epoch = ClusterEpoch(rawValue: 1)   // testSA's
        try await node.send(.welcome(.init(epoch: epoch, heartbeatIntervalMilliseconds: 100, failureTimeoutMilliseconds: 5000)),
                            term: ClusterTerm(9))
        try await node.send(.installSA(.init(sa: testSA(1, spi: 0x7001))), term: ClusterTerm(9))
        let installed = await eventually(5) { node.acks(.installSA) == [ClusterSAID(1)] }
        XCTAssertTrue(installed)
        XCTAssertEqual(kernel.spis, [0x7001])
        let nine = try await target().term
        XCTAssertEqual(nine, 9)

        // A deposed node's frames (term 3): a delete, an install, a FullState naming nothing.
        try await node.send(.deleteSA(.init(saID: ClusterSAID(1), epoch: epoch)), term: ClusterTerm(3))
        try await node.send(.installSA(.init(sa: testSA(2, spi: 0x7002))), term: ClusterTerm(3))
        try await node.send(.fullState(.init(epoch: epoch, saIDs: [])), term: ClusterTerm(3))
        let counted = await eventually(5) { stale() == 3 }
        XCTAssertTrue(counted, "three stale frames counted, got \(stale())")
        var status = try await target()
        XCTAssertEqual(status.term, 9)
        XCTAssertTrue(status.connected, "stale frames after the Welcome drop the frame, not the connection")
        XCTAssertEqual(status.sas.count, 1, "the cache is untouched")
        XCTAssertEqual(kernel.spis, [0x7001], "the kernel is untouched")
        XCTAssertEqual(node.acks(.deleteSA), [], "nothing answered a stale frame")
        XCTAssertEqual(node.acks(.installSA), [ClusterSAID(1)])

        // A newer term (a takeover on this connection): accepted and followed.
        try await node.send(.deleteSA(.init(saID: ClusterSAID(1), epoch: epoch)), term: ClusterTerm(10))
        let deleted = await eventually(5) { node.acks(.deleteSA) == [ClusterSAID(1)] }
        XCTAssertTrue(deleted)
        XCTAssertEqual(kernel.spis, [])
        status = try await target()
        XCTAssertEqual(status.term, 10)
        // Term 9 is stale now.
        try await node.send(.installSA(.init(sa: testSA(3, spi: 0x7003))), term: ClusterTerm(9))
        let four = await eventually(5) { stale() == 4 }
        XCTAssertTrue(four)
        XCTAssertEqual(kernel.spis, [])

        try await node.send(.installSA(.init(sa: testSA(4, spi: 0x7004))), term: ClusterTerm(10))
        let held = await eventually(5) { node.acks(.installSA) == [ClusterSAID(1), ClusterSAID(4)] }
        XCTAssertTrue(held)
        XCTAssertEqual(kernel.spis, [0x7004])

        // A Welcome of an older term (into another epoch, which would make the agent drop every
        // SA) closes the connection; the SA stays; the agent comes back with a Hello.
        try await node.send(.welcome(.init(epoch: ClusterEpoch(rawValue: 2), heartbeatIntervalMilliseconds: 100,
                                           failureTimeoutMilliseconds: 5000)), term: ClusterTerm(4))
        let closedByAgent = await eventually(5) { node.closed.withLockedValue { $0 } >= 1 && node.hellos >= 2 }
        XCTAssertTrue(closedByAgent, "the agent closed the stale Welcome's connection and tried again")
        XCTAssertEqual(stale(), 5)
        status = try await target()
        XCTAssertEqual(status.term, 10)
        XCTAssertEqual(status.epoch, "1", "a stale Welcome into another epoch did not move the cache's epoch")
        XCTAssertEqual(status.sas.count, 1, "nor empty the cache")
        XCTAssertEqual(kernel.spis, [0x7004], "nor the kernel")
        try await server.close()
    }
}
