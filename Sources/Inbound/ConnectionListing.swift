// `vipsec status --connections` (claim 10): the connection table's entries, read out of the
// classifier that the NFQUEUE workers share, without stalling them. The listing is taken in
// pieces: each piece holds the shared lock for at most `slotsPerPiece` slots of the table
// (and copies at most the entries still wanted), then lets the workers in again. So a
// listing of a 1 M-entry table costs the workers a wait of one piece at a time, never a
// whole scan; and `limit` bounds what is copied at all.
// Like `conntrack -L`, a listing in pieces is not one snapshot: an entry added, removed or
// moved by the table's growth between two pieces may be missed (it is never listed twice:
// keys already listed are skipped). The totals are those of the first piece.

import Cluster

/// One entry as the operator sees it.
public struct ListedConnection: Hashable, Sendable {
    public var key: FlowKey
    public var target: NodeID
    /// Seconds until the entry ends unless a packet uses it (the idle timeout left).
    public var expiresIn: UInt32
    /// A FIN or RST was seen (TCP: the shorter `tcpClosing` timeout runs).
    public var closing: Bool
}

/// A bounded listing: the entries copied and the table's totals.
public struct ConnectionListing: Sendable {
    public var connections: [ListedConnection]
    /// Entries in the table when the listing began (expired ones not yet swept included,
    /// as in the per-target counts).
    public var total: Int
    /// Entries per target then (by node).
    public var perTarget: [NodeID: Int]
    /// How many times the lock was taken.
    public var pieces: Int
}

extension InboundClassifier {
    /// One piece of the listing (see `FlowTable.entries(from:limit:examining:now:)`).
    public func connections(from start: Int, limit: Int, examining: Int,
                            now: ClusterInstant) -> (connections: [ListedConnection], next: Int?) {
        let nowSeconds = seconds(now)
        let piece = flows.entries(from: start, limit: limit, examining: examining, now: nowSeconds)
        let listed = piece.entries.compactMap { entry in
            target(at: entry.target).map {
                ListedConnection(key: entry.key, target: $0, expiresIn: entry.expires &- nowSeconds, closing: entry.closing)
            }
        }
        return (listed, piece.next)
    }
}

extension SharedClassifier {
    /// Table slots examined per lock hold (4096 slots of 48 octets: 192 KiB read per piece;
    /// `scripts/bench inbound-classifier` measures a piece against a whole-table hold).
    public static let slotsPerPiece = 4096

    /// Up to `limit` live entries and the table's totals, the lock taken once per piece
    /// (`limit` 0: only the totals, one short lock hold).
    public func listConnections(limit: Int, now: ClusterInstant, slotsPerPiece: Int = slotsPerPiece) -> ConnectionListing {
        var listing = ConnectionListing(connections: [], total: 0, perTarget: [:], pieces: 0)
        var listed = Set<FlowKey>()
        var start = 0
        repeat {
            let wanted = limit - listing.connections.count
            let first = listing.pieces == 0
            let piece = withLock { classifier in
                if first { (listing.total, listing.perTarget) = (classifier.flows.count, classifier.flowCounts) }
                return classifier.connections(from: start, limit: wanted, examining: slotsPerPiece, now: now)
            }
            listing.pieces += 1
            for connection in piece.connections where listed.insert(connection.key).inserted {
                listing.connections.append(connection)
            }
            guard let next = piece.next else { break }
            start = next
        } while listing.connections.count < limit
        return listing
    }
}

extension ConnectionListing {
    /// As the control socket carries it (names and numbers); `limit` as the operator asked.
    public func list(limit: Int) -> ConnectionList {
        let entries = connections.map { connection -> ConnectionEntry in
            let key = connection.key
            let isTCP = key.ipProtocol == IPProtocolNumber.tcp
            return ConnectionEntry(proto: ConnectionEntry.protocolName(key.ipProtocol),
                                   source: ConnectionEntry.text(key.source.ipAddress), sourcePort: Int(key.sourcePort),
                                   destination: ConnectionEntry.text(key.destination.ipAddress), destinationPort: Int(key.destinationPort),
                                   target: connection.target.name, reqid: key.lineage.rawValue,
                                   state: isTCP ? (connection.closing ? "closing" : "open") : nil,
                                   expiresInSeconds: Int(connection.expiresIn))
        }
        return ConnectionList(total: total, limit: limit,
                              perTarget: Dictionary(perTarget.map { ($0.key.name, $0.value) }, uniquingKeysWith: +),
                              connections: entries)
    }
}
