import CMNL
import Glibc
import Netlink

/// Follows the kernel's conntrack events (`conntrack -E -e UPDATES,DESTROY`) on a libmnl
/// socket of NETLINK_NETFILTER joined to NFNLGRP_CONNTRACK_DESTROY and
/// NFNLGRP_CONNTRACK_UPDATE. Malformed messages are dropped and counted, never thrown.
/// Events lost to a full socket buffer (ENOBUFS) are counted too: those flows then end at
/// the routing node by its idle timeout, as before. Not thread-safe: one reader.
public final class ConntrackMonitor {
    private let socket: NetlinkSocket
    /// Messages that failed to decode and were dropped.
    public private(set) var malformedEvents = 0
    /// Times the socket overflowed (events lost).
    public private(set) var overruns = 0

    /// Subscribes in the caller's network namespace, or in the named one (`ip -n NAME`).
    public init(networkNamespace: String? = nil) throws {
        socket = try NetlinkSocket(family: NETLINK_NETFILTER, networkNamespace: networkNamespace)
        try socket.join(group: UInt32(NFNLGRP_CONNTRACK_DESTROY.rawValue))
        try socket.join(group: UInt32(NFNLGRP_CONNTRACK_UPDATE.rawValue))
    }

    /// Waits up to `timeout` (nil = forever) for events; an empty array on timeout.
    public func next(timeout: Duration?) throws -> [ConntrackEvent] {
        let messages: [NetlinkMessage]
        do {
            messages = try socket.receive(timeout: timeout)
        } catch NetlinkError.timeout {
            return []
        } catch NetlinkError.system(_, let code) where code == ENOBUFS {
            overruns += 1
            return []
        } catch NetlinkError.malformed {
            malformedEvents += 1
            return []
        }
        return Self.events(in: messages, malformed: &malformedEvents)
    }

    /// The ends and updates in `messages`; each malformed one counted in `malformed`.
    public static func events(in messages: [NetlinkMessage], malformed: inout Int) -> [ConntrackEvent] {
        var events: [ConntrackEvent] = []
        for message in messages {
            do {
                if let event = try ConntrackEvent(parsing: message) { events.append(event) }
            } catch {
                malformed += 1
            }
        }
        return events
    }
}

/// The connections conntrack holds now (`conntrack -L`): one dump (IPCTNL_MSG_CT_GET with
/// NLM_F_DUMP, both families), each entry's original-direction tuple. TCP entries that have
/// ended (TIME_WAIT, CLOSE) are left out; malformed entries are counted, never thrown.
public enum ConntrackDump {
    public static func openConnections(networkNamespace: String? = nil) throws -> (tuples: [ConntrackTuple], malformed: Int) {
        let socket = try NetlinkSocket(family: NETLINK_NETFILTER, networkNamespace: networkNamespace)
        let request = NetlinkMessageBuilder(type: UInt16(NFNL_SUBSYS_CTNETLINK) << 8 | UInt16(IPCTNL_MSG_CT_GET.rawValue))
        try request.appendHeader(nfgenmsg.self) { header in
            header.nfgen_family = UInt8(AF_UNSPEC)
            header.version = UInt8(NFNETLINK_V0)
            header.res_id = 0
        }
        var tuples: [ConntrackTuple] = []
        var malformed = 0
        try socket.dump(request) { message in
            do {
                if let event = try ConntrackEvent(parsing: message), !event.isEnd { tuples.append(event.original) }
            } catch {
                malformed += 1
            }
        }
        return (tuples, malformed)
    }
}
