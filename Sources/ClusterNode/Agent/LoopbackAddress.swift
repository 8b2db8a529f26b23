import Cluster
import Glibc
import Netlink

/// Puts the DVIPA on the loopback device, as `ip addr replace DVIPA/32 dev lo` does
/// (RTM_NEWADDR over NETLINK_ROUTE with NLM_F_CREATE | NLM_F_REPLACE). A target holds the
/// DVIPA there so forwarded packets are local and outbound ESP can use it as its source,
/// without answering ARP for it (the lab sets arp_ignore / arp_announce).
enum LoopbackAddress {
    /// struct ifaddrmsg from <linux/if_addr.h>.
    private struct InterfaceAddressMessage {
        var family: UInt8 = 0
        var prefixLength: UInt8 = 0
        var flags: UInt8 = 0
        var scope: UInt8 = 0
        var index: UInt32 = 0
    }

    private static let netlinkRoute: Int32 = 0          // NETLINK_ROUTE
    private static let createOrReplace: UInt16 = 0x400 | 0x100  // NLM_F_CREATE | NLM_F_REPLACE
    private static let newAddress: UInt16 = 20          // RTM_NEWADDR
    private static let deleteAddress: UInt16 = 21       // RTM_DELADDR
    private static let attributeAddress: UInt16 = 1     // IFA_ADDRESS
    private static let attributeLocal: UInt16 = 2       // IFA_LOCAL
    private static let scopeUniverse: UInt8 = 0         // RT_SCOPE_UNIVERSE, as `ip addr add` uses

    /// Why the DVIPA cannot go on lo.
    struct InUse: Error, CustomStringConvertible {
        var interface: String
        var description: String { "already used by interface \(interface)" }
    }

    /// Puts the DVIPA on lo for this agent. Refuses an address another interface holds.
    /// Returns whether this agent owns it (and takes it off at stop): it does when it added
    /// it, or when `recordPath` says an earlier run of this agent did; an address some other
    /// process put on lo is left alone.
    static func claim(_ address: IPAddress, recordPath: String?) throws -> Bool {
        let holders = interfaces(holding: address)
        if let other = holders.first(where: { $0 != "lo" }) { throw InUse(interface: other) }
        if holders.contains("lo") {
            return recordPath.map { access($0, F_OK) == 0 } ?? false
        }
        try ensure(address)
        if let recordPath {
            let fd = open(recordPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            if fd >= 0 { close(fd) }
        }
        return true
    }

    /// Takes the DVIPA off lo (`ip addr del DVIPA/32 dev lo`) and removes the record.
    static func release(_ address: IPAddress, recordPath: String?) throws {
        try send(address, type: deleteAddress, flags: 0)
        if let recordPath { unlink(recordPath) }
    }

    /// The interfaces that hold `address` now.
    static func interfaces(holding address: IPAddress) -> [String] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var names: [String] = []
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            guard let sockaddress = entry.pointee.ifa_addr else { continue }
            var bytes: [UInt8] = []
            switch Int32(sockaddress.pointee.sa_family) {
            case AF_INET:
                sockaddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                    bytes = withUnsafeBytes(of: v4.pointee.sin_addr) { Array($0) }
                }
            case AF_INET6:
                sockaddress.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                    bytes = withUnsafeBytes(of: v6.pointee.sin6_addr) { Array($0) }
                }
            default:
                continue
            }
            if bytes == address.bytes { names.append(String(cString: entry.pointee.ifa_name)) }
        }
        return names
    }

    /// Adds `address` (/32 or /128) to `lo`; an address already there is fine.
    static func ensure(_ address: IPAddress) throws {
        try send(address, type: newAddress, flags: createOrReplace)
    }

    private static func send(_ address: IPAddress, type: UInt16, flags: UInt16) throws {
        let index = if_nametoindex("lo")
        guard index != 0 else { throw NetlinkError.system(call: "if_nametoindex(lo)", errno: errno) }
        let socket = try NetlinkSocket(family: netlinkRoute)
        let message = NetlinkMessageBuilder(type: type, flags: flags, capacity: 128)
        try message.appendHeader(InterfaceAddressMessage.self) { header in
            header.family = UInt8(address.isIPv4 ? AF_INET : AF_INET6)
            header.prefixLength = address.isIPv4 ? 32 : 128
            header.scope = scopeUniverse
            header.index = index
        }
        try message.appendAttribute(type: attributeLocal, bytes: address.bytes)
        try message.appendAttribute(type: attributeAddress, bytes: address.bytes)
        try socket.acknowledged(message)
    }
}
