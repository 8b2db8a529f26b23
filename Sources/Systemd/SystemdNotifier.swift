// systemd's service notification protocol (sd_notify(3), without libsystemd): a datagram
// of `KEY=VALUE` lines to the unix socket named by $NOTIFY_SOCKET, a path or, with a
// leading '@', a name in the abstract namespace. `Type=notify` units wait for READY=1;
// `WatchdogSec=` expects WATCHDOG=1 more often than $WATCHDOG_USEC; STOPPING=1 says the
// stop has begun. Outside systemd (no NOTIFY_SOCKET) every call does nothing.
#if canImport(Glibc)
import Glibc
#endif
import Dispatch

/// Sends notifications to the service manager.
public struct SystemdNotifier: Sendable {
    /// $NOTIFY_SOCKET; nil outside systemd.
    public let socketPath: String?
    /// $WATCHDOG_USEC when $WATCHDOG_PID is unset or names this process.
    public let watchdogMicroseconds: UInt64?

    /// From the environment (`ProcessInfo` would do too; getenv keeps this module free of Foundation).
    public init(environment: [String: String]? = nil, pid: Int32 = getpid()) {
        func value(_ name: String) -> String? {
            if let environment { return environment[name] }
            return getenv(name).map { String(cString: $0) }
        }
        let path = value("NOTIFY_SOCKET")
        socketPath = (path?.isEmpty ?? true) ? nil : path
        if let text = value("WATCHDOG_USEC"), let usec = UInt64(text), usec > 0,
           value("WATCHDOG_PID").map({ Int32($0) == pid }) ?? true {
            watchdogMicroseconds = usec
        } else {
            watchdogMicroseconds = nil
        }
    }

    /// Sends `state` ("READY=1", "STOPPING=1\nSTATUS=...", ...). False outside systemd;
    /// throws when the socket is named but the datagram cannot be sent.
    @discardableResult
    public func notify(_ state: String) throws -> Bool {
        guard let socketPath else { return false }
        guard var (address, length) = Self.address(socketPath) else {
            throw SystemdNotifyError("NOTIFY_SOCKET '\(socketPath)' is not a unix socket path or @name")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemdNotifyError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddrPointer in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sockaddrPointer, length) }
            }
        }
        guard sent == bytes.count else {
            throw SystemdNotifyError("sending to NOTIFY_SOCKET \(socketPath): \(String(cString: strerror(errno)))")
        }
        return true
    }

    /// The socket address of a NOTIFY_SOCKET value: a path, or '@name' for the abstract
    /// namespace (sun_path starts with a NUL, and the length counts only the name's bytes).
    public static func address(_ text: String) -> (sockaddr_un, socklen_t)? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(text.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        guard abstract || bytes.first == UInt8(ascii: "/") else { return nil }
        if abstract { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count > 1, bytes.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path) ?? 2
        // A path: with its terminating NUL; an abstract name: exactly its bytes.
        let length = pathOffset + bytes.count + (abstract ? 0 : 1)
        return (address, socklen_t(length))
    }
}

public struct SystemdNotifyError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Sends WATCHDOG=1 at half the interval systemd expects, each time `alive()` says the
/// daemon still works (a daemon whose workers hang stops pinging and is restarted). A task
/// of its own asks `alive()` and sleeps in between; `stop()` cancels it.
public final class SystemdWatchdog: Sendable {
    private let pinging: Task<Void, Never>

    /// Nil when the unit has no `WatchdogSec=` (or the watchdog is another process's).
    public init?(_ notifier: SystemdNotifier, alive: @escaping @Sendable () async -> Bool, onError: @escaping @Sendable (String) -> Void = { _ in }) {
        guard let usec = notifier.watchdogMicroseconds, notifier.socketPath != nil else { return nil }
        let half = Duration.microseconds(Int64(min(usec / 2, UInt64(Int64.max))))
        pinging = Task {
            while !Task.isCancelled {
                do { try await Task.sleep(for: half) } catch { return }
                guard await alive() else {
                    onError("watchdog: the daemon did not answer; no WATCHDOG=1 this time")
                    continue
                }
                guard !Task.isCancelled else { return }
                do { try notifier.notify("WATCHDOG=1") } catch { onError("watchdog: \(error)") }
            }
        }
    }

    /// Half of $WATCHDOG_USEC (sd_watchdog_enabled(3) recommends pinging at half the interval).
    public static func pingInterval(watchdogMicroseconds usec: UInt64) -> DispatchTimeInterval {
        .microseconds(Int(min(usec / 2, UInt64(Int.max))))
    }

    public func stop() { pinging.cancel() }

    deinit { pinging.cancel() }
}
