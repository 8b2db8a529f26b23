import Glibc

/// A target's side of encapsulated mode: a GRE device whose remote is the routing node
/// (the kernel decapsulates only GRE from that address into it), nft dropping and counting
/// GRE from anyone else, and, per family of the cluster link:
/// - IPv4 (kind gre): loose reverse-path filtering on the device (the inner source is the
///   peer, whose route is not through the tunnel);
/// - IPv6 (kind ip6gre): IPv6 switched on for the device (`disable_ipv6` 0: the decapsulated
///   ESP is IPv6). IPv6 has no rp_filter: what stands in for it is the device's remote (only
///   the routing node's GRE is decapsulated), the nft filter, and the kernel's XFRM inbound
///   policy check after decryption (the inner source must lie within the SA's selectors).
/// After decapsulation the ESP goes to the target's own XFRM input as in direct mode.
///
/// | method | command equivalent |
/// |---|---|
/// | `start()`, IPv4 | `ip link add vgre-router type gre local L remote R; ip link set vgre-router up; sysctl net.ipv4.conf.{all,vgre-router}.rp_filter=2; nft -f -` with `script()` |
/// | `start()`, IPv6 | `ip link add vgre-router type ip6gre local L remote R hoplimit 64 encaplimit none; ip link set vgre-router up; sysctl net.ipv6.conf.vgre-router.disable_ipv6=0; nft -f -` with `script()` |
/// | `stop()` | `nft delete table inet vipsec_target; ip link del vgre-router` |
public struct TargetDecapsulation: Sendable {
    public static let table = "vipsec_target"
    public var router: RouteAddress
    public var local: RouteAddress
    public var deviceName: String

    public init(router: RouteAddress, local: RouteAddress, deviceName: String = "vgre-router") {
        self.router = router
        self.local = local
        self.deviceName = deviceName
    }

    /// GRE (IP protocol 47) accepted only from the routing node; the rest, GRE over the other
    /// IP family included, counted and dropped before routing (priority raw). `meta l4proto`
    /// is the transport protocol after any IPv6 extension headers (an ip6gre sender with an
    /// encapsulation limit puts a destination options header before GRE). Addresses are
    /// RouteAddress values (inet_pton-checked).
    public func script() -> String {
        let six = router.family == AF_INET6
        let family = six ? "ip6" : "ip", other = six ? "ipv4" : "ipv6"
        return """
            table inet \(Self.table)
            delete table inet \(Self.table)
            table inet \(Self.table) {
              counter gre_refused { }
              chain prerouting {
                type filter hook prerouting priority raw; policy accept;
                meta l4proto gre \(family) saddr != \(router) counter name gre_refused drop
                meta nfproto \(other) meta l4proto gre counter name gre_refused drop
              }
            }

            """
    }

    /// The filter first (GRE from others is dropped from the start), then the device.
    /// IPv4: `reversePath` loosens rp_filter for the device (the agent keeps every other
    /// interface as strict as it was); nil: `all` and the device to 2, as the lab tool does.
    /// IPv6: no rp_filter (`reversePath` is not called).
    public func start(using forwarding: InboundForwarding, reversePath: ((String) throws -> Void)? = nil) throws {
        try forwarding.runNft(script())
        try forwarding.addGRE(name: deviceName, local: local, remote: router)
        if router.family == AF_INET6 { return }
        if let reversePath {
            try reversePath(deviceName)
        } else {
            for scope in ["all", deviceName] {
                try InboundForwarding.writeSysctl("/proc/sys/net/ipv4/conf/\(scope)/rp_filter", "2")
            }
        }
    }

    /// Removes the filter and the device (both absent is fine).
    public func stop(using forwarding: InboundForwarding) throws {
        try forwarding.runNft("table inet \(Self.table)\ndelete table inet \(Self.table)\n")
        try forwarding.deleteLink(name: deviceName)
    }
}
