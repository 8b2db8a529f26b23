// The operator's ways into a running `vipsec routing` (README, "Operations"):
//
//     vipsec {
//         control {
//             socket = /run/vipsec/control.sock   # vipsec list-sas/initiate/terminate/rekey
//             group = vipsec                      # may use it besides root [none: root only]
//         }
//         metrics {
//             listen = 127.0.0.1:9710             # Prometheus text on GET /metrics [off]
//         }
//     }
#if canImport(Glibc)
import Glibc
#endif

/// `vipsec { control { } }` (the control socket is always on; this moves or opens it).
public struct ControlSettings: Sendable, Equatable {
    public static let defaultSocket = "/run/vipsec/control.sock"
    /// The unix socket's path.
    public var socket: String = ControlSettings.defaultSocket
    /// A group whose members may use the socket besides root (the file is 0660 root:group).
    public var group: String?
    /// Its id, looked up when the file is read (an unknown group is refused there).
    public var groupID: UInt32?

    public init() {}

    init(reading reader: inout SectionReader) throws {
        if let entry = reader.entry("socket") {
            guard entry.value.hasPrefix("/"), entry.value.utf8.count < 108 else {
                throw reader.error(entry, "'\(entry.value)' is not an absolute path of at most 107 bytes")
            }
            socket = entry.value
        }
        if let entry = reader.entry("group") {
            guard let found = getgrnam(entry.value) else { throw reader.error(entry, "no group '\(entry.value)' on this host") }
            group = entry.value
            groupID = found.pointee.gr_gid
        }
        try reader.rejectUnknown()
    }
}

/// `vipsec { metrics { listen = ADDRESS:PORT } }`: the Prometheus endpoint (off without it).
public struct MetricsSettings: Sendable, Equatable {
    public var host: String
    public var port: Int

    init(reading reader: inout SectionReader) throws {
        guard let entry = reader.entry("listen") else { throw reader.error(missing: "listen") }
        do { self = try Self(listen: entry.value) } catch let error as MetricsListenError { throw reader.error(entry, error.message) }
        try reader.rejectUnknown()
    }

    /// `ADDRESS:PORT` (`[ADDRESS]:PORT` for IPv6), as `listen =` and `vipsec target --metrics` take it.
    public init(listen value: String) throws {
        var text = value
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            throw MetricsListenError(message: "'\(value)' is not ADDRESS:PORT")
        }
        text = String(text[..<colon])
        if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        guard IPPrefix.parseAddress(text) != nil else { throw MetricsListenError(message: "'\(text)' is not an IP address") }
        host = text
        self.port = port
    }
}

/// Why a metrics `ADDRESS:PORT` was refused.
public struct MetricsListenError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// `vipsec { user = NAME; group = NAME }` (and `vipsec target`'s `user =`/`group =`): the
/// ids the daemon switches to once its sockets are bound, keeping CAP_NET_ADMIN
/// (Systemd/Hardening.swift). Neither: it stays uid 0, with CAP_NET_ADMIN alone.
public struct RunAs: Sendable, Equatable {
    public var user: String?
    public var uid: UInt32?
    public var group: String?
    /// `group`'s id, else `user`'s primary group.
    public var gid: UInt32?

    public init() {}

    /// Looks the names up on this host; the error says which one is unknown.
    public init(user: String?, group: String?) throws {
        if let user {
            guard let entry = getpwnam(user) else { throw RunAsError(key: "user", message: "no user '\(user)' on this host") }
            self.user = user
            uid = entry.pointee.pw_uid
            gid = entry.pointee.pw_gid
        }
        if let group {
            guard let entry = getgrnam(group) else { throw RunAsError(key: "group", message: "no group '\(group)' on this host") }
            self.group = group
            gid = entry.pointee.gr_gid
        }
    }

    init(reading reader: inout SectionReader) throws {
        let userEntry = reader.entry("user"), groupEntry = reader.entry("group")
        do {
            try self.init(user: userEntry?.value, group: groupEntry?.value)
        } catch let error as RunAsError {
            guard let entry = error.key == "user" ? userEntry : groupEntry else { throw error }
            throw reader.error(entry, error.message)
        }
    }
}

/// A `user` or `group` that does not exist.
public struct RunAsError: Error, Equatable, CustomStringConvertible {
    public var key: String
    public var message: String
    public var description: String { "\(key): \(message)" }
}
