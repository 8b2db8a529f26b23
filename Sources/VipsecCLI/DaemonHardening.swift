// The daemons' hardening once their sockets are bound (Systemd/Hardening.swift): CAP_NET_ADMIN
// alone, optionally another user and group.
import IKEDaemon
import Logging
import Systemd

enum DaemonHardening {
    /// Drops every capability but CAP_NET_ADMIN in every thread and switches to `runAs`;
    /// logs what it did. A failure is thrown: the daemon must not go on with more.
    static func dropPrivileges(_ runAs: RunAs, logger: Logger) throws {
        let threads = try Hardening.dropPrivileges(uid: runAs.uid, gid: runAs.gid)
        let ids = runAs.uid.map { " as user \(runAs.user ?? "") (uid \($0))" } ?? " as uid 0"
        let group = runAs.gid.map { ", gid \($0)\(runAs.group.map { " (\($0))" } ?? "")" } ?? ""
        logger.info("privileges dropped: CAP_NET_ADMIN only (effective, permitted, inheritable, bounding)\(ids)\(group), \(threads) threads")
    }
}
