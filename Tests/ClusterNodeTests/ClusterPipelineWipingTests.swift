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
        guard case .installSA(let install)? = try channel.readInbound(as: ClusterMessage.self) else {
            return XCTFail("no InstallSA decoded")
        }
        XCTAssertEqual(install.sa.spi, 0x7007)
        XCTAssertTrue(install.sa.algorithms[0].key.withUnsafeBytes { Array($0) } == keyBytes)
        guard case .heartbeat? = try channel.readInbound(as: ClusterMessage.self) else { return XCTFail("no heartbeat") }
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

    /// The written InstallSA frame is zeroed once its write completed; other frames are left.
    func testTheWrittenInstallSAFrameIsZeroedWhenItsWriteCompleted() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addClusterCodec(drops: ClusterDropCounters())
        let written = channel.eventLoop.makePromise(of: Void.self)
        channel.write(ClusterMessage.installSA(.init(sa: sa)), promise: written)
        channel.writeAndFlush(ClusterMessage.heartbeat(.init(epoch: ClusterEpoch(rawValue: 1), counter: 9)), promise: nil)
        // EmbeddedChannel completes a write's promise when it is flushed: both are done.
        try written.futureResult.wait()
        let install = try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self))
        let heartbeat = try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self))
        XCTAssertTrue(install.withVeryUnsafeBytes { $0[0..<install.writerIndex].allSatisfy { $0 == 0 } },
                      "the InstallSA frame is not zeroed")
        var copy = heartbeat
        XCTAssertEqual(try ClusterFrameDecoder().decode(&copy), .heartbeat(.init(epoch: ClusterEpoch(rawValue: 1), counter: 9)),
                       "a frame without keys is left as written")
        _ = try channel.finish()
    }
}
