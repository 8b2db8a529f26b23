import NIOCore

/// The cluster channel's framing. Every message travels in one frame:
///
/// ```
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |       magic 0x5643 ("VC")     |    version    | message type  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                      body length (bytes)                      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     body (message type's layout)              ~
/// ```
///
/// All integers are big-endian. The frame rides inside the TLS channel; the framing guards
/// against bugs and version skew, not against an attacker (TLS does that).
public enum ClusterFrame {
    /// "VC": vipsec cluster.
    public static let magic: UInt16 = 0x5643
    /// The one protocol version this build speaks; any other is rejected.
    public static let version: UInt8 = 1
    /// Bytes before the body.
    public static let headerLength = 8
    /// The default cap on a body (a FullState for 8000 SAs fits).
    public static let defaultMaximumBodyLength = 64 * 1024

    /// Appends `message` as one frame to `buffer`.
    public static func write(_ message: ClusterMessage, to buffer: inout ByteBuffer) {
        buffer.writeInteger(magic)
        buffer.writeInteger(version)
        buffer.writeInteger(message.type.rawValue)
        let lengthIndex = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        let bodyStart = buffer.writerIndex
        message.writeBody(to: &buffer)
        buffer.setInteger(UInt32(buffer.writerIndex - bodyStart), at: lengthIndex)
    }
}

/// Cuts frames off a byte stream and parses them.
///
/// `decode(_:)` returns nil while a frame is incomplete (nothing consumed). A header error
/// throws without consuming (the connection must close: `closesConnection`). A body error
/// consumes exactly that frame and throws, so the shell counts it and goes on with the next.
public struct ClusterFrameDecoder: Sendable {
    /// Frames announcing a larger body are refused before any of it is buffered.
    public var maximumBodyLength: Int

    /// Creates a decoder with the given body cap.
    public init(maximumBodyLength: Int = ClusterFrame.defaultMaximumBodyLength) {
        self.maximumBodyLength = maximumBodyLength
    }

    /// The next message in `buffer`, or nil when more bytes are needed.
    public func decode(_ buffer: inout ByteBuffer) throws -> ClusterMessage? {
        guard buffer.readableBytes >= ClusterFrame.headerLength else {
            // Reject a wrong magic or version as soon as those bytes are in.
            if let magic = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self), magic != ClusterFrame.magic {
                throw ClusterWireError.badMagic(magic)
            }
            if let version = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt8.self), version != ClusterFrame.version {
                throw ClusterWireError.unsupportedVersion(version)
            }
            return nil
        }
        let start = buffer.readerIndex
        // The guard above makes these reads safe; `?? 0` keeps them trap-free regardless.
        let magic = buffer.getInteger(at: start, as: UInt16.self) ?? 0
        let version = buffer.getInteger(at: start + 2, as: UInt8.self) ?? 0
        let type = ClusterMessageType(rawValue: buffer.getInteger(at: start + 3, as: UInt8.self) ?? 0)
        let length = Int(buffer.getInteger(at: start + 4, as: UInt32.self) ?? 0)
        guard magic == ClusterFrame.magic else { throw ClusterWireError.badMagic(magic) }
        guard version == ClusterFrame.version else { throw ClusterWireError.unsupportedVersion(version) }
        guard length <= maximumBodyLength else {
            throw ClusterWireError.frameTooLarge(length: length, limit: maximumBodyLength)
        }
        guard buffer.readableBytes >= ClusterFrame.headerLength + length else { return nil }
        buffer.moveReaderIndex(forwardBy: ClusterFrame.headerLength)
        // The frame is consumed from here on, whatever its body holds.
        guard var body = buffer.readSlice(length: length) else { return nil }
        let message = try ClusterMessage(type: type, parsing: &body)
        guard body.readableBytes == 0 else {
            throw ClusterWireError.trailingBytes(type: type, count: body.readableBytes)
        }
        return message
    }
}
