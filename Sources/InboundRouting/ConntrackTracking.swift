/// The kernel tracks connections in a network namespace only while some hook there needs
/// conntrack (nf_ct_netns_get: an nft `ct` expression, iptables `-m conntrack`, NAT...);
/// without one, a target's namespace has no conntrack entries and so no events. The agent
/// makes sure with a table of its own, `inet vipsec_conntrack`: one prerouting chain whose
/// only rule counts new connections (`ct state new`) and accepts everything. It is created
/// at the agent's start and deleted at its stop, like its other kernel set-up.
///
/// | method | command equivalent |
/// |---|---|
/// | `start(using:)` | `nft -f -` with `script()` |
/// | `stop(using:)` | `nft delete table inet vipsec_conntrack` (absent is fine) |
public enum ConntrackTracking {
    public static let table = "vipsec_conntrack"

    /// Replaces any table of that name left by an earlier run.
    public static func script() -> String {
        """
        table inet \(table)
        delete table inet \(table)
        table inet \(table) {
          counter new_connections { }
          chain prerouting {
            type filter hook prerouting priority filter; policy accept;
            ct state new counter name new_connections
          }
        }

        """
    }

    public static func start(using forwarding: InboundForwarding) throws {
        try forwarding.runNft(script())
    }

    public static func stop(using forwarding: InboundForwarding) throws {
        try forwarding.runNft("table inet \(table)\ndelete table inet \(table)\n")
    }
}
