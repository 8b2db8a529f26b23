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
/// | the written frames | `ClusterMessageWriter`: a buffer of their own per flush, zeroed when the write completed |
///
/// `ByteBuffer.setRepeatingByte` cannot do it: where another ByteBuffer shares the storage (as
/// NIOSSL keeps one on its read buffer) it copies the storage first and zeroes the copy, so
/// the bytes stay where they were. `wipeStorage` zeroes the shared storage itself.
/// (BoringSSL decrypts each record in place in a buffer it frees without zeroing it; the
/// agent has glibc zero every freed block for that: `ProcessHardening.wipeFreedMemory`.)
extension ChannelPipeline.SynchronousOperations {
    /// Adds the cluster codec after the TLS handler: hand-over, decoder, writer. `term`: the
    /// HA term every frame written on this connection carries (`.none`: version 1 frames,
    /// as without HA). `currentTerm` instead (an agent): read on the channel's event loop for
    /// every frame, so frames carry the highest term the agent follows at the time.
    public func addClusterCodec(drops: ClusterDropCounters, term: ClusterTerm = .none,
                                currentTerm: (() -> ClusterTerm)? = nil) throws {
        try addHandler(PlaintextHandOver())
        try addHandler(ByteToMessageHandler(ClusterMessageDecoder(counters: drops)))
        try addHandler(ClusterMessageWriter(term: term, currentTerm: currentTerm))
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

/// Writes the `ClusterMessage`s written between two flushes as one buffer, so that the TLS
/// handler seals them into one record (NIOSSL makes a record per write): a CHILD_SA's
/// InstallSAs to a target, and an agent's acknowledgements of them, cost one record each
/// way, not one per frame. A buffer of its own per flush (NIO's `MessageToByteHandler`
/// reuses one, which would keep the last frames written); one that carried keys is zeroed
/// once its write completed, successfully or not: by then the TLS handler has sealed it and
/// let it go. Every frame carries the connection's `term` (fixed when the connection was
/// accepted: a routing node that loses its term closes its connections), or on an agent the
/// term it follows when the frame is written (`currentTerm`).
final class ClusterMessageWriter: ChannelOutboundHandler {
    typealias OutboundIn = ClusterMessage
    typealias OutboundOut = ByteBuffer

    private let term: ClusterTerm
    private let currentTerm: (() -> ClusterTerm)?

    init(term: ClusterTerm = .none, currentTerm: (() -> ClusterTerm)? = nil) {
        self.term = term
        self.currentTerm = currentTerm
    }

    private var pending: ByteBuffer?
    private var promises: [EventLoopPromise<Void>] = []
    private var pendingHoldsKeys = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let message = unwrapOutboundIn(data)
        if pending == nil { pending = context.channel.allocator.buffer(capacity: 512) }
        ClusterFrame.write(message, term: currentTerm?() ?? term, to: &pending!)
        if case .installSA = message { pendingHoldsKeys = true }
        if let promise { promises.append(promise) }
    }

    func flush(context: ChannelHandlerContext) {
        guard let frames = pending else { return context.flush() }
        let waiting = promises, holdsKeys = pendingHoldsKeys
        pending = nil
        promises = []
        pendingHoldsKeys = false
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenComplete { [frames] result in
            if holdsKeys { frames.wipeStorage(at: 0, count: frames.writerIndex) }
            for promise in waiting { promise.completeWith(result) }
        }
        context.writeAndFlush(wrapOutboundOut(frames), promise: written)
    }

    /// Frames written but never flushed: their promises fail, a buffer with keys is zeroed.
    func handlerRemoved(context: ChannelHandlerContext) {
        if pendingHoldsKeys, let frames = pending { frames.wipeStorage(at: 0, count: frames.writerIndex) }
        pending = nil
        for promise in promises { promise.fail(ChannelError.ioOnClosedChannel) }
        promises = []
    }
}

/// Flushes every channel written to once, at the end of the current turn of the loop that
/// owns them: the InstallSAs of CHILD_SAs negotiated together, or the acknowledgements of
/// installs that completed together, leave as one TLS record per connection. Confined to
/// `loop`, which must be the channels' own.
final class FlushAtEndOfTurn: @unchecked Sendable {
    private let loop: EventLoop
    private var written: [ObjectIdentifier: Channel] = [:]

    init(loop: EventLoop) {
        self.loop = loop
    }

    /// Writes `message` on `channel` and flushes it once this turn's work is done.
    func write(_ message: ClusterMessage, on channel: Channel) {
        loop.preconditionInEventLoop()
        channel.write(message, promise: nil)
        if written.isEmpty { loop.execute { self.flushAll() } }
        written[ObjectIdentifier(channel)] = channel
    }

    private func flushAll() {
        let channels = written.values
        written = [:]
        for channel in channels { channel.flush() }
    }
}
