// The one error type of the IKEv2 wire codec, and the one table that says what the
// peer is told about each error (RFC 7296 sections 2.5, 3.2, 3.10.1).

/// A malformed or unacceptable IKE message. Every case names what is wrong, and maps to
/// the notify the RFC says a responder sends (`notifyMessageType`, `notificationData`).
/// Descriptions never contain payload contents, only structure.
public enum IKEParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Fewer octets were left than the named field or structure needs.
    case truncated(String)
    /// A length field (named) holds a value that cannot be right.
    case invalidLength(String, Int)
    /// A field (named) holds a value the RFC forbids.
    case invalidValue(String, Int)
    /// The IKE header's major version is not 2.
    case invalidMajorVersion(UInt8)
    /// A payload of an unknown type had its critical bit set.
    case unsupportedCriticalPayload(PayloadType)
    /// More items (named) than this implementation accepts in one message.
    case tooMany(String, limit: Int)
    /// Payloads followed an SK/SKF payload, which must be the last.
    case payloadAfterEncrypted
    /// Octets were left over after the named structure.
    case trailingData(String, Int)

    /// The Notify Message Type an error response to this message carries.
    public var notifyMessageType: NotifyMessageType {
        switch self {
        case .invalidMajorVersion: return .invalidMajorVersion
        case .unsupportedCriticalPayload: return .unsupportedCriticalPayload
        case .truncated, .invalidLength, .invalidValue, .tooMany, .payloadAfterEncrypted, .trailingData:
            return .invalidSyntax
        }
    }

    /// The Notification Data that goes with `notifyMessageType`: the one-octet payload type
    /// for UNSUPPORTED_CRITICAL_PAYLOAD, empty otherwise.
    public var notificationData: [UInt8] {
        if case .unsupportedCriticalPayload(let type) = self { return [type.rawValue] }
        return []
    }

    public var description: String {
        switch self {
        case .truncated(let what): return "truncated \(what)"
        case .invalidLength(let what, let value): return "invalid \(what) length \(value)"
        case .invalidValue(let what, let value): return "invalid \(what) \(value)"
        case .invalidMajorVersion(let major): return "unsupported IKE major version \(major)"
        case .unsupportedCriticalPayload(let type): return "unsupported critical payload \(type)"
        case .tooMany(let what, let limit): return "too many \(what) (limit \(limit))"
        case .payloadAfterEncrypted: return "payload after the SK payload"
        case .trailingData(let what, let count): return "\(count) octets left over after \(what)"
        }
    }
}
