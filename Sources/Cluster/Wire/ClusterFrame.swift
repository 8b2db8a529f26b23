import NIOCore

/// The cluster channel's framing. Every message travels in one frame, in one of two versions:
///
/// ```
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |       magic 0x5643 ("VC")     |  version 1/2  | message type  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                      body length (bytes)                      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                  term (u64), version 2 only                   |
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     body (message type's layout)              ~
/// ```
///
/// Version 1 carries no term (`ClusterTerm.none`): every frame without HA, and every frame an
/// agent sends. Version 2 carries the sending routing node's HA term (never 0) after the
/// length, which counts the body only; a routing node with `ha { }` writes every frame of a
/// connection as version 2 with the term under which it accepted the connection. So without
/// HA the bytes are exactly those of version 1, and with HA every message from the routing
/// node (Welcome, InstallSA, DeleteSA, FullState, sequence block grants, heartbeats) carries
/// the leader's term. All integers are big-endian. The frame rides inside the TLS channel; the
/// framing guards against bugs and version skew, not against an attacker (TLS does that).
public enum ClusterFrame {
    /// "VC": vipsec cluster.
    public static let magic: UInt16 = 0x5643
    /// The version without a term (and the one written when the term is `.none`).
    public static let version: UInt8 = 1
    /// The version whose header carries the sender's term.
    public static let termVersion: UInt8 = 2
    /// Bytes before the body in a version 1 frame.
    public static let headerLength = 8
    /// Bytes before the body in a version 2 frame (the term follows the length).
    public static let termHeaderLength = 16
    /// The default cap on a body (a FullState for 8000 SAs fits).
    public static let defaultMaximumBodyLength = 64 * 1024

    /// A frame as received: the sender's term (`.none` in a version 1 frame) and its message.
    public struct Received: Equatable, Sendable {
        public var term: ClusterTerm
        public var message: ClusterMessage

        public init(term: ClusterTerm, message: ClusterMessage) {
            self.term = term
            self.message = message
        }
    }

    /// Appends `message` as one frame to `buffer`: version 1 without a term (`.none`, the
    /// bytes of every build before the term), version 2 with it.
    public static func write(_ message: ClusterMessage, term: ClusterTerm = .none, to buffer: inout ByteBuffer) {
        buffer.writeInteger(magic)
        buffer.writeInteger(term == .none ? version : termVersion)
        buffer.writeInteger(message.type.rawValue)
        let lengthIndex = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        if term != .none { buffer.writeInteger(term.rawValue) }
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

    /// The next message in `buffer`, or nil when more bytes are needed (its term, if any, is
    /// dropped: `decodeFrame` keeps it).
    public func decode(_ buffer: inout ByteBuffer) throws -> ClusterMessage? {
        try decodeFrame(&buffer)?.message
    }

    /// The next frame in `buffer` with the sender's term, or nil when more bytes are needed.
    /// A version 2 frame whose term is 0 is consumed and refused (`invalidValue`).
    public func decodeFrame(_ buffer: inout ByteBuffer) throws -> ClusterFrame.Received? {
        guard buffer.readableBytes >= ClusterFrame.headerLength else {
            // Reject a wrong magic or version as soon as those bytes are in.
            if let magic = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self), magic != ClusterFrame.magic {
                throw ClusterWireError.badMagic(magic)
            }
            if let version = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt8.self),
               version != ClusterFrame.version, version != ClusterFrame.termVersion {
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
        guard version == ClusterFrame.version || version == ClusterFrame.termVersion else {
            throw ClusterWireError.unsupportedVersion(version)
        }
        guard length <= maximumBodyLength else {
            throw ClusterWireError.frameTooLarge(length: length, limit: maximumBodyLength)
        }
        let headerLength = version == ClusterFrame.termVersion ? ClusterFrame.termHeaderLength : ClusterFrame.headerLength
        guard buffer.readableBytes >= headerLength + length else { return nil }
        let term = version == ClusterFrame.termVersion
            ? ClusterTerm(buffer.getInteger(at: start + ClusterFrame.headerLength, as: UInt64.self) ?? 0) : .none
        buffer.moveReaderIndex(forwardBy: headerLength)
        // The frame is consumed from here on, whatever its body holds.
        guard var body = buffer.readSlice(length: length) else { return nil }
        guard version == ClusterFrame.version || term != .none else {
            throw ClusterWireError.invalidValue(field: "frame term", reason: "zero in a version \(version) frame")
        }
        let message = try ClusterMessage(type: type, parsing: &body)
        guard body.readableBytes == 0 else {
            throw ClusterWireError.trailingBytes(type: type, count: body.readableBytes)
        }
        return ClusterFrame.Received(term: term, message: message)
    }
}
