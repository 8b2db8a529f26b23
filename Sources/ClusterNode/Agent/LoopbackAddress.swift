import Cluster
import Glibc
import Netlink

/// Puts the DVIPA on the loopback device, as `ip addr replace DVIPA/32 dev lo` does
/// (InterfaceAddress: RTM_NEWADDR over NETLINK_ROUTE with NLM_F_CREATE | NLM_F_REPLACE). A target holds the
/// DVIPA there so forwarded packets are local and outbound ESP can use it as its source,
/// without answering ARP for it (the lab sets arp_ignore / arp_announce).
enum LoopbackAddress {
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
        try InterfaceAddress.remove(address, prefixLength: address.isIPv4 ? 32 : 128, interface: "lo")
        if let recordPath { unlink(recordPath) }
    }

    /// The interfaces that hold `address` now.
    static func interfaces(holding address: IPAddress) -> [String] {
        InterfaceAddress.interfaces(holding: address)
    }

    /// Adds `address` (/32 or /128) to `lo`; an address already there is fine.
    static func ensure(_ address: IPAddress) throws {
        try InterfaceAddress.add(address, prefixLength: address.isIPv4 ? 32 : 128, interface: "lo")
    }
}
