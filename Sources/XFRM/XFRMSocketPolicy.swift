// Per-socket XFRM policies: setsockopt(IP_XFRM_POLICY / IPV6_XFRM_POLICY) with one
// `struct xfrm_userpolicy_info` as the value (the kernel's xfrm_user_policy, compiled by
// xfrm_compile_policy). An IKE daemon puts an allow policy without templates on its UDP
// sockets for both directions, as strongSwan's kernel-netlink does ("bypass" sockets): its
// IKE messages then never match the SPD, so a CHILD_SA whose selectors cover the gateways'
// own addresses (transport mode between them, or tunnel selectors that include them) cannot
// swallow the IKE traffic that keeps it alive. Needs CAP_NET_ADMIN.
import CMNL
import Glibc

/// The value of one IP_XFRM_POLICY socket option (layout: exactly `xfrm_userpolicy_info`).
public struct XFRMSocketPolicy: Sendable {
    let info: xfrm_userpolicy_info

    /// `ip xfrm policy` has no equivalent: the policy lives on the socket, not in the SPD.
    /// Allow, no templates, for `direction` (in or out) of an IPv4 or IPv6 socket.
    public static func bypass(_ direction: XFRMPolicyDirection, ipv6: Bool) -> XFRMSocketPolicy {
        var info = xfrm_userpolicy_info()
        info.action = XFRMPolicyAction.allow.rawValue
        info.dir = direction.rawValue
        info.sel.family = UInt16(ipv6 ? AF_INET6 : AF_INET)
        return XFRMSocketPolicy(info: info)
    }

    /// The option's level and name: (SOL_IP, IP_XFRM_POLICY) or (SOL_IPV6, IPV6_XFRM_POLICY).
    public static func option(ipv6: Bool) -> (level: CInt, name: CInt) {
        ipv6 ? (CInt(IPPROTO_IPV6), 35) : (CInt(IPPROTO_IP), 17)
    }

    /// Sets `policy` on the socket `descriptor` (for sockets made outside NIO, and tests).
    public static func apply(_ policy: XFRMSocketPolicy, to descriptor: CInt, ipv6: Bool) throws {
        let (level, name) = option(ipv6: ipv6)
        var info = policy.info
        let status = setsockopt(descriptor, level, name, &info, socklen_t(MemoryLayout<xfrm_userpolicy_info>.size))
        guard status == 0 else { throw XFRMSocketPolicyError(errno: errno) }
    }
}

/// setsockopt refused the policy (EPERM without CAP_NET_ADMIN; ENOPROTOOPT without XFRM).
public struct XFRMSocketPolicyError: Error, CustomStringConvertible {
    public var errno: CInt
    public var description: String { "IP_XFRM_POLICY: \(String(cString: strerror(errno)))" }
}
