import CMNL
import Glibc
import Netlink

/// rtnetlink link messages for encapsulated mode: GRE devices, RTM_NEWLINK kind "gre"
/// between IPv4 endpoints or "ip6gre" between IPv6 endpoints (the cluster link's family; either
/// kind carries an ESP packet of either family). Pure builders, unit-tested against struct
/// ifinfomsg and the IFLA_* numbering.
public enum LinkMessages {
    /// IFLA_GRE_* of <linux/if_tunnel.h> (not imported: that header drags in <linux/ip.h>,
    /// which clashes with glibc's netinet headers in one module).
    enum GRE {
        static let local: UInt16 = 6
        static let remote: UInt16 = 7
        /// TTL (gre) or hop limit (ip6gre); 0 would inherit the inner packet's.
        static let ttl: UInt16 = 8
        static let pmtudisc: UInt16 = 10
        /// ip6gre: struct ip6_tnl_parm's flags (u32).
        static let flags: UInt16 = 13
    }

    /// IP6_TNL_F_IGN_ENCAP_LIMIT of <linux/ip6_tunnel.h>: no RFC 2473 tunnel encapsulation
    /// limit option. Without it the kernel puts a destination options header (8 bytes) before
    /// GRE in every packet, with the limit from IFLA_GRE_ENCAP_LIMIT (0 when absent).
    static let ignoreEncapsulationLimit: UInt32 = 0x1

    /// IPv4 endpoints: `ip link add NAME type gre local L remote R ttl 64` (path MTU discovery
    /// on: the outer header gets DF). IPv6 endpoints: `ip link add NAME type ip6gre local L
    /// remote R hoplimit 64 encaplimit none` (iproute2 also sends its defaults explicitly:
    /// keys and flags 0, encap limit 4 (ignored with `none`), flowinfo 0, fwmark 0, which are
    /// the kernel's values when absent). NLM_F_CREATE|NLM_F_EXCL: EEXIST when it is there
    /// already. Mixed families are refused.
    public static func addGRE(name: String, local: RouteAddress, remote: RouteAddress) throws -> NetlinkMessageBuilder {
        guard local.family == remote.family, local.family == AF_INET || local.family == AF_INET6 else {
            throw NetlinkError.malformed("GRE endpoints \(local) and \(remote) are not of one family")
        }
        guard !name.isEmpty, name.utf8.count < 16, !name.utf8.contains(0) else {
            throw NetlinkError.malformed("interface name '\(name)' is empty or too long")
        }
        let six = local.family == AF_INET6
        let message = NetlinkMessageBuilder(type: UInt16(RTM_NEWLINK), flags: UInt16(NLM_F_CREATE | NLM_F_EXCL),
                                            capacity: 256)
        try message.appendHeader(ifinfomsg.self) { $0.ifi_family = UInt8(AF_UNSPEC) }
        try message.appendAttribute(type: UInt16(IFLA_IFNAME), bytes: Array(name.utf8) + [0])
        let info = try message.beginNested(type: UInt16(IFLA_LINKINFO))
        try message.appendAttribute(type: UInt16(IFLA_INFO_KIND), bytes: Array((six ? "ip6gre" : "gre").utf8) + [0])
        let data = try message.beginNested(type: UInt16(IFLA_INFO_DATA))
        try message.appendAttribute(type: GRE.local, bytes: local.bytes)
        try message.appendAttribute(type: GRE.remote, bytes: remote.bytes)
        try message.appendAttribute(type: GRE.ttl, u8: 64)
        if six {
            try message.appendAttribute(type: GRE.flags, u32: ignoreEncapsulationLimit)
        } else {
            try message.appendAttribute(type: GRE.pmtudisc, u8: 1)
        }
        message.endNested(data)
        message.endNested(info)
        return message
    }

    /// `ip link set dev INDEX up` (RTM_NEWLINK with IFF_UP in ifi_flags and ifi_change).
    public static func setUp(interfaceIndex: Int32) throws -> NetlinkMessageBuilder {
        let message = NetlinkMessageBuilder(type: UInt16(RTM_NEWLINK), capacity: 64)
        try message.appendHeader(ifinfomsg.self) { header in
            header.ifi_family = UInt8(AF_UNSPEC)
            header.ifi_index = interfaceIndex
            header.ifi_flags = 1      // IFF_UP
            header.ifi_change = 1     // IFF_UP
        }
        return message
    }

    /// `ip link del dev INDEX`.
    public static func delete(interfaceIndex: Int32) throws -> NetlinkMessageBuilder {
        let message = NetlinkMessageBuilder(type: UInt16(RTM_DELLINK), capacity: 64)
        try message.appendHeader(ifinfomsg.self) { header in
            header.ifi_family = UInt8(AF_UNSPEC)
            header.ifi_index = interfaceIndex
        }
        return message
    }
}
