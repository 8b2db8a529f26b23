// Packets built from parts, for the tests, the benchmark and the lab's packet generator:
// inner IPv4/IPv6 with TCP/UDP/ICMP, the ESP plaintext with its RFC 4303 trailer, and the
// outer IPv4/IPv6 (+ UDP 4500) around an ESP body. Checksums are left zero: nothing on the
// routing node reads them (the target's kernel checks the real packets).

public enum PacketBuilder {
    // MARK: Upper layer

    /// A TCP header (20 octets, no options) and payload. Flags: SYN 0x02, ACK 0x10, FIN 0x01, RST 0x04.
    public static func tcp(source: UInt16, destination: UInt16, flags: UInt8, payload: [UInt8] = []) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 20)
        put16(&header, 0, source); put16(&header, 2, destination)
        put32(&header, 4, 1000)  // sequence number
        header[12] = 5 << 4
        header[13] = flags
        put16(&header, 14, 65535)
        return header + payload
    }

    /// A UDP header with the right length field.
    public static func udp(source: UInt16, destination: UInt16, payload: [UInt8] = []) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 8)
        put16(&header, 0, source); put16(&header, 2, destination)
        put16(&header, 4, UInt16(8 + payload.count))
        return header + payload
    }

    /// An ICMP/ICMPv6 message: type, code, identifier, sequence (echo) or unused, then `body`.
    public static func icmp(type: UInt8, code: UInt8 = 0, identifier: UInt16 = 0, sequence: UInt16 = 0,
                            body: [UInt8] = []) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 8)
        header[0] = type; header[1] = code
        put16(&header, 4, identifier); put16(&header, 6, sequence)
        return header + body
    }

    // MARK: IP

    /// An IPv4 header (with `options`, a multiple of 4 octets) and payload.
    public static func ipv4(source: InboundAddress, destination: InboundAddress, protocol proto: UInt8,
                            payload: [UInt8], identification: UInt16 = 0x1234, fragmentOffset: Int = 0,
                            moreFragments: Bool = false, options: [UInt8] = [], totalLengthOverride: Int? = nil) -> [UInt8] {
        let headerLength = 20 + options.count
        var header = [UInt8](repeating: 0, count: 20)
        header[0] = 0x40 | UInt8(headerLength / 4)
        put16(&header, 2, UInt16(truncatingIfNeeded: totalLengthOverride ?? headerLength + payload.count))
        put16(&header, 4, identification)
        put16(&header, 6, UInt16(fragmentOffset / 8) | (moreFragments ? 0x2000 : 0))
        header[8] = 64
        header[9] = proto
        put32(&header, 12, UInt32(truncatingIfNeeded: source.low))
        put32(&header, 16, UInt32(truncatingIfNeeded: destination.low))
        return header + options + payload
    }

    /// An IPv6 header, the extension headers named (hop-by-hop 0, destination options 60,
    /// routing 43: 8 octets each; fragment 44 with `fragment`), and payload.
    public static func ipv6(source: InboundAddress, destination: InboundAddress, nextHeader: UInt8, payload: [UInt8],
                            extensionHeaders: [UInt8] = [], fragment: (offset: Int, more: Bool, identification: UInt32)? = nil) -> [UInt8] {
        var chain: [UInt8] = []
        for (i, type) in extensionHeaders.enumerated() {
            let next = i + 1 < extensionHeaders.count ? extensionHeaders[i + 1] : nextHeader
            var ext = [UInt8](repeating: 0, count: 8)
            ext[0] = next
            if type == IPProtocolNumber.fragment, let fragment {
                put16(&ext, 2, UInt16(fragment.offset / 8) << 3 | (fragment.more ? 1 : 0))
                put32(&ext, 4, fragment.identification)
            } else if type == IPProtocolNumber.routing {
                ext[2] = 0; ext[3] = 0  // type 0 with no segments left: harmless
            } else {
                ext[2] = 1; ext[3] = 4  // PadN option filling the header
            }
            chain += ext
        }
        var header = [UInt8](repeating: 0, count: 40)
        header[0] = 0x60
        put16(&header, 4, UInt16(truncatingIfNeeded: chain.count + payload.count))
        header[6] = extensionHeaders.first ?? nextHeader
        header[7] = 64
        put64(&header, 8, source.high); put64(&header, 16, source.low)
        put64(&header, 24, destination.high); put64(&header, 32, destination.low)
        return header + chain + payload
    }

    // MARK: ESP

    /// The ESP plaintext: payload ‖ TFC padding (zeros) ‖ padding 1, 2, 3, ... ‖ pad length ‖
    /// next header, its length a multiple of `multiple` (16 for CBC, 4 otherwise).
    public static func espPlaintext(payload: [UInt8], nextHeader: UInt8, multiple: Int, tfcPadding: Int = 0,
                                    extraPadding: Int = 0) -> [UInt8] {
        var plain = payload + [UInt8](repeating: 0, count: tfcPadding)
        var padLength = (multiple - (plain.count + 2) % multiple) % multiple + extraPadding * multiple
        padLength = min(padLength, 255)
        plain += (0..<padLength).map { UInt8($0 + 1) }
        plain += [UInt8(padLength), nextHeader]
        return plain
    }

    /// SPI ‖ sequence number.
    public static func espHeader(spi: UInt32, sequenceNumber: UInt32) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 8)
        put32(&header, 0, spi); put32(&header, 4, sequenceNumber)
        return header
    }

    /// The outer packet around `esp` (ESP header onwards): IPv4 or IPv6 by the addresses'
    /// family, in UDP 4500 when `udpEncapsulated` (RFC 3948).
    public static func outer(source: InboundAddress, destination: InboundAddress, udpEncapsulated: Bool = false,
                             esp: [UInt8]) -> [UInt8] {
        let body = udpEncapsulated ? udp(source: natTraversalPort, destination: natTraversalPort, payload: esp) : esp
        let proto = udpEncapsulated ? IPProtocolNumber.udp : IPProtocolNumber.esp
        if source.isIPv4 { return ipv4(source: source, destination: destination, protocol: proto, payload: body) }
        return ipv6(source: source, destination: destination, nextHeader: proto, payload: body)
    }

    static func put16(_ b: inout [UInt8], _ i: Int, _ v: UInt16) { b[i] = UInt8(v >> 8); b[i + 1] = UInt8(v & 0xFF) }
    static func put32(_ b: inout [UInt8], _ i: Int, _ v: UInt32) { put16(&b, i, UInt16(v >> 16)); put16(&b, i + 2, UInt16(v & 0xFFFF)) }
    static func put64(_ b: inout [UInt8], _ i: Int, _ v: UInt64) { put32(&b, i, UInt32(v >> 32)); put32(&b, i + 4, UInt32(v & 0xFFFF_FFFF)) }
}
