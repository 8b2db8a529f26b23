import Cluster
import Foundation
import NIOCore

/// The cluster channel's handlers between TLS and a connection handler, the same on both
/// ends, and the three places where an InstallSA's key bytes pass through ByteBuffers in the
/// clear, each wiped once it is done with:
///
/// | where | wiped by |
/// |---|---|
/// | NIOSSL's plaintext read buffer, which it reuses for every read of the connection | `PlaintextHandOver`: copies what NIOSSL delivered and zeroes NIOSSL's bytes before anything parses them |
/// | the decoder's receive buffer (the copy) | `ClusterMessageDecoder`, once it parsed an InstallSA |
/// | the written frame | `ClusterMessageWriter`: a buffer of its own, zeroed when the write completed |
///
/// `ByteBuffer.setRepeatingByte` cannot do it: where another ByteBuffer shares the storage (as
/// NIOSSL keeps one on its read buffer) it copies the storage first and zeroes the copy, so
/// the bytes stay where they were. `wipeStorage` zeroes the shared storage itself.
/// (BoringSSL decrypts each record in place in a buffer it frees without zeroing it; the
/// agent has glibc zero every freed block for that: `ProcessHardening.wipeFreedMemory`.)
extension ChannelPipeline.SynchronousOperations {
    /// Adds the cluster codec after the TLS handler: hand-over, decoder, writer.
    public func addClusterCodec(drops: ClusterDropCounters) throws {
        try addHandler(PlaintextHandOver())
        try addHandler(ByteToMessageHandler(ClusterMessageDecoder(counters: drops)))
        try addHandler(ClusterMessageWriter())
    }
}

extension ByteBuffer {
    /// Zeroes `count` bytes at `index` in this buffer's storage in place, with
    /// `explicit_bzero`, whoever else holds a ByteBuffer on the same storage. Only for bytes
    /// nobody may read again (consumed key material); never for bytes another holder still
    /// means to read.
    func wipeStorage(at index: Int, count: Int) {
        guard count > 0 else { return }
        precondition(index >= 0 && index + count <= capacity, "wipeStorage outside the buffer")
        withVeryUnsafeBytes { storage in
            explicit_bzero(UnsafeMutableRawPointer(mutating: storage.baseAddress! + index), count)
        }
    }
}

/// Takes each plaintext buffer NIOSSL delivers, passes on a copy and zeroes NIOSSL's bytes in
/// place: NIOSSL reads every later record into the same storage and would otherwise keep the
/// last frames (an InstallSA's keys among them) until a longer read overwrote them.
final class PlaintextHandOver: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let delivered = unwrapInboundIn(data)
        var copy = context.channel.allocator.buffer(capacity: delivered.readableBytes)
        copy.writeImmutableBuffer(delivered)
        delivered.wipeStorage(at: delivered.readerIndex, count: delivered.readableBytes)
        context.fireChannelRead(wrapInboundOut(copy))
    }
}

/// Writes each outgoing `ClusterMessage` as one frame, in a buffer of its own (NIO's
/// `MessageToByteHandler` reuses one buffer, which would keep the last frame written). A frame
/// that carries keys is zeroed once its write completed, successfully or not: by then the
/// TLS handler has encrypted it and let it go.
final class ClusterMessageWriter: ChannelOutboundHandler {
    typealias OutboundIn = ClusterMessage
    typealias OutboundOut = ByteBuffer

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let message = unwrapOutboundIn(data)
        var frame = context.channel.allocator.buffer(capacity: 256)
        ClusterFrame.write(message, to: &frame)
        guard case .installSA = message else {
            context.write(wrapOutboundOut(frame), promise: promise)
            return
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenComplete { [frame] result in
            frame.wipeStorage(at: 0, count: frame.writerIndex)
            switch result {
            case .success: promise?.succeed(())
            case .failure(let error): promise?.fail(error)
            }
        }
        context.write(wrapOutboundOut(frame), promise: written)
    }
}
