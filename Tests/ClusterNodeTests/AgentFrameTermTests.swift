import Cluster
import NIOCore
import NIOEmbedded
import XCTest
@testable import ClusterNode

/// The agent's writer (`addClusterCodec(currentTerm:)`): without a term (no HA) its frames
/// are version 1, byte for byte what `ClusterFrame.write` made before terms (pinned by
/// ClusterWireGoldenTests); once the agent follows a term, every frame is version 2 with the
/// term read when the frame is written.
final class AgentFrameTermTests: XCTestCase {
    private let hello = ClusterMessage.hello(.init(nodeID: try! NodeID("t1"), clusterAddress: .v4(10, 9, 0, 1),
                                                   capabilities: [.extendedSequenceNumbers], maximumReplayWindow: 4096,
                                                   incarnation: 77, heldEpoch: .none))
    private let ack = ClusterMessage.ack(.init(saID: ClusterSAID(5), operation: .installSA))

    private func written(_ channel: EmbeddedChannel) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { bytes += buffer.readableBytesView }
        return bytes
    }

    private func frame(_ message: ClusterMessage, term: ClusterTerm = .none) -> [UInt8] {
        var buffer = ByteBuffer()
        ClusterFrame.write(message, term: term, to: &buffer)
        return Array(buffer.readableBytesView)
    }

    func testWithoutATermTheAgentWritesVersion1FramesUnchanged() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addClusterCodec(drops: ClusterDropCounters(), currentTerm: { .none })
        try channel.writeAndFlush(hello).wait()
        let bytes = try written(channel)
        XCTAssertEqual(bytes, frame(hello))
        XCTAssertEqual(Array(bytes.prefix(3)), [0x56, 0x43, 0x01], "magic VC, version 1")
    }

    func testTheTermFollowedWhenAFrameIsWrittenIsTheOneItCarries() throws {
        var followed = ClusterTerm.none
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addClusterCodec(drops: ClusterDropCounters(), currentTerm: { followed })
        try channel.writeAndFlush(hello).wait()
        followed = ClusterTerm(12)   // a Welcome of term 12 accepted
        try channel.writeAndFlush(ack).wait()
        XCTAssertEqual(try written(channel), frame(hello) + frame(ack, term: ClusterTerm(12)))

        // The routing node's decoder reads the term back.
        var buffer = ByteBuffer(bytes: frame(ack, term: ClusterTerm(12)))
        let received = try ClusterFrameDecoder().decodeFrame(&buffer)
        XCTAssertEqual(received, ClusterFrame.Received(term: ClusterTerm(12), message: ack))
    }
}
