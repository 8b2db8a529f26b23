import Cluster
@testable import Inbound
import XCTest

/// The per-packet decision with ENCR_NULL SAs (no cipher): placement, table rules, counters.
final class ClassifierTests: XCTestCase {
    func testSynCreatesAnEntryAndTheFlowSticks() {
        var c = Fixture.classifier()
        let first = c.classify(Fixture.tcp(sport: 40000, flags: Fixture.syn), now: Fixture.now)
        guard let target = first.target else { return XCTFail("\(first)") }
        XCTAssertEqual(first.mark, 0x101 + UInt32(target))
        XCTAssertEqual(c.flows.count, 1)
        XCTAssertEqual(c.counters[.created], 1)
        for seq in UInt32(2)...20 {
            XCTAssertEqual(c.classify(Fixture.tcp(sport: 40000, flags: Fixture.ack, sequence: seq), now: Fixture.now).target, target)
        }
        XCTAssertEqual(c.counters[.entry], 19)
        let connections = c.connections(now: Fixture.now)
        XCTAssertEqual(connections.map(\.key), [Fixture.flow(sport: 40000)])
    }

    func testMidFlowTCPWithoutEntryFollowsTheHashWithoutCreating() {
        var c = Fixture.classifier()
        let synTarget = { (port: UInt16) -> UInt16? in
            var fresh = Fixture.classifier()
            return fresh.classify(Fixture.tcp(sport: port, flags: Fixture.syn), now: Fixture.now).target
        }
        for port in UInt16(1000)..<1050 {
            let decision = c.classify(Fixture.tcp(sport: port, flags: Fixture.ack), now: Fixture.now)
            XCTAssertEqual(decision.target, synTarget(port), "a lost entry lands where the SYN went")
        }
        XCTAssertEqual(c.flows.count, 0, "no entry from a non-SYN packet")
        XCTAssertEqual(c.counters[.hashed], 50)
    }

    func testNewFlowsSpreadOverTargetsAndMembershipChangesNeverMoveExistingFlows() {
        var c = Fixture.classifier()
        var placed: [UInt16: UInt16] = [:]
        for port in UInt16(2000)..<2300 {
            placed[port] = c.classify(Fixture.tcp(sport: port, flags: Fixture.syn), now: Fixture.now).target
        }
        XCTAssertEqual(Set(placed.values).count, 3, "all three targets used")
        // A fourth target joins and holds the SA: existing flows stay put.
        let t4 = try! NodeID("t4")
        try! c.upsertTarget(InboundTarget(id: t4, directMark: 0x104, encapsulatedMark: 0x204))
        c.setHolders(destination: Fixture.dvipa, spi: Fixture.spi, holders: [Fixture.t1, Fixture.t2, Fixture.t3, t4])
        for port in UInt16(2000)..<2300 {
            XCTAssertEqual(c.classify(Fixture.tcp(sport: port, flags: Fixture.ack), now: Fixture.now).target, placed[port])
        }
        // t2 dies: its flows go, the others' flows are untouched, new flows avoid it.
        let t2Index = (0..<4).first { c.target(at: UInt16($0)) == Fixture.t2 }.map(UInt16.init)!
        let t2Flows = placed.values.filter { $0 == t2Index }.count
        XCTAssertEqual(c.removeTarget(Fixture.t2), t2Flows)
        XCTAssertEqual(c.flows.count, 300 - t2Flows)
        for port in UInt16(2000)..<2300 where placed[port] != t2Index {
            XCTAssertEqual(c.classify(Fixture.tcp(sport: port, flags: Fixture.ack), now: Fixture.now).target, placed[port])
        }
        for port in UInt16(3000)..<3100 {
            XCTAssertNotEqual(c.classify(Fixture.tcp(sport: port, flags: Fixture.syn), now: Fixture.now).target, t2Index)
        }
        XCTAssertNil(c.flowCounts[Fixture.t2])
    }

    func testUnhealthyTargetKeepsItsFlowsButGetsNoNewOnes() {
        var c = Fixture.classifier()
        var byTarget: [UInt16: UInt16] = [:]
        for port in UInt16(100)..<200 {
            byTarget[port] = c.classify(Fixture.tcp(sport: port, flags: Fixture.syn), now: Fixture.now).target
        }
        try! c.setHealthy(Fixture.t1, false)
        let t1Index = (0..<3).first { c.target(at: UInt16($0)) == Fixture.t1 }.map(UInt16.init)!
        for port in UInt16(500)..<600 {
            XCTAssertNotEqual(c.classify(Fixture.tcp(sport: port, flags: Fixture.syn), now: Fixture.now).target, t1Index)
        }
        XCTAssertEqual(c.flowCounts[Fixture.t1], byTarget.values.filter { $0 == t1Index }.count)
    }

    func testUDPCreatesOnFirstPacketAndExpires() {
        var c = Fixture.classifier()
        let first = c.classify(Fixture.udp(sport: 5353), now: Fixture.now)
        XCTAssertNotNil(first.target)
        XCTAssertEqual(c.flows.count, 1)
        c.tick(now: Fixture.now + .seconds(301))
        XCTAssertEqual(c.flows.count, 0, "udp 300 s")
    }

    func testFlowEndedRemovesTheEntry() {
        var c = Fixture.classifier()
        _ = c.classify(Fixture.tcp(sport: 7000, flags: Fixture.syn), now: Fixture.now)
        XCTAssertTrue(c.flowEnded(lineage: Fixture.lineage, flow: Fixture.flow(sport: 7000).fiveTuple))
        XCTAssertEqual(c.flows.count, 0)
        XCTAssertFalse(c.flowEnded(lineage: Fixture.lineage, flow: Fixture.flow(sport: 7000).fiveTuple))
    }

    func testRekeyKeepsTheFlowOnItsTarget() {
        var c = Fixture.classifier()
        let target = c.classify(Fixture.tcp(sport: 8080, flags: Fixture.syn), now: Fixture.now).target
        // The rekeyed CHILD_SA: a new SPI, the same lineage; the old one is removed.
        try! c.addSA(Fixture.sa(spi: 0xC001_0002), now: Fixture.now)
        XCTAssertTrue(c.removeSA(destination: Fixture.dvipa, spi: Fixture.spi))
        XCTAssertEqual(c.classify(Fixture.tcp(sport: 8080, flags: Fixture.ack, spi: 0xC001_0002), now: Fixture.now).target, target)
        XCTAssertEqual(c.classify(Fixture.tcp(sport: 8080, flags: Fixture.ack, spi: Fixture.spi), now: Fixture.now), .drop(.noSA))
    }

    /// ESP in UDP over an IPv6 DVIPA: placed by the inner flow like plain ESP. The NAT may
    /// move the peer to another public port or address (RFC 3948 mapping change): the SA is
    /// found by (DVIPA, SPI) and the flow by its inner 5-tuple, so neither notices.
    func testESPInUDPOverIPv6FollowsTheInnerFlowWhateverTheNATPort() {
        var c = Fixture.classifier(sas: [Fixture.sa(destination: Fixture.dvipa6)])
        func packet(sport: UInt16, flags: UInt8, sequence: UInt32, natPort: UInt16,
                    natAddress: InboundAddress = Fixture.peer6, udp: Bool = true) -> [UInt8] {
            let inner = PacketBuilder.ipv6(source: Fixture.peerHost6, destination: Fixture.dvipa6, nextHeader: 6,
                                           payload: PacketBuilder.tcp(source: sport, destination: 443, flags: flags))
            let plain = PacketBuilder.espPlaintext(payload: inner, nextHeader: 41, multiple: 4)
            let esp = PacketBuilder.espHeader(spi: Fixture.spi, sequenceNumber: sequence) + plain + [UInt8](repeating: 0xAA, count: 16)
            let body = udp ? PacketBuilder.udp(source: natPort, destination: 4500, payload: esp) : esp
            return PacketBuilder.ipv6(source: natAddress, destination: Fixture.dvipa6, nextHeader: udp ? 17 : 50, payload: body,
                                      extensionHeaders: [60])
        }
        var targets: [UInt16: UInt16] = [:]
        for sport in UInt16(50_000)..<50_030 {
            let first = c.classify(packet(sport: sport, flags: Fixture.syn, sequence: 1, natPort: 4500), now: Fixture.now)
            guard let target = first.target else { return XCTFail("\(first)") }
            targets[sport] = target
        }
        XCTAssertEqual(c.counters[.created], 30)
        XCTAssertGreaterThan(Set(targets.values).count, 1, "30 flows over 3 targets")
        let moved = InboundAddress(v6: [0x20, 0x01, 0x0d, 0xb8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9])!
        for (sport, target) in targets {
            XCTAssertEqual(c.classify(packet(sport: sport, flags: Fixture.ack, sequence: 2, natPort: 61_111), now: Fixture.now).target,
                           target, "a new NAT port")
            XCTAssertEqual(c.classify(packet(sport: sport, flags: Fixture.ack, sequence: 3, natPort: 4500, natAddress: moved),
                                      now: Fixture.now).target, target, "a new NAT address")
            XCTAssertEqual(c.classify(packet(sport: sport, flags: Fixture.ack, sequence: 4, natPort: 0, udp: false),
                                      now: Fixture.now).target, target, "plain ESP of the same SA")
        }
        XCTAssertEqual(c.counters[.entry], 90)
        XCTAssertEqual(c.flows.count, 30, "no entry from the moved packets")
        // The same SPI under the IPv4 DVIPA is another SA: nobody holds it.
        let v4 = PacketBuilder.ipv4(source: Fixture.peer, destination: Fixture.dvipa, protocol: 17,
                                    payload: PacketBuilder.udp(source: 4500, destination: 4500,
                                                               payload: PacketBuilder.espHeader(spi: Fixture.spi, sequenceNumber: 5)
                                                                   + [UInt8](repeating: 0, count: 40)))
        XCTAssertEqual(c.classify(v4, now: Fixture.now), .drop(.noSA))
    }

    func testReplayCheckUsesOnlyEvidence() {
        var c = Fixture.classifier()
        XCTAssertNotNil(c.classify(Fixture.tcp(sport: 1, flags: Fixture.syn, sequence: 5), now: Fixture.now).target)
        XCTAssertNotNil(c.classify(Fixture.tcp(sport: 1, flags: Fixture.syn, sequence: 5), now: Fixture.now).target,
                        "no evidence yet: the target's kernel catches this one")
        c.authenticated(destination: Fixture.dvipa, spi: Fixture.spi, top: 5, bitmap: [1] + [UInt64](repeating: 0, count: 63))
        XCTAssertEqual(c.classify(Fixture.tcp(sport: 1, flags: Fixture.syn, sequence: 5), now: Fixture.now), .drop(.replay))
        XCTAssertEqual(c.counters[.replay], 1)
        XCTAssertEqual(c.replayWindow(destination: Fixture.dvipa, spi: Fixture.spi)?.top, 5)
    }

    func testTunnelCheckDropsInEncapsulatedModeAndHashesWithoutEntryInDirectMode() {
        let outside = InboundAddress.v4(172, 16, 0, 1)
        var encapsulated = Fixture.classifier(sas: [Fixture.sa(forwarding: .encapsulated)])
        XCTAssertEqual(encapsulated.classify(Fixture.tcp(sport: 1, flags: Fixture.syn, innerSource: outside), now: Fixture.now),
                       .drop(.tunnelCheck))
        XCTAssertEqual(encapsulated.counters[.tunnelCheck], 1)
        let inside = encapsulated.classify(Fixture.tcp(sport: 1, flags: Fixture.syn), now: Fixture.now)
        XCTAssertEqual(inside.mark.map { $0 & 0xF00 }, 0x200, "encapsulated mark")

        var direct = Fixture.classifier()
        XCTAssertNotNil(direct.classify(Fixture.tcp(sport: 1, flags: Fixture.syn, innerSource: outside), now: Fixture.now).target)
        XCTAssertEqual(direct.flows.count, 0)
        XCTAssertEqual(direct.counters.selectorMismatchForwarded, 1)
    }

    /// Transport mode's rule: the packet's own addresses and the trailer's protocol against
    /// the selectors; behind a NAT (ESP in UDP) the source is the NAT's and is not checked.
    func testTunnelCheckInTransportModeUsesTheOuterAddressesAndTheProtocol() {
        var sa = Fixture.sa(mode: .transport, forwarding: .encapsulated)
        sa.remoteSelectors = [InboundTrafficSelector(prefix: Fixture.peer, length: 32, ipProtocol: 17)]
        sa.localSelectors = [InboundTrafficSelector(prefix: Fixture.dvipa, length: 32, ipProtocol: 17)]
        var c = Fixture.classifier(sas: [sa])
        let udp = PacketBuilder.udp(source: 5000, destination: 53, payload: [1, 2, 3])
        let tcp = PacketBuilder.tcp(source: 5000, destination: 443, flags: Fixture.syn)
        let stranger = InboundAddress.v4(203, 0, 113, 9)

        let inside = c.classify(Fixture.esp(udp, nextHeader: 17), now: Fixture.now)
        XCTAssertEqual(inside.mark.map { $0 & 0xF00 }, 0x200, "UDP from the peer: forwarded with the encapsulated mark")
        XCTAssertEqual(c.classify(Fixture.esp(tcp, nextHeader: 6, sequence: 2), now: Fixture.now), .drop(.tunnelCheck),
                       "TCP is outside the UDP-only selectors")
        XCTAssertEqual(c.classify(Fixture.esp(udp, nextHeader: 17, sequence: 3, source: stranger), now: Fixture.now),
                       .drop(.tunnelCheck), "another source than the selectors' peer")
        XCTAssertEqual(c.counters[.tunnelCheck], 2)
        XCTAssertNotNil(c.classify(Fixture.esp(udp, nextHeader: 17, sequence: 4, source: stranger, udp: true), now: Fixture.now).target,
                        "ESP in UDP: the source is the NAT's, not checked")
        XCTAssertEqual(c.classify(Fixture.esp(tcp, nextHeader: 6, sequence: 5, source: stranger, udp: true), now: Fixture.now),
                       .drop(.tunnelCheck), "behind a NAT the protocol is still checked")
        XCTAssertEqual(c.counters[.tunnelCheck], 3)
        XCTAssertEqual(c.counters.forwarded, 2)

        // Tunnel mode behind a NAT still checks the inner source.
        var tunnel = Fixture.classifier(sas: [Fixture.sa(forwarding: .encapsulated)])
        let inner = PacketBuilder.ipv4(source: stranger, destination: Fixture.dvipa, protocol: 6, payload: tcp)
        XCTAssertEqual(tunnel.classify(Fixture.esp(inner, nextHeader: 4, udp: true), now: Fixture.now), .drop(.tunnelCheck))
    }

    func testDummyPacketsAreDropped() {
        var c = Fixture.classifier()
        XCTAssertEqual(c.classify(Fixture.esp([0xDE, 0xAD, 0xBE, 0xEF], nextHeader: 59), now: Fixture.now), .drop(.dummy))
        var transport = Fixture.classifier(sas: [Fixture.sa(mode: .transport, selectors: false)])
        XCTAssertEqual(transport.classify(Fixture.esp([1, 2, 3, 4], nextHeader: 59), now: Fixture.now), .drop(.dummy))
    }

    func testTFCPaddingInTunnelModeIsHarmless() {
        var c = Fixture.classifier()
        let inner = PacketBuilder.ipv4(source: Fixture.peerHost, destination: Fixture.dvipa, protocol: 17,
                                       payload: PacketBuilder.udp(source: 9, destination: 9, payload: [1]))
        XCTAssertNotNil(c.classify(Fixture.esp(inner, nextHeader: 4, tfc: 300), now: Fixture.now).target)
    }

    func testTransportModeReadsTheProtocolFromTheTrailer() {
        var c = Fixture.classifier(sas: [Fixture.sa(mode: .transport, selectors: false)])
        let d = c.classify(Fixture.esp(PacketBuilder.udp(source: 500, destination: 4444, payload: [7, 7]), nextHeader: 17),
                           now: Fixture.now)
        XCTAssertNotNil(d.target)
        XCTAssertEqual(c.connections(now: Fixture.now).first?.key,
                       FlowKey(lineage: Fixture.lineage, source: Fixture.peer, destination: Fixture.dvipa, sourcePort: 500,
                               destinationPort: 4444, ipProtocol: 17))
        // The same bytes announced as TCP: a UDP header is not a valid TCP header here (too short).
        XCTAssertEqual(c.classify(Fixture.esp(PacketBuilder.udp(source: 500, destination: 4444), nextHeader: 6), now: Fixture.now),
                       .drop(.malformedInner))
    }

    func testICMPEchoAndErrors() {
        var c = Fixture.classifier()
        // A TCP flow, then an ICMP error (from a router in the peer's net) about the target's reply.
        let flowTarget = c.classify(Fixture.tcp(sport: 33333, flags: Fixture.syn), now: Fixture.now).target
        let reply = PacketBuilder.ipv4(source: Fixture.dvipa, destination: Fixture.peerHost, protocol: 6,
                                       payload: PacketBuilder.tcp(source: 443, destination: 33333, flags: Fixture.ack))
        let error = PacketBuilder.ipv4(source: .v4(10, 1, 0, 1), destination: Fixture.dvipa, protocol: 1,
                                       payload: PacketBuilder.icmp(type: 3, code: 4, body: Array(reply.prefix(28))))
        XCTAssertEqual(c.classify(Fixture.esp(error, nextHeader: 4), now: Fixture.now).target, flowTarget)
        XCTAssertEqual(c.flows.count, 1, "errors never create entries")
        // Echo: keyed by (source, destination, identifier).
        let echo = PacketBuilder.ipv4(source: Fixture.peerHost, destination: Fixture.dvipa, protocol: 1,
                                      payload: PacketBuilder.icmp(type: 8, identifier: 0x4242, sequence: 1))
        XCTAssertNotNil(c.classify(Fixture.esp(echo, nextHeader: 4), now: Fixture.now).target)
        XCTAssertTrue(c.connections(now: Fixture.now).contains {
            $0.key == FlowKey(lineage: Fixture.lineage, source: Fixture.peerHost, destination: Fixture.dvipa,
                              sourcePort: 0x4242, destinationPort: 0, ipProtocol: 1)
        })
    }

    func testInnerFragmentsFollowTheFirstOrDrop() {
        var c = Fixture.classifier()
        let udp = PacketBuilder.udp(source: 6000, destination: 6001, payload: [UInt8](repeating: 1, count: 100))
        let first = PacketBuilder.ipv4(source: Fixture.peerHost, destination: Fixture.dvipa, protocol: 17,
                                       payload: Array(udp.prefix(48)), identification: 77, moreFragments: true)
        let second = PacketBuilder.ipv4(source: Fixture.peerHost, destination: Fixture.dvipa, protocol: 17,
                                        payload: Array(udp.suffix(from: 48)), identification: 77, fragmentOffset: 48)
        let orphan = PacketBuilder.ipv4(source: Fixture.peerHost, destination: Fixture.dvipa, protocol: 17,
                                        payload: Array(udp.suffix(from: 48)), identification: 78, fragmentOffset: 48)
        let firstTarget = c.classify(Fixture.esp(first, nextHeader: 4), now: Fixture.now).target
        XCTAssertNotNil(firstTarget)
        XCTAssertEqual(c.classify(Fixture.esp(second, nextHeader: 4), now: Fixture.now).target, firstTarget)
        XCTAssertEqual(c.classify(Fixture.esp(orphan, nextHeader: 4), now: Fixture.now), .drop(.fragmentUnknown))
        XCTAssertEqual(c.classify(Fixture.esp(second, nextHeader: 4), now: Fixture.now + .seconds(31)), .drop(.fragmentUnknown),
                       "30 s lifetime")
    }

    func testInnerIPv6WithExtensionHeadersAndIPv4Options() {
        var c = Fixture.classifier()
        let v6 = PacketBuilder.ipv6(source: Fixture.peerHost6, destination: Fixture.dvipa6, nextHeader: 6,
                                    payload: PacketBuilder.tcp(source: 1111, destination: 22, flags: Fixture.syn),
                                    extensionHeaders: [0, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 43, 60][0..<5].map { $0 })
        XCTAssertNotNil(c.classify(Fixture.esp(v6, nextHeader: 41), now: Fixture.now).target, "needs a second, longer peek")
        let options = PacketBuilder.ipv4(source: Fixture.peerHost, destination: Fixture.dvipa, protocol: 6,
                                         payload: PacketBuilder.tcp(source: 2222, destination: 22, flags: Fixture.syn),
                                         options: [UInt8](repeating: 1, count: 40))
        XCTAssertNotNil(c.classify(Fixture.esp(options, nextHeader: 4), now: Fixture.now).target)
        let keys = Set(c.connections(now: Fixture.now).map(\.key.sourcePort))
        XCTAssertEqual(keys, [1111, 2222])
    }

    func testRateLimitAndTableCap() {
        var limited = Fixture.classifier(sas: [Fixture.sa(rate: 0, burst: 5)])
        let decisions = (UInt16(1)...20).map { limited.classify(Fixture.tcp(sport: $0, flags: Fixture.syn), now: Fixture.now) }
        XCTAssertEqual(decisions.filter { $0 == .drop(.rateLimited) }.count, 15)
        XCTAssertEqual(limited.flows.count, 5)

        var config = InboundConfiguration()
        config.maximumFlows = 10
        var capped = Fixture.classifier(config)
        let capDecisions = (UInt16(1)...20).map { capped.classify(Fixture.udp(sport: $0), now: Fixture.now) }
        XCTAssertEqual(capDecisions.filter { $0 == .drop(.tableFull) }.count, 10)
        XCTAssertEqual(capped.counters[.tableFull], 10)
    }

    func testNoHealthyHolderAndLocalTrafficAreCounted() {
        var c = Fixture.classifier(sas: [Fixture.sa(holders: [try! NodeID("elsewhere")])])
        XCTAssertEqual(c.classify(Fixture.tcp(sport: 1, flags: Fixture.syn), now: Fixture.now), .drop(.noHealthyTarget))
        let keepalive = PacketBuilder.ipv4(source: Fixture.peer, destination: Fixture.dvipa, protocol: 17,
                                           payload: PacketBuilder.udp(source: 4500, destination: 4500, payload: [0xFF]))
        XCTAssertEqual(c.classify(keepalive, now: Fixture.now), .local(.natKeepalive))
        XCTAssertEqual(c.counters[.natKeepalive], 1)
        XCTAssertEqual(c.counters[.noHealthyTarget], 1)
        XCTAssertEqual(c.counters.droppedTotal, 1)
    }

    /// NFQUEUE may hand over a capped copy (the IP header keeps the full length): every
    /// prefix must be dropped or, when the headers needed are all there (tunnel mode), go
    /// where the whole packet goes. Transport mode needs the trailer: always dropped.
    func testEveryPrefixOfEveryPacketIsDroppedOrPlacedAlikeNeverCrashes() {
        var c = Fixture.classifier(sas: [Fixture.sa(), Fixture.sa(spi: 99, mode: .transport, selectors: false)])
        let packets: [(bytes: [UInt8], transport: Bool)] = [
            (Fixture.tcp(sport: 5, flags: Fixture.syn), false),
            (Fixture.esp(PacketBuilder.tcp(source: 1, destination: 2, flags: Fixture.syn), nextHeader: 6, spi: 99), true),
            (Fixture.esp(PacketBuilder.ipv6(source: Fixture.peerHost6, destination: Fixture.dvipa6, nextHeader: 17,
                                            payload: PacketBuilder.udp(source: 1, destination: 2), extensionHeaders: [0, 60]),
                         nextHeader: 41, udp: true), false),
        ]
        for (packet, transport) in packets {
            let whole = c.classify(packet, now: Fixture.now)
            XCTAssertNotNil(whole.target)
            var forwardedPrefixes = 0
            for length in 0..<packet.count {
                let decision = c.classify(Array(packet.prefix(length)), now: Fixture.now)
                switch decision {
                case .drop: break
                case .forward:
                    forwardedPrefixes += 1
                    // Only the ICV may be missing in transport mode (the trailer is needed).
                    if transport { XCTAssertGreaterThanOrEqual(length, packet.count - 16, "prefix \(length)") }
                    XCTAssertEqual(decision, whole, "prefix \(length)")
                case .local: XCTFail("prefix \(length): local")
                }
            }
            if !transport { XCTAssertLessThan(forwardedPrefixes, packet.count / 2) }
        }
    }
}
