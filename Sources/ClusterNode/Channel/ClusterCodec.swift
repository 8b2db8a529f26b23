import Cluster
import Foundation
import NIOCore

/// Counts what arrived on the cluster channel and was dropped, by the stable names of
/// `ClusterWireError.counterName` plus a few of the shell's own (`tls-handshake`,
/// `node-id-mismatch`, `before-hello`, ...). Shared by every connection of a node; read
/// by `vipsec status`.
public final class ClusterDropCounters: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [String: Int] = [:]
    /// Connections closed because their byte stream lost its framing.
    private var closed = 0

    public init() {}

    /// Adds one to `name`.
    public func count(_ name: String) {
        lock.lock(); counts[name, default: 0] += 1; lock.unlock()
    }

    /// Records a connection closed for lost framing.
    public func countClosedConnection() {
        lock.lock(); closed += 1; lock.unlock()
    }

    /// Every counter by name (only those that are not zero).
    public var snapshot: [String: Int] { lock.withLock { counts } }

    /// The number of connections closed because their framing was lost.
    public var closedConnections: Int { lock.withLock { closed } }

    /// All drops together.
    public var total: Int { lock.withLock { counts.values.reduce(0, +) } }
}

/// Cuts frames (`ClusterFrame.Received`: the sender's term and its `ClusterMessage`) out of
/// the decrypted TLS byte stream with `ClusterFrameDecoder`.
///
/// A frame whose body is malformed (truncated, invalid value, unknown type, trailing bytes)
/// is dropped and counted and the next frame is read. A frame whose header is wrong (bad
/// magic, unknown version, oversized) means the stream can no longer be cut into frames:
/// it is counted, the rest of the buffer is discarded and the connection closed. Never a crash.
public struct ClusterMessageDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ClusterFrame.Received

    private let decoder: ClusterFrameDecoder
    private let counters: ClusterDropCounters
    private var closing = false

    public init(counters: ClusterDropCounters, maximumBodyLength: Int = ClusterFrame.defaultMaximumBodyLength) {
        decoder = ClusterFrameDecoder(maximumBodyLength: maximumBodyLength)
        self.counters = counters
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard !closing else {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        let start = buffer.readerIndex
        do {
            guard let frame = try decoder.decodeFrame(&buffer) else { return .needMoreData }
            if case .installSA = frame.message {
                // The frame carried key bytes: wipe them from the receive buffer's storage
                // (the parsed keys live in SecretBytes, which wipes itself).
                buffer.wipeStorage(at: start, count: buffer.readerIndex - start)
            }
            context.fireChannelRead(wrapInboundOut(frame))
            return .continue
        } catch let error as ClusterWireError {
            counters.count(error.counterName)
            guard error.closesConnection else { return .continue }
            closing = true
            counters.countClosedConnection()
            buffer.moveReaderIndex(to: buffer.writerIndex)
            context.close(promise: nil)
            return .needMoreData
        }
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer,
                                    seenEOF: Bool) throws -> DecodingState {
        // Whole frames left at the end are still delivered; a partial frame is counted.
        while !closing, try decode(context: context, buffer: &buffer) == .continue {}
        if buffer.readableBytes > 0 && !closing {
            counters.count("truncated-at-close")
            buffer.moveReaderIndex(to: buffer.writerIndex)
        }
        return .needMoreData
    }
}
