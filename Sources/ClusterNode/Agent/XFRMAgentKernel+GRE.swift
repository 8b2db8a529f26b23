import Cluster
import InboundRouting

// Inbound encapsulated mode on a target (claims 7-8): the routing node sends the peer's ESP
// inside GRE from its cluster address; this host decapsulates GRE from that address only
// (`TargetDecapsulation`: the `vgre-router` device, kind gre or ip6gre by the cluster
// addresses' family, nft `inet vipsec_target` dropping and counting GRE from anyone else as
// `gre_refused`), with IPv4 reverse-path filtering loose on the device only
// (`ReversePathFilter`: the inner source is the peer; IPv6 has none). The decapsulated ESP
// then meets this kernel's shadow SA as in direct mode.
extension XFRMAgentKernel {
    public func startDecapsulation(router: IPAddress, local: IPAddress) throws -> [String] {
        guard networkNamespace == nil else {
            throw AgentStartError(description: "GRE decapsulation runs in the agent's own network namespace only")
        }
        guard router.isIPv4 == local.isIPv4, let routerAddress = RouteAddress(router.description),
              let localAddress = RouteAddress(local.description) else {
            throw AgentStartError(description: "GRE decapsulation needs cluster addresses of one family (router \(router), this target \(local))")
        }
        let forwarding = try InboundForwarding()
        // A device left by an earlier run (or for another routing node) is replaced.
        let wanted = TargetDecapsulation(router: routerAddress, local: localAddress)
        if let current = decapsulation, current.router != wanted.router { try current.stop(using: forwarding) }
        try forwarding.deleteLink(name: wanted.deviceName)
        var changes: [String] = []
        try wanted.start(using: forwarding) { device in
            changes = try ReversePathFilter.loosen(interface: device).map { "rp_filter \($0)" }
        }
        decapsulation = wanted
        let kind = router.isIPv4 ? "GRE" : "ip6gre"
        return ["\(kind) \(wanted.deviceName) from \(router) to \(local), other GRE dropped (nft inet \(TargetDecapsulation.table) gre_refused)"]
            + changes
    }

    public func stopDecapsulation() throws {
        let forwarding = try InboundForwarding()
        let current = decapsulation ?? TargetDecapsulation(router: RouteAddress("0.0.0.0")!, local: RouteAddress("0.0.0.0")!)
        try current.stop(using: forwarding)
        decapsulation = nil
    }
}
