import Glibc

/// A target's side of encapsulated mode: a GRE device whose remote is the routing node
/// (the kernel decapsulates only GRE from that address into it), nft dropping and counting
/// GRE from anyone else, and loose reverse-path filtering on the device (the inner source
/// is the peer, whose route is not through the tunnel). After decapsulation the ESP goes to
/// the target's own XFRM input as in direct mode.
///
/// | method | command equivalent |
/// |---|---|
/// | `start()` | `ip link add vgre-router type gre local L remote R; ip link set vgre-router up; sysctl net.ipv4.conf.{all,vgre-router}.rp_filter=2; nft -f -` with `script()` |
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

    /// GRE (IP protocol 47) accepted only from the routing node; the rest counted and dropped
    /// before routing (priority raw). Addresses are RouteAddress values (inet_pton-checked).
    public func script() -> String {
        let family = router.family == AF_INET6 ? "ip6" : "ip"
        return """
            table inet \(Self.table)
            delete table inet \(Self.table)
            table inet \(Self.table) {
              counter gre_refused { }
              chain prerouting {
                type filter hook prerouting priority raw; policy accept;
                meta l4proto gre \(family) saddr != \(router) counter name gre_refused drop
              }
            }

            """
    }

    /// The filter first (GRE from others is dropped from the start), then the device.
    /// `reversePath` loosens rp_filter for the device (the agent keeps every other interface
    /// as strict as it was); nil: `all` and the device to 2, as the lab tool does.
    public func start(using forwarding: InboundForwarding, reversePath: ((String) throws -> Void)? = nil) throws {
        try forwarding.runNft(script())
        try forwarding.addGRE(name: deviceName, local: local, remote: router)
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
