import Cluster
import Foundation
import Glibc

/// Inbound direct mode: the routing node forwards the peer's ESP unchanged to this target's
/// cluster interface, so it arrives there with the peer's address as source, which this host
/// routes out of another interface. Strict reverse-path filtering (`rp_filter` 1, RFC 3704)
/// drops every such packet; the kernel applies the larger of `conf/all` and the
/// interface's own value, so the agent makes whichever is strict loose (2). 0 and 2 are
/// left alone, nothing is restored at stop (a later strict value is the operator's), and
/// each change is logged. IPv6 has no rp_filter sysctl (nft/ip6tables rpfilter rules are
/// the operator's).
enum ReversePathFilter {
    /// The writes that make reverse-path filtering loose on `interface`, given the current
    /// values of conf/all and conf/`interface` (`which` is "all" or the interface name).
    static func loosening(all: Int, interface name: String, value: Int) -> [(which: String, value: Int)] {
        var writes: [(which: String, value: Int)] = []
        if value == 1 { writes.append((name, 2)) }
        if all == 1 { writes.append(("all", 2)) }
        return writes
    }

    /// Loosens rp_filter for packets arriving at the interface holding `clusterAddress`;
    /// returns what it changed ("clu0: 1 -> 2"), or throws naming the file it could not write.
    static func loosen(forClusterAddress clusterAddress: IPAddress) throws -> [String] {
        guard let name = LoopbackAddress.interfaces(holding: clusterAddress).first else { return [] }
        let base = "/proc/sys/net/ipv4/conf/"
        guard let all = read(base + "all/rp_filter"), let value = read(base + name + "/rp_filter") else { return [] }
        var changes: [String] = []
        for write in loosening(all: all, interface: name, value: value) {
            let path = base + write.which + "/rp_filter"
            guard let file = fopen(path, "w") else {
                throw AgentStartError(description: "\(path): \(String(cString: strerror(errno)))")
            }
            let written = fputs("\(write.value)\n", file) >= 0
            let closed = fclose(file) == 0
            guard written, closed else { throw AgentStartError(description: "\(path): \(String(cString: strerror(errno)))") }
            changes.append("\(write.which): 1 -> \(write.value)")
        }
        return changes
    }

    private static func read(_ path: String) -> Int? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 16)
        guard fgets(&buffer, Int32(buffer.count), file) != nil else { return nil }
        return Int(String(cString: buffer).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
