import Cluster
import Glibc
import Netlink

/// Adds and removes an address on a named interface over NETLINK_ROUTE, as
/// `ip addr replace ADDRESS/LEN dev IF [valid_lft N preferred_lft N]` and `ip addr del` do.
/// The agent's DVIPA on `lo` (LoopbackAddress) and the active routing node's DVIPA on its
/// network interface (HA) both go through here.
///
/// With a valid lifetime the kernel removes the address by itself when it runs out
/// (net/ipv4/devinet.c, check_lifetime): the HA active refreshes it on every acknowledged
/// etcd keepalive, so a SIGKILLed or frozen node stops answering for the DVIPA on its own.
public enum InterfaceAddress {
    /// struct ifaddrmsg from <linux/if_addr.h>.
    private struct InterfaceAddressMessage {
        var family: UInt8 = 0
        var prefixLength: UInt8 = 0
        var flags: UInt8 = 0
        var scope: UInt8 = 0
        var index: UInt32 = 0
    }

    /// struct ifa_cacheinfo from <linux/if_addr.h> (seconds; only the first two are read on add).
    private struct CacheInfo {
        var preferred: UInt32 = 0
        var valid: UInt32 = 0
        var created: UInt32 = 0
        var updated: UInt32 = 0
    }

    private static let netlinkRoute: Int32 = 0          // NETLINK_ROUTE
    private static let createOrReplace: UInt16 = 0x400 | 0x100  // NLM_F_CREATE | NLM_F_REPLACE
    private static let newAddress: UInt16 = 20          // RTM_NEWADDR
    private static let deleteAddress: UInt16 = 21       // RTM_DELADDR
    private static let attributeAddress: UInt16 = 1     // IFA_ADDRESS
    private static let attributeLocal: UInt16 = 2       // IFA_LOCAL
    private static let attributeCacheInfo: UInt16 = 6   // IFA_CACHEINFO
    private static let flagNoDAD: UInt8 = 0x02          // IFA_F_NODAD (IPv6: usable at once)
    private static let scopeUniverse: UInt8 = 0         // RT_SCOPE_UNIVERSE, as `ip addr add` uses

    /// Adds (or replaces) `address/prefixLength` on `interface`. `validLifetime` in seconds:
    /// the kernel deletes the address when it runs out (nil: forever).
    public static func add(_ address: IPAddress, prefixLength: UInt8, interface: String, validLifetime: UInt32? = nil) throws {
        try send(address, prefixLength: prefixLength, interface: interface, type: newAddress, flags: createOrReplace,
                 validLifetime: validLifetime)
    }

    /// Removes `address/prefixLength` from `interface`; an address not there is not an error.
    public static func remove(_ address: IPAddress, prefixLength: UInt8, interface: String) throws {
        do {
            try send(address, prefixLength: prefixLength, interface: interface, type: deleteAddress, flags: 0, validLifetime: nil)
        } catch NetlinkError.kernel(let code, _) where code == EADDRNOTAVAIL {
            return
        }
    }

    /// The interfaces that hold `address` now.
    public static func interfaces(holding address: IPAddress) -> [String] {
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

    private static func send(_ address: IPAddress, prefixLength: UInt8, interface: String, type: UInt16, flags: UInt16,
                             validLifetime: UInt32?) throws {
        let index = if_nametoindex(interface)
        guard index != 0 else { throw NetlinkError.system(call: "if_nametoindex(\(interface))", errno: errno) }
        let socket = try NetlinkSocket(family: netlinkRoute)
        let message = NetlinkMessageBuilder(type: type, flags: flags, capacity: 128)
        try message.appendHeader(InterfaceAddressMessage.self) { header in
            header.family = UInt8(address.isIPv4 ? AF_INET : AF_INET6)
            header.prefixLength = prefixLength
            header.flags = address.isIPv4 ? 0 : flagNoDAD
            header.scope = scopeUniverse
            header.index = index
        }
        try message.appendAttribute(type: attributeLocal, bytes: address.bytes)
        try message.appendAttribute(type: attributeAddress, bytes: address.bytes)
        if let validLifetime {
            try message.appendAttribute(type: attributeCacheInfo, CacheInfo.self) { info in
                info.preferred = validLifetime
                info.valid = validLifetime
            }
        }
        try socket.acknowledged(message)
    }
}
