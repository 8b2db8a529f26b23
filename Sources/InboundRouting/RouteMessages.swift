import CMNL
import Glibc
import Netlink

/// An IPv4 or IPv6 address in network byte order, parsed with inet_pton.
public struct RouteAddress: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let family: Int32
    public let bytes: [UInt8]

    public init?(_ text: String) {
        var storage = in6_addr()
        if inet_pton(AF_INET, text, &storage) == 1 {
            family = AF_INET
            bytes = withUnsafeBytes(of: storage) { Array($0.prefix(4)) }
        } else if inet_pton(AF_INET6, text, &storage) == 1 {
            family = AF_INET6
            bytes = withUnsafeBytes(of: storage) { Array($0) }
        } else {
            return nil
        }
    }

    public var description: String {
        var storage = in6_addr()
        withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: bytes) }
        var out = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        _ = inet_ntop(family, &storage, &out, socklen_t(out.count))
        return String(cString: out)
    }
}

/// Builds the rtnetlink messages for policy routing by mark (NETLINK_ROUTE). Pure, so the
/// bytes are unit-tested against struct fib_rule_hdr / struct rtmsg.
public enum RouteMessages {
    /// `ip rule add|del [pref P] [fwmark M] lookup T` (family AF_INET or AF_INET6).
    /// Add uses NLM_F_CREATE|NLM_F_EXCL: an identical rule answers EEXIST (idempotent).
    public static func rule(add: Bool, family: Int32, priority: UInt32, fwmark: UInt32?,
                            table: UInt32) throws -> NetlinkMessageBuilder {
        let flags = add ? UInt16(NLM_F_CREATE | NLM_F_EXCL) : 0
        let message = NetlinkMessageBuilder(type: UInt16(add ? RTM_NEWRULE : RTM_DELRULE), flags: flags, capacity: 128)
        try message.appendHeader(fib_rule_hdr.self) { header in
            header.family = UInt8(family)
            header.table = table < 256 ? UInt8(table) : UInt8(RT_TABLE_UNSPEC.rawValue)
            header.action = UInt8(FR_ACT_TO_TBL)
        }
        try message.appendAttribute(type: UInt16(FRA_PRIORITY), u32: priority)
        if let fwmark {
            try message.appendAttribute(type: UInt16(FRA_FWMARK), u32: fwmark)
            try message.appendAttribute(type: UInt16(FRA_FWMASK), u32: 0xffff_ffff)
        }
        try message.appendAttribute(type: UInt16(FRA_TABLE), u32: table)
        return message
    }

    /// `ip route replace default via GATEWAY [dev IFINDEX] table T` (add) or
    /// `ip route del default table T` (delete). Replace makes the add idempotent.
    public static func defaultRoute(add: Bool, gateway: RouteAddress, interfaceIndex: UInt32?,
                                    table: UInt32) throws -> NetlinkMessageBuilder {
        let flags = add ? UInt16(NLM_F_CREATE | NLM_F_REPLACE) : 0
        let message = NetlinkMessageBuilder(type: UInt16(add ? RTM_NEWROUTE : RTM_DELROUTE), flags: flags, capacity: 128)
        try message.appendHeader(rtmsg.self) { header in
            header.rtm_family = UInt8(gateway.family)
            header.rtm_table = table < 256 ? UInt8(table) : UInt8(RT_TABLE_UNSPEC.rawValue)
            header.rtm_protocol = UInt8(RTPROT_STATIC)
            header.rtm_scope = UInt8(RT_SCOPE_UNIVERSE.rawValue)
            header.rtm_type = UInt8(RTN_UNICAST)
        }
        try message.appendAttribute(type: UInt16(RTA_TABLE.rawValue), u32: table)
        if add {
            try message.appendAttribute(type: UInt16(RTA_GATEWAY.rawValue), bytes: gateway.bytes)
            if let interfaceIndex {
                try message.appendAttribute(type: UInt16(RTA_OIF.rawValue), u32: interfaceIndex)
            }
        }
        return message
    }

    /// `ip route replace default dev IFINDEX table T` (add) or `ip route del default table T`
    /// (delete): a route into a point-to-point device (GRE), scope link, no gateway.
    public static func defaultDeviceRoute(add: Bool, family: Int32, interfaceIndex: UInt32,
                                          table: UInt32) throws -> NetlinkMessageBuilder {
        let flags = add ? UInt16(NLM_F_CREATE | NLM_F_REPLACE) : 0
        let message = NetlinkMessageBuilder(type: UInt16(add ? RTM_NEWROUTE : RTM_DELROUTE), flags: flags, capacity: 128)
        try message.appendHeader(rtmsg.self) { header in
            header.rtm_family = UInt8(family)
            header.rtm_table = table < 256 ? UInt8(table) : UInt8(RT_TABLE_UNSPEC.rawValue)
            header.rtm_protocol = UInt8(RTPROT_STATIC)
            header.rtm_scope = UInt8(RT_SCOPE_LINK.rawValue)
            header.rtm_type = UInt8(RTN_UNICAST)
        }
        try message.appendAttribute(type: UInt16(RTA_TABLE.rawValue), u32: table)
        if add { try message.appendAttribute(type: UInt16(RTA_OIF.rawValue), u32: interfaceIndex) }
        return message
    }

    /// `ip rule show` as a dump request for `family`.
    public static func ruleDump(family: Int32) throws -> NetlinkMessageBuilder {
        let message = NetlinkMessageBuilder(type: UInt16(RTM_GETRULE), capacity: 64)
        try message.appendHeader(fib_rule_hdr.self) { $0.family = UInt8(family) }
        return message
    }

    /// One rule of a dump: (priority, table, fwmark). Malformed rules are skipped by the caller.
    public struct Rule: Equatable, Sendable {
        public var priority: UInt32
        public var table: UInt32
        public var fwmark: UInt32?
    }

    static let rulePolicy = NetlinkAttributePolicy(maxType: UInt16(FRA_TABLE), minimumLengths: [
        UInt16(FRA_PRIORITY): 4, UInt16(FRA_FWMARK): 4, UInt16(FRA_TABLE): 4,
    ])

    /// Reads a RTM_NEWRULE dump message; a missing FRA_PRIORITY is pref 0.
    public static func parseRule(_ message: NetlinkMessage) throws -> Rule {
        let header = try message.fixedHeader(fib_rule_hdr.self)
        let attributes = try message.attributes(after: MemoryLayout<fib_rule_hdr>.size, policy: rulePolicy)
        return Rule(priority: try attributes.u32(UInt16(FRA_PRIORITY)) ?? 0,
                    table: try attributes.u32(UInt16(FRA_TABLE)) ?? UInt32(header.table),
                    fwmark: try attributes.u32(UInt16(FRA_FWMARK)))
    }
}
