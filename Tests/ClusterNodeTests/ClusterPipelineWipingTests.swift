import Cluster
import NIOCore
import NIOEmbedded
import XCTest
@testable import ClusterNode

/// The cluster channel's plaintext copies of an InstallSA's keys are zeroed in the storage
/// itself, also where another ByteBuffer shares it (as NIOSSL keeps one on its read buffer):
/// `ClusterPipeline.swift`.
final class ClusterPipelineWipingTests: XCTestCase {
    private let sa = testSA(7, spi: 0x7007)
    private var keyBytes: [UInt8] { sa.algorithms[0].key.withUnsafeBytes { Array($0) } }

    private func frame(_ message: ClusterMessage) -> ByteBuffer {
        var buffer = ByteBuffer()
        ClusterFrame.write(message, to: &buffer)
        return buffer
    }

    private func holdsKey(_ buffer: ByteBuffer, upTo end: Int) -> Bool {
        buffer.withVeryUnsafeBytes { storage in
            let bytes = Array(storage[0..<end])
            let key = keyBytes
            return bytes.count >= key.count && (0...(bytes.count - key.count)).contains { bytes[$0..<$0 + key.count].elementsEqual(key) }
        }
    }

    /// What NIOSSL delivers: its read buffer, which it keeps a reference to and reuses.
    func testTheDeliveredBufferIsZeroedInPlaceAndTheMessageStillArrives() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addClusterCodec(drops: ClusterDropCounters())
        var delivered = frame(.installSA(.init(sa: sa)))
        delivered.writeImmutableBuffer(frame(.heartbeat(.init(epoch: ClusterEpoch(rawValue: 1), counter: 5))))
        let nioSSLsOwn = delivered   // shares the storage, as NIOSSL's plaintextReadBuffer does
        let end = delivered.writerIndex
        XCTAssertTrue(holdsKey(nioSSLsOwn, upTo: end), "the control: the frame holds the key")

        try channel.writeInbound(delivered)
        guard case .installSA(let install)? = try channel.readInbound(as: ClusterFrame.Received.self)?.message else {
            return XCTFail("no InstallSA decoded")
        }
        XCTAssertEqual(install.sa.spi, 0x7007)
        XCTAssertTrue(install.sa.algorithms[0].key.withUnsafeBytes { Array($0) } == keyBytes)
        guard case .heartbeat? = try channel.readInbound(as: ClusterFrame.Received.self)?.message else { return XCTFail("no heartbeat") }
        XCTAssertFalse(holdsKey(nioSSLsOwn, upTo: end), "NIOSSL's buffer still holds the key")
        XCTAssertTrue(nioSSLsOwn.withVeryUnsafeBytes { $0[0..<end].allSatisfy { $0 == 0 } })
        _ = try channel.finish()
    }

    /// `setRepeatingByte` on a shared buffer would zero a copy: `wipeStorage` zeroes the bytes
    /// every sharer sees.
    func testWipeStorageReachesEverySharer() {
        var buffer = ByteBuffer(bytes: [1, 2, 3, 4, 5, 6])
        let sharer = buffer
        buffer.setRepeatingByte(0, count: 2, at: 0)
        XCTAssertEqual(sharer.getBytes(at: 0, length: 2), [1, 2], "setRepeatingByte copied the storage")
        sharer.wipeStorage(at: 2, count: 3)
        let other = sharer
        XCTAssertEqual(other.getBytes(at: 0, length: 6), [1, 2, 0, 0, 0, 6])
    }

    /// The frames written between two flushes leave as one buffer (one TLS record); one that
    /// carried an InstallSA is zeroed once its write completed; frames without keys are left.
    func testFramesUpToAFlushLeaveAsOneBufferZeroedOnceWrittenWhenItHeldKeys() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addClusterCodec(drops: ClusterDropCounters())
        let beat = { (n: UInt64) in ClusterMessage.heartbeat(.init(epoch: ClusterEpoch(rawValue: 1), counter: n)) }
        let installWritten = channel.eventLoop.makePromise(of: Void.self)
        channel.write(ClusterMessage.installSA(.init(sa: sa)), promise: installWritten)
        channel.write(beat(1), promise: nil)
        XCTAssertNil(try channel.readOutbound(as: ByteBuffer.self), "nothing leaves before the flush")
        channel.flush()
        try installWritten.futureResult.wait()   // EmbeddedChannel completes writes as they are flushed
        let first = try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self))
        XCTAssertNil(try channel.readOutbound(as: ByteBuffer.self), "two frames, one buffer")
        XCTAssertEqual(first.readableBytes, frame(.installSA(.init(sa: sa))).readableBytes + frame(beat(1)).readableBytes)
        XCTAssertTrue(first.withVeryUnsafeBytes { $0[0..<first.writerIndex].allSatisfy { $0 == 0 } },
                      "the buffer that carried the InstallSA is not zeroed")

        channel.write(beat(2), promise: nil)
        channel.writeAndFlush(beat(3), promise: nil)
        var second = try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self))
        let decoder = ClusterFrameDecoder()
        XCTAssertEqual(try decoder.decode(&second), beat(2), "frames without keys are left as written")
        XCTAssertEqual(try decoder.decode(&second), beat(3))
        _ = try channel.finish()
    }

    /// Frames never flushed when the channel closes: their promises fail.
    func testUnflushedFramesFailTheirPromisesAtClose() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addClusterCodec(drops: ClusterDropCounters())
        let written = channel.eventLoop.makePromise(of: Void.self)
        channel.write(ClusterMessage.installSA(.init(sa: sa)), promise: written)
        _ = try? channel.finish()
        XCTAssertThrowsError(try written.futureResult.wait())
    }
}
