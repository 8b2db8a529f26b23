import Cluster
import Foundation
import Glibc

/// Inbound direct mode: the routing node forwards the peer's ESP unchanged to this target's
/// cluster interface, so it arrives there with the peer's address as source, which this host
/// routes out of another interface. Strict reverse-path filtering (`rp_filter` 1, RFC 3704)
/// drops every such packet. The kernel applies the larger of `conf/all` and the interface's
/// own value, so a strict `all` cannot simply be loosened: that would loosen every other
/// interface too (the WAN included). The agent keeps every other interface as strict as it
/// was (raising its own value, and `default`'s for interfaces to come, from 0 to 1), then
/// sets `all` to 0 and the cluster interface to 2. 0 and 2 on the cluster interface are left
/// alone, nothing is restored at stop (a later strict value is the operator's), and each
/// change is logged. IPv6 has no rp_filter sysctl (nft/ip6tables rpfilter rules are the
/// operator's).
enum ReversePathFilter {
    /// The writes, in order, that make reverse-path filtering loose on `interface` and leave
    /// every other interface's effective value as it was. `others`: the values of the other
    /// entries of conf/ (every other interface and `default`; not `all`).
    static func loosening(all: Int, interface name: String, value: Int,
                          others: [String: Int]) -> [(which: String, value: Int)] {
        guard max(all, value) == 1 else { return [] }   // the effective value: off or loose already
        var writes: [(which: String, value: Int)] = []
        if all == 1 {
            for (other, own) in others.sorted(by: { $0.key < $1.key }) where own == 0 { writes.append((other, 1)) }
            writes.append(("all", 0))
        }
        writes.append((name, 2))
        return writes
    }

    /// Loosens rp_filter for packets arriving at the interface holding `clusterAddress`;
    /// returns what it changed ("clu0: 1 -> 2"), or throws naming the file it could not write.
    static func loosen(forClusterAddress clusterAddress: IPAddress) throws -> [String] {
        guard let name = LoopbackAddress.interfaces(holding: clusterAddress).first else { return [] }
        return try loosen(interface: name)
    }

    /// The same for the interface `name` (encapsulated mode: the GRE device, whose
    /// decapsulated ESP carries the peer's address as source).
    static func loosen(interface name: String) throws -> [String] {
        let base = "/proc/sys/net/ipv4/conf/"
        guard let all = read(base + "all/rp_filter"), let value = read(base + name + "/rp_filter") else { return [] }
        var others: [String: Int] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] where entry != "all" && entry != name {
            if let own = read(base + entry + "/rp_filter") { others[entry] = own }
        }
        let before = others.merging(["all": all, name: value]) { a, _ in a }
        var changes: [String] = []
        for write in loosening(all: all, interface: name, value: value, others: others) {
            let path = base + write.which + "/rp_filter"
            guard let file = fopen(path, "w") else {
                throw AgentStartError(description: "\(path): \(String(cString: strerror(errno)))")
            }
            let written = fputs("\(write.value)\n", file) >= 0
            let closed = fclose(file) == 0
            guard written, closed else { throw AgentStartError(description: "\(path): \(String(cString: strerror(errno)))") }
            changes.append("\(write.which): \(before[write.which] ?? 0) -> \(write.value)")
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
