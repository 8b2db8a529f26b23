import Cluster
import Foundation
@testable import Inbound
import XCTest

/// `vipsec status --connections`: the entries of a real classifier's table, placed by real
/// packets (two CHILD_SA lines, three targets, IPv4 and IPv6 inner, TCP and UDP), listed in
/// bounded pieces of the shared lock, as text and JSON.
final class ConnectionListingTests: XCTestCase {
    static let lineage2 = SALineageID(8)
    static let spi2: UInt32 = 0xC002_0002
    static let v6Host = Fixture.peerHost6
    static let v6Destination = Fixture.dvipa6

    static func tcp6(sport: UInt16, flags: UInt8, sequence: UInt32) -> [UInt8] {
        let inner = PacketBuilder.ipv6(source: v6Host, destination: v6Destination, nextHeader: 6,
                                       payload: PacketBuilder.tcp(source: sport, destination: 80, flags: flags))
        return Fixture.esp(inner, nextHeader: 41, spi: spi2, sequence: sequence)
    }

    /// The classifier after: 12 TCP SYNs and 3 UDP datagrams (IPv4, line 7), 4 TCP SYNs over
    /// IPv6 (line 8), and a FIN on IPv4 port 1001. Returns it shared, and each flow's target.
    func populated() -> (SharedClassifier, [FlowKey: NodeID]) {
        var second = Fixture.sa(spi: Self.spi2)
        second.lineage = Self.lineage2
        var classifier = Fixture.classifier(sas: [Fixture.sa(), second])
        var placed: [FlowKey: NodeID] = [:]
        var sequence: UInt32 = 0
        func send(_ packet: [UInt8], _ key: FlowKey) {
            sequence += 1
            let decision = classifier.classify(packet, now: Fixture.now)
            guard let index = decision.target, let target = classifier.target(at: index) else { return XCTFail("\(key): \(decision)") }
            placed[key] = target
        }
        for port in UInt16(1001)...1012 { send(Fixture.tcp(sport: port, flags: Fixture.syn, sequence: sequence + 1), Fixture.flow(sport: port)) }
        for port in UInt16(2001)...2003 { send(Fixture.udp(sport: port, sequence: sequence + 1), Fixture.flow(sport: port, dport: 53, proto: 17)) }
        for port in UInt16(3001)...3004 {
            send(Self.tcp6(sport: port, flags: Fixture.syn, sequence: sequence + 1),
                 FlowKey(lineage: Self.lineage2, source: Self.v6Host, destination: Self.v6Destination,
                         sourcePort: port, destinationPort: 80, ipProtocol: 6))
        }
        send(Fixture.tcp(sport: 1001, flags: Fixture.fin | Fixture.ack, sequence: sequence + 1), Fixture.flow(sport: 1001))
        return (SharedClassifier(classifier), placed)
    }

    func testTheListingIsTheTableWithItsTargetsStatesAndTimeouts() throws {
        let (shared, placed) = populated()
        XCTAssertEqual(placed.count, 19)
        XCTAssertGreaterThan(Set(placed.values).count, 1, "the flows are spread over several targets")
        let later = ClusterInstant(nanoseconds: Fixture.now.nanoseconds + 10_000_000_000)
        let listing = shared.listConnections(limit: 1000, now: later)
        XCTAssertEqual(listing.total, 19)
        XCTAssertEqual(listing.connections.count, 19)
        XCTAssertEqual(listing.perTarget.values.reduce(0, +), 19)
        for (target, count) in listing.perTarget {
            XCTAssertEqual(count, placed.values.filter { $0 == target }.count, "\(target)'s count")
        }
        let byKey = Dictionary(uniqueKeysWithValues: listing.connections.map { ($0.key, $0) })
        for (key, target) in placed { XCTAssertEqual(byKey[key]?.target, target, "\(key): listed with the target its packets went to") }
        // Timeouts left after 10 s: tcp 900, tcp after FIN 120, udp 300 (FlowTimeouts).
        XCTAssertEqual(byKey[Fixture.flow(sport: 1002)]?.expiresIn, 890)
        XCTAssertEqual(byKey[Fixture.flow(sport: 1002)]?.closing, false)
        XCTAssertEqual(byKey[Fixture.flow(sport: 1001)]?.expiresIn, 110)
        XCTAssertEqual(byKey[Fixture.flow(sport: 1001)]?.closing, true)
        XCTAssertEqual(byKey[Fixture.flow(sport: 2001, dport: 53, proto: 17)]?.expiresIn, 290)

        let list = listing.list(limit: 1000)
        let v6 = try XCTUnwrap(list.connections.first { $0.sourcePort == 3001 })
        XCTAssertEqual([v6.proto, v6.source, v6.destination, v6.state], ["tcp", "fd00:1::5", "2001:db8::10", "open"])
        XCTAssertEqual(v6.reqid, 8)
        XCTAssertEqual(v6.target, placed[FlowKey(lineage: Self.lineage2, source: Self.v6Host, destination: Self.v6Destination,
                                                 sourcePort: 3001, destinationPort: 80, ipProtocol: 6)]?.name)
        let udp = try XCTUnwrap(list.connections.first { $0.sourcePort == 2002 })
        XCTAssertEqual([udp.proto, udp.source, udp.destination], ["udp", "10.1.0.5", "192.0.2.10"])
        XCTAssertNil(udp.state, "UDP keeps no state")
        XCTAssertEqual(list.connections.first { $0.sourcePort == 1001 }?.state, "closing")

        // At 200 s the closing entry (120 s) has expired: not listed, though still counted
        // until the sweep removes it; the open TCP (900 s) and UDP (300 s) entries are listed.
        let at200 = shared.listConnections(limit: 1000, now: ClusterInstant(nanoseconds: Fixture.now.nanoseconds + 200_000_000_000))
        XCTAssertEqual(at200.connections.count, 18, "the closing entry (120 s) expired")
        XCTAssertEqual(at200.total, 19, "the total counts entries until the sweep removes them")
    }

    /// The bound: at most `limit` entries copied, at most `slotsPerPiece` slots per lock hold;
    /// a listing in many pieces lists every entry once.
    func testTheListingIsBoundedAndTakenInPieces() {
        var classifier = Fixture.classifier()
        var sequence: UInt32 = 0
        for port in UInt16(1)...3000 {
            sequence += 1
            _ = classifier.classify(Fixture.tcp(sport: port, flags: Fixture.syn, sequence: sequence), now: Fixture.now)
        }
        XCTAssertEqual(classifier.flows.count, 3000)
        let capacity = classifier.flows.capacity
        let shared = SharedClassifier(classifier)

        let limited = shared.listConnections(limit: 100, now: Fixture.now)
        XCTAssertEqual(limited.connections.count, 100)
        XCTAssertEqual(limited.total, 3000)

        let all = shared.listConnections(limit: 100_000, now: Fixture.now, slotsPerPiece: 256)
        XCTAssertEqual(Set(all.connections.map(\.key)).count, 3000, "every entry, once")
        XCTAssertEqual(all.pieces, (capacity + 255) / 256, "the whole table in pieces of 256 slots")

        let totals = shared.listConnections(limit: 0, now: Fixture.now)
        XCTAssertEqual(totals.connections.count, 0)
        XCTAssertEqual(totals.total, 3000)
        XCTAssertEqual(totals.pieces, 1)

        // One piece never looks past its budget of slots.
        shared.withLock { classifier in
            var start = 0
            while true {
                let piece = classifier.flows.entries(from: start, limit: 10_000, examining: 100, now: 1000)
                XCTAssertLessThanOrEqual((piece.next ?? capacity) - start, 100)
                guard let next = piece.next else { break }
                start = next
            }
        }
    }

    func testTheTextHasAHeaderWithTotalsAndOneAlignedLinePerEntry() {
        var first = ConnectionEntry(proto: "tcp", source: "10.1.0.5", sourcePort: 40512, destination: "192.0.2.10",
                                    destinationPort: 80, target: "t1", reqid: 7, state: "open", expiresInSeconds: 897)
        first.child = "gw/net"
        first.peer = "198.51.100.7"
        let second = ConnectionEntry(proto: "udp", source: "fd00:0:0:1::5", sourcePort: 5353, destination: "2001:db8::10",
                                     destinationPort: 53, target: "t2", reqid: 8, state: nil, expiresInSeconds: 12)
        let list = ConnectionList(total: 5, limit: 2, perTarget: ["t2": 3, "t1": 2], connections: [first, second])
        XCTAssertEqual(list.text, """
            connections: 5 in the table, 2 listed (--limit 2); per target: t1=2 t2=3
            PROTO  EXPIRES  STATE  SOURCE                DESTINATION        TARGET  REQID  CHILD_SA (PEER)
            tcp    897s     open   10.1.0.5:40512        192.0.2.10:80      t1      7      gw/net (198.51.100.7)
            udp    12s      -      [fd00:0:0:1::5]:5353  [2001:db8::10]:53  t2      8      -

            """)
        XCTAssertEqual(ConnectionList(total: 0, limit: 1000, perTarget: [:], connections: []).text,
                       "connections: 0 in the table, 0 listed (--limit 1000)\n")
    }

    func testTheJSONKeysAreTheDocumentedOnes() throws {
        let entry = ConnectionEntry(proto: "udp", source: "10.1.0.5", sourcePort: 5353, destination: "192.0.2.10",
                                    destinationPort: 53, target: "t2", reqid: 8, state: nil, expiresInSeconds: 12)
        let list = ConnectionList(total: 1, limit: 1000, perTarget: ["t2": 1], connections: [entry])
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: list.json) as? [String: Any])
        XCTAssertEqual(Set(object.keys), ["total", "limit", "per_target", "connections"])
        let first = try XCTUnwrap((object["connections"] as? [[String: Any]])?.first)
        XCTAssertEqual(Set(first.keys), ["protocol", "source", "source_port", "destination", "destination_port", "target",
                                         "reqid", "child", "peer", "state", "expires_in_seconds"])
        XCTAssertTrue(first["state"] is NSNull, "a missing value is null, the key is there")
        XCTAssertEqual(try JSONDecoder().decode(ConnectionList.self, from: list.json), list, "it reads back")
    }
}

extension ConnectionListingTests {
    func testIPv6AddressesArePrintedAsRFC5952() throws {
        func text(_ bytes: [UInt8]) throws -> String { ConnectionEntry.text(try IPAddress(bytes: bytes)) }
        XCTAssertEqual(try text([0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [0x10]), "2001:db8::10")
        XCTAssertEqual(try text([UInt8](repeating: 0, count: 15) + [1]), "::1")
        XCTAssertEqual(try text([UInt8](repeating: 0, count: 16)), "::")
        XCTAssertEqual(try text([0xfe, 0x80] + [UInt8](repeating: 0, count: 14)), "fe80::")
        // One zero group is not shortened; of two equal runs the first is.
        XCTAssertEqual(try text([0, 1, 0, 0, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7]), "1:0:2:3:4:5:6:7")
        XCTAssertEqual(try text([0, 1, 0, 0, 0, 0, 0, 2, 0, 3, 0, 0, 0, 0, 0, 4]), "1::2:3:0:0:4")
        XCTAssertEqual(try text([10, 1, 0, 5]), "10.1.0.5")
    }
}
