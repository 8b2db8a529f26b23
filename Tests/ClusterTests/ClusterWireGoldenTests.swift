import NIOCore
import XCTest
@testable import Cluster

/// The bytes of every message on the cluster channel, frame header included, as captured
/// from the encoder: a change to a body's layout shows here even when it is symmetric (a
/// round trip would still pass).
final class ClusterWireGoldenTests: XCTestCase {
    func messages() throws -> [ClusterMessage] {
        let t1 = Fixture.node("t1")
        return [
            .hello(.init(nodeID: t1, clusterAddress: .v4(10, 9, 0, 1), capabilities: [.extendedSequenceNumbers, .offload],
                         maximumReplayWindow: 4096, incarnation: 77, heldEpoch: Fixture.epoch)),
            .hello(.init(nodeID: Fixture.node("t2"), clusterAddress: try IPAddress(bytes: Array(0..<16)),
                         capabilities: [], maximumReplayWindow: 32, incarnation: .max, heldEpoch: .none)),
            .welcome(.init(epoch: Fixture.epoch, heartbeatIntervalMilliseconds: 500, failureTimeoutMilliseconds: 3000)),
            .heartbeat(.init(epoch: Fixture.epoch, counter: 9)),
            .installSA(.init(sa: Fixture.sa(1))),
            .installSA(.init(sa: Fixture.sa(2, direction: .outbound, sequencing: .perTarget(owner: t1)))),
            .installSA(.init(sa: Fixture.sa(3, direction: .outbound, sequencing: .shared(blockSize: 1024)))),
            .deleteSA(.init(saID: ClusterSAID(4), epoch: Fixture.epoch)),
            .ack(.init(saID: ClusterSAID(5), operation: .deleteSA)),
            .nack(.init(saID: ClusterSAID(6), operation: .installSA, reason: .kernelRejected, detail: "File exists")),
            .lifesizeReport(.init(saID: ClusterSAID(7), bytes: 123_456, packets: 789, hardLimitReached: true)),
            .sequenceBlockRequest(.init(saID: ClusterSAID(8), currentBlockFirst: 1025)),
            .sequenceBlockGrant(.init(saID: ClusterSAID(8), block: try SequenceBlock(first: 2049, last: 3072), softPacketLimit: 768)),
            .resyncRequest(.init(heldEpoch: Fixture.epoch)),
            .fullState(.init(epoch: Fixture.epoch, saIDs: [ClusterSAID(1), ClusterSAID(0x0102_0304_0506_0708)])),
            .fullState(.init(epoch: Fixture.epoch, saIDs: [])),
        ]
    }

    func testEveryMessageHasItsGoldenBytes() throws {
        let messages = try messages()
        let frames = messages.map { message in
            Fixture.frame(message).readableBytesView.map { String(format: "%02x", $0) }.joined()
        }
        XCTAssertEqual(frames.count, Self.golden.count)
        for (index, (frame, golden)) in zip(frames, Self.golden).enumerated() {
            XCTAssertEqual(frame, golden, "message \(index): \(messages[index])")
        }
    }

    /// HA: a Welcome, an InstallSA, a DeleteSA and a sequence block grant with the leader's
    /// term: version 2, the term after the length, the body exactly as in version 1 (the
    /// version 1 frames above are unchanged: without HA nothing changed on the wire).
    func testFramesWithATermHaveTheirGoldenBytes() throws {
        let term = ClusterTerm(0x0000_0000_0000_1f2e)
        let all = try messages()
        for (index, golden) in Self.termGolden {
            var buffer = ByteBuffer()
            ClusterFrame.write(all[index], term: term, to: &buffer)
            let hex = buffer.readableBytesView.map { String(format: "%02x", $0) }.joined()
            XCTAssertEqual(hex, golden, "message \(index): \(all[index])")
            // The same body as the version 1 golden, behind a 16-byte header.
            XCTAssertEqual(String(hex.dropFirst(32)), String(Self.golden[index].dropFirst(16)))
        }
    }

    static let termGolden: [(Int, String)] = [
        (2, "56430202000000100000000000001f2e0000123456789abc000001f400000bb8"),
        (4, "56430204000000bc0000000000001f2e00000000000000010000123456789abc00000002c00000010104c633640104c000020a320100010111726663343130362867636d28616573292900800024a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5010000100000000000000dbba000000000000f4240ffffffffffffffffffffffffffffffff0000000000000000000000000000000000000000000186a00001040a01000010040a02000010000000001101119411940000000700"),
        (7, "56430205000000100000000000001f2e00000000000000040000123456789abc"),
        (12, "5643020a000000200000000000001f2e000000000000000800000000000008010000000000000c000000000000000300"),
    ]

    static let golden: [String] = [
        "5643010100000020027431040a0900010000000300001000000000000000004d0000123456789abc",
        "564301010000002c02743206000102030405060708090a0b0c0d0e0f0000000000000020ffffffffffffffff0000000000000000",
        "56430102000000100000123456789abc000001f400000bb8",
        "56430103000000100000123456789abc0000000000000009",
        "56430104000000bc00000000000000010000123456789abc00000002c00000010104c633640104c000020a320100010111726663343130362867636d28616573292900800024a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5010000100000000000000dbba000000000000f4240ffffffffffffffffffffffffffffffff0000000000000000000000000000000000000000000186a00001040a01000010040a02000010000000001101119411940000000700",
        "56430104000000bf00000000000000020000123456789abc00000002c00000020204c000020a04c6336401320100010111726663343130362867636d28616573292900800024a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5010000100000000000000dbba000000000000f4240ffffffffffffffffffffffffffffffff0000000000000000000000000000000000000000000186a00001040a01000010040a02000010000000001101119411940000000701027431",
        "56430104000000c400000000000000030000123456789abc00000002c00000030204c000020a04c6336401320100010111726663343130362867636d28616573292900800024a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5010000100000000000000dbba000000000000f4240ffffffffffffffffffffffffffffffff0000000000000000000000000000000000000000000186a00001040a01000010040a020000100000000011011194119400000007020000000000000400",
        "564301050000001000000000000000040000123456789abc",
        "5643010600000009000000000000000505",
        "5643010700000016000000000000000604010b46696c6520657869737473",
        "56430108000000190000000000000007000000000001e240000000000000031501",
        "564301090000001000000000000000080000000000000401",
        "5643010a00000020000000000000000800000000000008010000000000000c000000000000000300",
        "5643010b000000080000123456789abc",
        "5643010c0000001a0000123456789abc000200000000000000010102030405060708",
        "5643010c0000000a0000123456789abc0000",
    ]
}
