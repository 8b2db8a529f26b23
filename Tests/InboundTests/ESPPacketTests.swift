@testable import Inbound
import XCTest

final class ESPPacketTests: XCTestCase {
    private func parse(_ bytes: [UInt8]) -> OuterParse { bytes.withUnsafeBytes { ESPPacketParser.parse($0) } }

    func testIPv4ESPYieldsSPISequenceAndOffsets() {
        let packet = Fixture.esp([9, 9, 9, 9], nextHeader: 4, sequence: 77)
        guard case .esp(let esp) = parse(packet) else { return XCTFail("not ESP") }
        XCTAssertEqual(esp.spi, Fixture.spi)
        XCTAssertEqual(esp.sequenceNumber, 77)
        XCTAssertEqual(esp.espOffset, 20)
        XCTAssertEqual(esp.espLength, packet.count - 20)
        XCTAssertEqual(esp.outerDestination, Fixture.dvipa)
        XCTAssertEqual(esp.outerSource, Fixture.peer)
        XCTAssertFalse(esp.udpEncapsulated)
    }

    func testIPv4WithOptionsUsesIHL() {
        let body = PacketBuilder.espHeader(spi: 0x1234_5678, sequenceNumber: 3) + [UInt8](repeating: 0, count: 32)
        let packet = PacketBuilder.ipv4(source: Fixture.peer, destination: Fixture.dvipa, protocol: 50, payload: body,
                                        options: [1, 1, 1, 0])
        guard case .esp(let esp) = parse(packet) else { return XCTFail("not ESP") }
        XCTAssertEqual(esp.espOffset, 24)
        XCTAssertEqual(esp.spi, 0x1234_5678)
    }

    func testIPv6WithExtensionHeadersAndNATT() {
        let body = PacketBuilder.espHeader(spi: 0xABCD_0001, sequenceNumber: 5) + [UInt8](repeating: 0, count: 32)
        let udp = PacketBuilder.udp(source: 4500, destination: 4500, payload: body)
        let packet = PacketBuilder.ipv6(source: Fixture.peer6, destination: Fixture.dvipa6, nextHeader: 17, payload: udp,
                                        extensionHeaders: [0, 60])
        guard case .esp(let esp) = parse(packet) else { return XCTFail("not ESP") }
        XCTAssertEqual(esp.espOffset, 40 + 16 + 8)
        XCTAssertEqual(esp.spi, 0xABCD_0001)
        XCTAssertTrue(esp.udpEncapsulated)
        XCTAssertEqual(esp.outerDestination, Fixture.dvipa6)
    }

    func testIKEAndKeepaliveOn4500AreLocal() {
        let ike = PacketBuilder.udp(source: 4500, destination: 4500, payload: [0, 0, 0, 0] + [UInt8](repeating: 7, count: 28))
        XCTAssertEqual(parse(PacketBuilder.ipv4(source: Fixture.peer, destination: Fixture.dvipa, protocol: 17, payload: ike)),
                       .local(.ike))
        let keepalive = PacketBuilder.udp(source: 4500, destination: 4500, payload: [0xFF])
        XCTAssertEqual(parse(PacketBuilder.ipv4(source: Fixture.peer, destination: Fixture.dvipa, protocol: 17, payload: keepalive)),
                       .local(.natKeepalive))
        let other = PacketBuilder.udp(source: 4500, destination: 53, payload: [1, 2, 3, 4, 5, 6, 7, 8])
        XCTAssertEqual(parse(PacketBuilder.ipv4(source: Fixture.peer, destination: Fixture.dvipa, protocol: 17, payload: other)),
                       .local(.notESP))
        XCTAssertEqual(parse(PacketBuilder.ipv4(source: Fixture.peer, destination: Fixture.dvipa, protocol: 6, payload: [0])),
                       .local(.notESP))
    }

    /// RFC 3948 over IPv4 and IPv6 (with extension headers): the ESP packet ends where the
    /// UDP length says, as the kernel trims it; a UDP length below 8 or past the IP payload
    /// is malformed.
    func testESPInUDPEndsAtTheUDPLength() {
        let body = PacketBuilder.espHeader(spi: 0xABCD_0002, sequenceNumber: 9) + [UInt8](repeating: 0x5A, count: 40)
        let trailing = [UInt8](repeating: 0xEE, count: 12)
        let udp = PacketBuilder.udp(source: 31_337, destination: 4500, payload: body)
        let v4 = PacketBuilder.ipv4(source: Fixture.peer, destination: Fixture.dvipa, protocol: 17, payload: udp + trailing)
        let v6 = PacketBuilder.ipv6(source: Fixture.peer6, destination: Fixture.dvipa6, nextHeader: 17, payload: udp + trailing,
                                    extensionHeaders: [0, 60, 43])
        for (packet, udpOffset) in [(v4, 20), (v6, 40 + 24)] {
            guard case .esp(let esp) = parse(packet) else { return XCTFail("not ESP") }
            XCTAssertEqual(esp.espOffset, udpOffset + 8)
            XCTAssertEqual(esp.espLength, body.count, "the 12 octets after the UDP datagram are not ESP")
            XCTAssertEqual(esp.available, udpOffset + 8 + body.count)
            XCTAssertEqual(esp.spi, 0xABCD_0002)
            XCTAssertEqual(esp.sequenceNumber, 9)
            XCTAssertTrue(esp.udpEncapsulated)
            for badLength: UInt16 in [0, 7, UInt16(udp.count + trailing.count + 1)] {
                var bad = packet
                bad[udpOffset + 4] = UInt8(badLength >> 8)
                bad[udpOffset + 5] = UInt8(badLength & 0xFF)
                XCTAssertEqual(parse(bad), .drop(.malformedOuter), "UDP length \(badLength)")
            }
        }
    }

    func testIKEAndKeepaliveOverIPv6AreLocalBehindExtensionHeaders() {
        let ike = PacketBuilder.udp(source: 61_000, destination: 4500, payload: [0, 0, 0, 0] + [UInt8](repeating: 7, count: 28))
        XCTAssertEqual(parse(PacketBuilder.ipv6(source: Fixture.peer6, destination: Fixture.dvipa6, nextHeader: 17, payload: ike,
                                                extensionHeaders: [0, 60])), .local(.ike))
        let keepalive = PacketBuilder.udp(source: 61_000, destination: 4500, payload: [0xFF])
        XCTAssertEqual(parse(PacketBuilder.ipv6(source: Fixture.peer6, destination: Fixture.dvipa6, nextHeader: 17,
                                                payload: keepalive, extensionHeaders: [60])), .local(.natKeepalive))
        // A keepalive followed by octets outside its UDP length is still a keepalive.
        let padded = PacketBuilder.ipv6(source: Fixture.peer6, destination: Fixture.dvipa6, nextHeader: 17,
                                        payload: keepalive + [0, 0, 0])
        XCTAssertEqual(parse(padded), .local(.natKeepalive))
    }

    func testOuterFragmentsAreDropped() {
        let body = PacketBuilder.espHeader(spi: 1000, sequenceNumber: 1) + [UInt8](repeating: 0, count: 24)
        let v4 = PacketBuilder.ipv4(source: Fixture.peer, destination: Fixture.dvipa, protocol: 50, payload: body, moreFragments: true)
        XCTAssertEqual(parse(v4), .drop(.outerFragment))
        let v6 = PacketBuilder.ipv6(source: Fixture.peer6, destination: Fixture.dvipa6, nextHeader: 50, payload: body,
                                    extensionHeaders: [44], fragment: (offset: 8, more: false, identification: 1))
        XCTAssertEqual(parse(v6), .drop(.outerFragment))
        let whole6 = PacketBuilder.ipv6(source: Fixture.peer6, destination: Fixture.dvipa6, nextHeader: 50, payload: body,
                                        extensionHeaders: [44], fragment: (offset: 0, more: false, identification: 1))
        guard case .esp = parse(whole6) else { return XCTFail("an atomic fragment header is fine") }
    }

    func testTooManyExtensionHeadersIsMalformed() {
        let body = PacketBuilder.espHeader(spi: 1000, sequenceNumber: 1) + [UInt8](repeating: 0, count: 24)
        let packet = PacketBuilder.ipv6(source: Fixture.peer6, destination: Fixture.dvipa6, nextHeader: 50, payload: body,
                                        extensionHeaders: [UInt8](repeating: 60, count: maximumExtensionHeaders + 1))
        XCTAssertEqual(parse(packet), .drop(.malformedOuter))
    }

    func testEveryPrefixIsRejectedWithoutCrashing() {
        let packets = [
            Fixture.esp([1, 2, 3, 4], nextHeader: 4),
            Fixture.esp([1, 2, 3, 4], nextHeader: 4, source: Fixture.peer6, destination: Fixture.dvipa6, udp: true),
        ]
        for packet in packets {
            for length in 0..<packet.count {
                // A capped copy keeps the header's lengths: only drops or a parse with `available` = length.
                switch parse(Array(packet.prefix(length))) {
                case .drop: break
                case .esp(let esp): XCTAssertEqual(esp.available, length)
                case .local: XCTFail("prefix \(length) taken as local")
                }
            }
        }
    }
}
