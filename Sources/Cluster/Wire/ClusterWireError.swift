/// What is wrong with bytes received on the cluster channel.
///
/// The shell drops the offending frame and counts it by `counterName`; when
/// `closesConnection` is true the stream's framing can no longer be trusted and the shell
/// closes the connection (the peer reconnects and resynchronises).
public enum ClusterWireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The frame does not start with the cluster magic.
    case badMagic(UInt16)
    /// The frame's protocol version is not one this build speaks.
    case unsupportedVersion(UInt8)
    /// The frame announces a body larger than the cap.
    case frameTooLarge(length: Int, limit: Int)
    /// The frame's message type is not known to this build.
    case unknownMessageType(ClusterMessageType)
    /// The body ended before `field`.
    case truncated(field: String)
    /// `field` holds a value that is not allowed.
    case invalidValue(field: String, reason: String)
    /// The body has bytes left over after the message.
    case trailingBytes(type: ClusterMessageType, count: Int)

    /// True when the byte stream is out of step and the connection must be closed.
    public var closesConnection: Bool {
        switch self {
        case .badMagic, .unsupportedVersion, .frameTooLarge: return true
        case .unknownMessageType, .truncated, .invalidValue, .trailingBytes: return false
        }
    }

    /// A short stable name for drop counters (`vipsec status`).
    public var counterName: String {
        switch self {
        case .badMagic: return "bad-magic"
        case .unsupportedVersion: return "unsupported-version"
        case .frameTooLarge: return "frame-too-large"
        case .unknownMessageType: return "unknown-type"
        case .truncated: return "truncated"
        case .invalidValue: return "invalid-value"
        case .trailingBytes: return "trailing-bytes"
        }
    }

    public var description: String {
        switch self {
        case .badMagic(let magic):
            return "cluster frame: bad magic 0x\(String(magic, radix: 16))"
        case .unsupportedVersion(let version):
            return "cluster frame: unsupported version \(version) (this build speaks \(ClusterFrame.version) and \(ClusterFrame.termVersion))"
        case .frameTooLarge(let length, let limit):
            return "cluster frame: body of \(length) bytes exceeds the \(limit)-byte cap"
        case .unknownMessageType(let type):
            return "cluster frame: unknown message type \(type.rawValue)"
        case .truncated(let field):
            return "cluster message: truncated at \(field)"
        case .invalidValue(let field, let reason):
            return "cluster message: invalid \(field): \(reason)"
        case .trailingBytes(let type, let count):
            return "cluster message \(type): \(count) unexpected trailing bytes"
        }
    }
}
