import Glibc

/// An error from the netlink layer.
///
/// Kernel errors keep the errno and the kernel's extended-ack text (NLMSGERR_ATTR_MSG), so a
/// caller can both branch on the errno and show the kernel's own explanation.
public enum NetlinkError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The kernel answered with NLMSG_ERROR (or a failed NLMSG_DONE): errno and extack text.
    case kernel(errno: Int32, message: String?)
    /// A system call on the netlink socket failed.
    case system(call: String, errno: Int32)
    /// Bytes from the kernel did not parse: the message says what was wrong. Never a trap.
    case malformed(String)
    /// A message did not fit into the builder's buffer.
    case messageTooLarge(needed: Int, capacity: Int)
    /// No answer arrived within the timeout.
    case timeout

    /// The errno, for kernel and system errors.
    public var errno: Int32? {
        switch self {
        case .kernel(let code, _), .system(_, let code): return code
        case .malformed, .messageTooLarge, .timeout: return nil
        }
    }

    public var description: String {
        switch self {
        case .kernel(let code, let message):
            let base = "kernel error \(NetlinkError.errnoName(code)) (\(NetlinkError.errnoText(code)))"
            if let message, !message.isEmpty { return base + ": " + message }
            return base
        case .system(let call, let code):
            return "\(call) failed: \(NetlinkError.errnoName(code)) (\(NetlinkError.errnoText(code)))"
        case .malformed(let what):
            return "malformed netlink data: \(what)"
        case .messageTooLarge(let needed, let capacity):
            return "netlink message needs \(needed) bytes, the buffer holds \(capacity)"
        case .timeout:
            return "no netlink answer within the timeout"
        }
    }

    /// The strerror text for an errno.
    public static func errnoText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }

    /// The symbolic name of the errnos the netlink and XFRM code meet ("EEXIST").
    public static func errnoName(_ code: Int32) -> String {
        switch code {
        case EPERM: return "EPERM"
        case ENOENT: return "ENOENT"
        case ESRCH: return "ESRCH"
        case EINTR: return "EINTR"
        case EIO: return "EIO"
        case ENXIO: return "ENXIO"
        case E2BIG: return "E2BIG"
        case EBADF: return "EBADF"
        case EAGAIN: return "EAGAIN"
        case ENOMEM: return "ENOMEM"
        case EACCES: return "EACCES"
        case EFAULT: return "EFAULT"
        case EBUSY: return "EBUSY"
        case EEXIST: return "EEXIST"
        case ENODEV: return "ENODEV"
        case EINVAL: return "EINVAL"
        case ENOSPC: return "ENOSPC"
        case ERANGE: return "ERANGE"
        case ENOSYS: return "ENOSYS"
        case ENOBUFS: return "ENOBUFS"
        case EOPNOTSUPP: return "EOPNOTSUPP"
        case EPROTONOSUPPORT: return "EPROTONOSUPPORT"
        case EAFNOSUPPORT: return "EAFNOSUPPORT"
        case EADDRNOTAVAIL: return "EADDRNOTAVAIL"
        case EMSGSIZE: return "EMSGSIZE"
        case ETIMEDOUT: return "ETIMEDOUT"
        case ENOPROTOOPT: return "ENOPROTOOPT"
        default: return "errno \(code)"
        }
    }
}
