// The outer headers of a packet as NFQUEUE delivers it (from the outer IP header): IPv4 or
// IPv6 (extension headers walked, capped), then ESP (protocol 50, RFC 4303 §2) or ESP in
// UDP on port 4500 (RFC 3948 §2). Nothing here trusts a length it has not checked.
//
//  ESP (RFC 4303 §2.1)
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |               Security Parameters Index (SPI)                 |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                      Sequence Number                          |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  IV (8 or 16) | Payload ... | Padding | Pad Length | Next Hdr |  ICV
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

/// The ESP part of a packet: where it starts and what the outer headers said.
public struct ESPPacket: Hashable, Sendable {
    /// The outer source address (the peer, or its NAT).
    public var outerSource: InboundAddress
    /// The outer destination (a DVIPA): half of the SA's lookup key.
    public var outerDestination: InboundAddress
    /// Offset of the ESP header (SPI) from the start of the packet (E).
    public var espOffset: Int
    /// Octets from the ESP header to the end of the IP packet, per the IP header's lengths
    /// (the copy NFQUEUE hands over may be shorter: see `available`).
    public var espLength: Int
    /// Octets of the packet actually present in the buffer.
    public var available: Int
    /// True for ESP in UDP (RFC 3948).
    public var udpEncapsulated: Bool
    /// The SPI (RFC 4303 §2.1).
    public var spi: UInt32
    /// The low 32 bits of the sequence number as sent.
    public var sequenceNumber: UInt32
}

/// The outcome of reading the outer headers.
public enum OuterParse: Hashable, Sendable {
    case esp(ESPPacket)
    case local(LocalReason)
    case drop(DropReason)
}

/// The IANA numbers the parsers use.
public enum IPProtocolNumber {
    public static let icmp: UInt8 = 1
    public static let tcp: UInt8 = 6
    public static let udp: UInt8 = 17
    public static let ipv4: UInt8 = 4
    public static let ipv6: UInt8 = 41
    public static let esp: UInt8 = 50
    public static let icmpv6: UInt8 = 58
    public static let noNextHeader: UInt8 = 59
    public static let sctp: UInt8 = 132
    // IPv6 extension headers walked (RFC 8200 §4): hop-by-hop, routing, fragment, destination options.
    public static let hopByHop: UInt8 = 0
    public static let routing: UInt8 = 43
    public static let fragment: UInt8 = 44
    public static let destinationOptions: UInt8 = 60
}

/// The UDP port of ESP in UDP and IKE after NAT detection (RFC 3948, RFC 7296 §2.23).
public let natTraversalPort: UInt16 = 4500

/// At most this many IPv6 extension headers are walked (outer and inner), then the packet is
/// dropped as malformed: nothing legitimate stacks more in front of ESP or TCP.
public let maximumExtensionHeaders = 8

public enum ESPPacketParser {
    /// Reads the outer IP header and the ESP (or ESP-in-UDP) header of `packet`.
    public static func parse(_ packet: UnsafeRawBufferPointer) -> OuterParse {
        guard packet.count >= 1 else { return .drop(.tooShort) }
        switch packet[0] >> 4 {
        case 4: return parseIPv4(packet)
        case 6: return parseIPv6(packet)
        default: return .drop(.malformedOuter)
        }
    }

    static func parseIPv4(_ p: UnsafeRawBufferPointer) -> OuterParse {
        guard p.count >= 20 else { return .drop(.tooShort) }
        let headerLength = Int(p[0] & 0x0F) * 4
        let totalLength = Int(p.be16(2))
        guard headerLength >= 20, totalLength >= headerLength else { return .drop(.malformedOuter) }
        guard p.count >= headerLength else { return .drop(.tooShort) }
        guard p.be16(6) & 0x3FFF == 0 else { return .drop(.outerFragment) }  // MF or an offset
        return transport(p, protocol: p[9], offset: headerLength, end: totalLength,
                         source: p.ipv4(12), destination: p.ipv4(16))
    }

    static func parseIPv6(_ p: UnsafeRawBufferPointer) -> OuterParse {
        guard p.count >= 40 else { return .drop(.tooShort) }
        let end = 40 + Int(p.be16(4))
        guard end > 40 else { return .drop(.malformedOuter) }  // 0: a jumbogram or nothing; neither is ESP to us
        var next = p[6]
        var offset = 40
        var walked = 0
        while next == IPProtocolNumber.hopByHop || next == IPProtocolNumber.routing
            || next == IPProtocolNumber.destinationOptions || next == IPProtocolNumber.fragment {
            walked += 1
            guard walked <= maximumExtensionHeaders else { return .drop(.malformedOuter) }
            guard offset + 8 <= end else { return .drop(.malformedOuter) }
            guard offset + 8 <= p.count else { return .drop(.tooShort) }
            if next == IPProtocolNumber.fragment {
                guard p.be16(offset + 2) & 0xFFF9 == 0 else { return .drop(.outerFragment) }
                next = p[offset]
                offset += 8
            } else {
                next = p[offset]
                offset += (Int(p[offset + 1]) + 1) * 8
            }
        }
        return transport(p, protocol: next, offset: offset, end: end, source: p.ipv6(8), destination: p.ipv6(24))
    }

    /// The part after the IP header(s): ESP, or UDP to 4500 carrying ESP, IKE or a keepalive.
    ///
    /// ESP in UDP ends where the UDP length says (the kernel trims the datagram to it before
    /// the ESP stack sees it), not where the IP header says: octets after it are not part of
    /// the ESP packet, so its trailer and ICV are found from the UDP length. A UDP length
    /// below 8 or beyond the IP payload is `malformedOuter`.
    static func transport(_ p: UnsafeRawBufferPointer, protocol proto: UInt8, offset: Int, end ipEnd: Int,
                          source: InboundAddress, destination: InboundAddress) -> OuterParse {
        guard offset <= ipEnd else { return .drop(.malformedOuter) }
        var end = ipEnd
        var available = min(p.count, end)
        var espOffset = offset
        var encapsulated = false
        switch proto {
        case IPProtocolNumber.esp:
            break
        case IPProtocolNumber.udp:
            guard offset + 8 <= end else { return .drop(.malformedOuter) }
            guard offset + 8 <= available else { return .drop(.tooShort) }
            guard p.be16(offset + 2) == natTraversalPort else { return .local(.notESP) }
            let udpLength = Int(p.be16(offset + 4))
            guard udpLength >= 8, offset + udpLength <= ipEnd else { return .drop(.malformedOuter) }
            end = offset + udpLength
            available = min(available, end)
            let payload = offset + 8
            let payloadLength = end - payload
            if payloadLength == 1, payload < available, p[payload] == 0xFF { return .local(.natKeepalive) }
            if payloadLength >= 4, payload + 4 <= available, p.be32(payload) == 0 { return .local(.ike) }
            espOffset = payload
            encapsulated = true
        default:
            return .local(.notESP)
        }
        guard espOffset + 8 <= end else { return .drop(.tooShort) }
        guard espOffset + 8 <= available else { return .drop(.tooShort) }
        return .esp(ESPPacket(outerSource: source, outerDestination: destination, espOffset: espOffset,
                              espLength: end - espOffset, available: available, udpEncapsulated: encapsulated,
                              spi: p.be32(espOffset), sequenceNumber: p.be32(espOffset + 4)))
    }
}
