// What `vipsec status --connections` shows (inbound claim 10): the routing node's connection
// table, one entry per connection, as the control socket carries it and as text in the
// style of `ipvsadm -Lc` / `conntrack -L`. Pure values (names and numbers) and formatting:
// the inbound distributor fills them (Inbound's ConnectionListing.swift), the IKE daemon
// adds each CHILD_SA line's name and peer (OperatorService). The JSON keys are the
// contract (README, Operations): new keys may be added, none renamed or removed.
import Foundation

/// `vipsec status --connections --json`.
public struct ConnectionList: Codable, Equatable, Sendable {
    /// Entries in the table when the listing began (all of them, not only those listed).
    public var total: Int
    /// The most entries asked for (`--limit`).
    public var limit: Int
    /// Entries per target (node name).
    public var perTarget: [String: Int]
    public var connections: [ConnectionEntry]

    public init(total: Int, limit: Int, perTarget: [String: Int], connections: [ConnectionEntry]) {
        self.total = total
        self.limit = limit
        self.perTarget = perTarget
        self.connections = connections
    }

    enum CodingKeys: String, CodingKey {
        case total, limit, connections
        case perTarget = "per_target"
    }

    /// Pretty JSON with sorted keys and a final newline.
    public var json: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return ((try? encoder.encode(self)) ?? Data("{}".utf8)) + Data("\n".utf8)
    }
}

/// One connection: the peer-to-DVIPA direction of its inner flow, the target serving it and
/// the CHILD_SA line (reqid, surviving rekeys) it came under.
public struct ConnectionEntry: Codable, Equatable, Sendable {
    /// "tcp", "udp", "icmp", "ipv6-icmp", "sctp", or the protocol number.
    public var proto: String
    public var source: String
    public var sourcePort: Int
    public var destination: String
    public var destinationPort: Int
    /// The target (node name).
    public var target: String
    /// The CHILD_SA line's reqid (`vipsec list-sas` shows it per CHILD_SA).
    public var reqid: UInt32
    /// "connection/child" and the peer's address, when the IKE daemon holds that line now.
    public var child: String?
    public var peer: String?
    /// TCP: "open" (made from its SYN) or "closing" (FIN or RST seen); nil for other protocols.
    public var state: String?
    /// Seconds until the entry ends unless a packet uses it.
    public var expiresInSeconds: Int

    public init(proto: String, source: String, sourcePort: Int, destination: String, destinationPort: Int,
                target: String, reqid: UInt32, state: String?, expiresInSeconds: Int) {
        self.proto = proto
        self.source = source
        self.sourcePort = sourcePort
        self.destination = destination
        self.destinationPort = destinationPort
        self.target = target
        self.reqid = reqid
        self.state = state
        self.expiresInSeconds = expiresInSeconds
    }

    enum CodingKeys: String, CodingKey {
        case proto = "protocol", source, destination, target, reqid, child, peer, state
        case sourcePort = "source_port", destinationPort = "destination_port", expiresInSeconds = "expires_in_seconds"
    }

    /// Optional keys are written as null, so every entry has every key.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(proto, forKey: .proto)
        try c.encode(source, forKey: .source)
        try c.encode(sourcePort, forKey: .sourcePort)
        try c.encode(destination, forKey: .destination)
        try c.encode(destinationPort, forKey: .destinationPort)
        try c.encode(target, forKey: .target)
        try c.encode(reqid, forKey: .reqid)
        try c.encode(child, forKey: .child)
        try c.encode(peer, forKey: .peer)
        try c.encode(state, forKey: .state)
        try c.encode(expiresInSeconds, forKey: .expiresInSeconds)
    }

    /// An address as `ip` and `conntrack` print it: IPv4 dotted, IPv6 in RFC 5952's form
    /// (lower case, the longest run of two or more zero groups as "::", the first if tied).
    public static func text(_ address: IPAddress) -> String {
        guard !address.isIPv4 else { return address.description }
        let bytes = address.bytes
        let groups = stride(from: 0, to: 16, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
        var best = (start: -1, length: 1), run = (start: -1, length: 0)
        for (i, group) in groups.enumerated() {
            if group == 0 {
                run = run.length == 0 ? (i, 1) : (run.start, run.length + 1)
                if run.length > best.length { best = run }
            } else {
                run = (-1, 0)
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        guard best.start >= 0 else { return hex.joined(separator: ":") }
        let head = hex[..<best.start].joined(separator: ":"), tail = hex[(best.start + best.length)...].joined(separator: ":")
        return head + "::" + tail
    }

    /// The name `conntrack -L` uses for an IP protocol number.
    public static func protocolName(_ number: UInt8) -> String {
        switch number {
        case 1: return "icmp"
        case 6: return "tcp"
        case 17: return "udp"
        case 58: return "ipv6-icmp"
        case 132: return "sctp"
        default: return String(number)
        }
    }
}

// MARK: Text

extension ConnectionList {
    /// A header with the totals, then one line per entry under column titles.
    public var text: String {
        let counts = perTarget.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        var header = "connections: \(total) in the table, \(connections.count) listed (--limit \(limit))"
        if !counts.isEmpty { header += "; per target: \(counts)" }
        guard !connections.isEmpty else { return header + "\n" }
        let rows = [["PROTO", "EXPIRES", "STATE", "SOURCE", "DESTINATION", "TARGET", "REQID", "CHILD_SA (PEER)"]]
            + connections.map(\.columns)
        var widths = [Int](repeating: 0, count: rows[0].count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        let lines = rows.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ([header] + lines).joined(separator: "\n") + "\n"
    }
}

extension ConnectionEntry {
    var columns: [String] {
        func endpoint(_ address: String, _ port: Int) -> String {
            address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)"
        }
        var line = child ?? "-"
        if let peer { line += " (\(peer))" }
        return [proto, "\(expiresInSeconds)s", state ?? "-", endpoint(source, sourcePort),
                endpoint(destination, destinationPort), target, String(reqid), line]
    }
}
