@testable import Inbound
import XCTest

/// Encapsulated mode's tunnel check (claim 7) for both inner families, in ESP to an IPv6
/// DVIPA (what goes into ip6gre): the inner source must lie within the SA's remote selectors
/// and the inner destination within its local ones, else the packet is dropped and counted.
final class TunnelCheckFamilyTests: XCTestCase {
    static let outside6 = InboundAddress(v6: [0xfd, 0, 0, 9] + [UInt8](repeating: 0, count: 11) + [1])!
    static let otherDestination6 = InboundAddress(v6: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [0x99])!

    func classifier() -> InboundClassifier {
        Fixture.classifier(sas: [Fixture.sa(forwarding: .encapsulated, destination: Fixture.dvipa6)])
    }

    func esp(_ inner: [UInt8], nextHeader: UInt8, sequence: UInt32) -> [UInt8] {
        Fixture.esp(inner, nextHeader: nextHeader, sequence: sequence, source: Fixture.peer6, destination: Fixture.dvipa6)
    }

    func tcp6(from source: InboundAddress, to destination: InboundAddress = Fixture.dvipa6) -> [UInt8] {
        PacketBuilder.ipv6(source: source, destination: destination, nextHeader: 6,
                           payload: PacketBuilder.tcp(source: 4000, destination: 8080, flags: Fixture.syn))
    }

    func udp4(from source: InboundAddress, to destination: InboundAddress = Fixture.dvipa) -> [UInt8] {
        PacketBuilder.ipv4(source: source, destination: destination, protocol: 17,
                           payload: PacketBuilder.udp(source: 4001, destination: 8081, payload: [1, 2, 3]))
    }

    func testInnerIPv6() {
        var c = classifier()
        let inside = c.classify(esp(tcp6(from: Fixture.peerHost6), nextHeader: 41, sequence: 1), now: Fixture.now)
        XCTAssertEqual(inside.mark.map { $0 & 0xF00 }, 0x200, "within the selectors: the encapsulated mark")
        XCTAssertEqual(c.classify(esp(tcp6(from: Self.outside6), nextHeader: 41, sequence: 2), now: Fixture.now),
                       .drop(.tunnelCheck), "inner source outside the remote selectors")
        XCTAssertEqual(c.classify(esp(tcp6(from: Fixture.peerHost6, to: Self.otherDestination6), nextHeader: 41, sequence: 3),
                                  now: Fixture.now), .drop(.tunnelCheck), "inner destination outside the local selectors")
        XCTAssertEqual(c.counters[.tunnelCheck], 2)
        XCTAssertEqual(c.counters.forwarded, 1)
    }

    /// Inner IPv4 in IPv6 ESP (the SA's selectors hold both families).
    func testInnerIPv4InIPv6ESP() {
        var c = classifier()
        XCTAssertEqual(c.classify(esp(udp4(from: Fixture.peerHost), nextHeader: 4, sequence: 1), now: Fixture.now).mark
            .map { $0 & 0xF00 }, 0x200)
        XCTAssertEqual(c.classify(esp(udp4(from: .v4(172, 16, 0, 1)), nextHeader: 4, sequence: 2), now: Fixture.now),
                       .drop(.tunnelCheck))
        XCTAssertEqual(c.classify(esp(udp4(from: Fixture.peerHost, to: .v4(192, 0, 2, 99)), nextHeader: 4, sequence: 3),
                                  now: Fixture.now), .drop(.tunnelCheck))
        XCTAssertEqual(c.counters[.tunnelCheck], 2)
        XCTAssertEqual(c.counters.forwarded, 1)
    }
}
