import Netlink

/// An error of the XFRM layer: bad parameters caught before sending, or a netlink failure
/// (which keeps the kernel's errno and extended-ack text).
public enum XFRMError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A parameter is wrong; the text names it. Nothing was sent.
    case invalidArgument(String)
    /// The kernel or the socket failed.
    case netlink(NetlinkError)
    /// The kernel's answer did not have the expected shape.
    case unexpectedReply(String)

    /// The errno of a kernel error, if this is one.
    public var errno: Int32? {
        if case .netlink(let error) = self { return error.errno }
        return nil
    }

    public var description: String {
        switch self {
        case .invalidArgument(let text): return "invalid XFRM request: \(text)"
        case .netlink(let error): return error.description
        case .unexpectedReply(let text): return "unexpected XFRM reply: \(text)"
        }
    }
}
