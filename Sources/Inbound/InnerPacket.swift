// The inner headers read from peeked plaintext (claims 4-5, 21): tunnel mode starts with an
// inner IPv4 or IPv6 header; transport mode starts with the TCP/UDP/ICMP header and the
// protocol comes from the trailer's next-header octet. Every read is bounds-checked; garbage
// (a forged packet decrypts to random octets) comes out as `.malformed` with high probability.

/// The tuple the connection table keys on (before the lineage is added).
public struct InnerFlow: Hashable, Sendable {
    public var source: InboundAddress
    public var destination: InboundAddress
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var ipProtocol: UInt8

    public init(source: InboundAddress, destination: InboundAddress, sourcePort: UInt16 = 0,
                destinationPort: UInt16 = 0, ipProtocol: UInt8) {
        self.source = source
        self.destination = destination
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.ipProtocol = ipProtocol
    }

    public func key(_ lineage: SALineageID) -> FlowKey {
        FlowKey(lineage: lineage, source: source, destination: destination, sourcePort: sourcePort,
                destinationPort: destinationPort, ipProtocol: ipProtocol)
    }
}

/// What kind of inner packet, which decides how it is placed.
public enum InnerKind: Hashable, Sendable {
    /// TCP, UDP or SCTP with ports.
    case ports
    /// ICMP/ICMPv6 echo: keyed by (source, destination, identifier).
    case icmpEcho
    /// ICMP/ICMPv6 error: `flow` is the embedded packet's 5-tuple reversed (the flow it
    /// concerns, in the peer-to-DVIPA direction). Never creates an entry.
    case icmpError
    /// Any other protocol: keyed by (source, destination, protocol).
    case addressesOnly
    /// An inner fragment other than the first: no ports; the fragment table places it.
    case nonFirstFragment
}

/// An inner fragment (tunnel mode): the IP identification and whether it is the first.
public struct InnerFragment: Hashable, Sendable {
    public var identification: UInt32
    public var isFirst: Bool
}

/// The inner packet as far as the classifier needs it.
public struct InnerPacket: Hashable, Sendable {
    /// The inner IP header's addresses (tunnel) or the outer ones (transport): what the
    /// traffic selectors are checked against.
    public var source: InboundAddress
    public var destination: InboundAddress
    public var ipProtocol: UInt8
    /// The table key's tuple.
    public var flow: InnerFlow
    public var kind: InnerKind
    /// TCP flags (octet 13 of the TCP header); 0 otherwise.
    public var tcpFlags: UInt8
    public var fragment: InnerFragment?

    public var isTCPSynWithoutAck: Bool { ipProtocol == IPProtocolNumber.tcp && tcpFlags & 0x12 == 0x02 }
    public var isTCPFinOrRst: Bool { ipProtocol == IPProtocolNumber.tcp && tcpFlags & 0x05 != 0 }
}

/// The outcome of reading the peeked plaintext.
public enum InnerParse: Hashable, Sendable {
    case packet(InnerPacket)
    /// The decision needs plaintext octets 0..<n (more than were peeked).
    case needBytes(Int)
    case malformed
}

public enum InnerPacketParser {
    /// Tunnel mode: `plain` holds plaintext octets 0..<plain.count of a payload of
    /// `payloadLimit` octets (L - 2 - pad length when known, else L - 2).
    public static func parseTunnel(_ plain: UnsafeRawBufferPointer, payloadLimit: Int) -> InnerParse {
        guard plain.count >= 1 else { return need(20, payloadLimit) }
        switch plain[0] >> 4 {
        case 4: return parseIPv4(plain, payloadLimit: payloadLimit)
        case 6: return parseIPv6(plain, payloadLimit: payloadLimit)
        default: return .malformed
        }
    }

    /// Transport mode: the upper-layer header at plaintext offset 0, `nextHeader` from the
    /// trailer, addresses from the outer header.
    public static func parseTransport(_ plain: UnsafeRawBufferPointer, nextHeader: UInt8, payloadEnd: Int,
                                      source: InboundAddress, destination: InboundAddress) -> InnerParse {
        upperLayer(plain, at: 0, end: payloadEnd, protocol: nextHeader, source: source, destination: destination,
                   fragment: nil)
    }

    static func need(_ count: Int, _ limit: Int) -> InnerParse { count > limit ? .malformed : .needBytes(count) }

    static func parseIPv4(_ p: UnsafeRawBufferPointer, payloadLimit: Int) -> InnerParse {
        guard p.count >= 20 else { return need(20, payloadLimit) }
        let headerLength = Int(p[0] & 0x0F) * 4
        let total = Int(p.be16(2))
        guard headerLength >= 20, total >= headerLength, total <= payloadLimit else { return .malformed }
        let fragmentField = p.be16(6)
        guard fragmentField & 0x8000 == 0 else { return .malformed }  // the reserved flag
        guard p.count >= headerLength else { return need(headerLength, payloadLimit) }
        let source = p.ipv4(12), destination = p.ipv4(16), proto = p[9]
        let identification = UInt32(p.be16(4))
        if fragmentField & 0x1FFF != 0 {
            return .packet(nonFirst(source, destination, proto, identification))
        }
        let fragment = fragmentField & 0x2000 != 0 ? InnerFragment(identification: identification, isFirst: true) : nil
        return upperLayer(p, at: headerLength, end: total, protocol: proto, source: source, destination: destination,
                          fragment: fragment)
    }

    static func parseIPv6(_ p: UnsafeRawBufferPointer, payloadLimit: Int) -> InnerParse {
        guard p.count >= 40 else { return need(40, payloadLimit) }
        let total = 40 + Int(p.be16(4))
        guard total <= payloadLimit else { return .malformed }
        let source = p.ipv6(8), destination = p.ipv6(24)
        var next = p[6], offset = 40, walked = 0
        var fragment: InnerFragment?
        while next == IPProtocolNumber.hopByHop || next == IPProtocolNumber.routing
            || next == IPProtocolNumber.destinationOptions || next == IPProtocolNumber.fragment {
            walked += 1
            guard walked <= maximumExtensionHeaders, offset + 8 <= total else { return .malformed }
            guard p.count >= offset + 8 else { return need(offset + 8, payloadLimit) }
            if next == IPProtocolNumber.fragment {
                let field = p.be16(offset + 2)
                let identification = p.be32(offset + 4)
                next = p[offset]
                if field & 0xFFF8 != 0 { return .packet(nonFirst(source, destination, next, identification)) }
                if field & 1 != 0 { fragment = InnerFragment(identification: identification, isFirst: true) }
                offset += 8
            } else {
                next = p[offset]
                offset += (Int(p[offset + 1]) + 1) * 8
            }
        }
        guard offset <= total else { return .malformed }
        return upperLayer(p, at: offset, end: total, protocol: next, source: source, destination: destination,
                          fragment: fragment)
    }

    static func nonFirst(_ source: InboundAddress, _ destination: InboundAddress, _ proto: UInt8,
                         _ identification: UInt32) -> InnerPacket {
        InnerPacket(source: source, destination: destination, ipProtocol: proto,
                    flow: InnerFlow(source: source, destination: destination, ipProtocol: proto),
                    kind: .nonFirstFragment, tcpFlags: 0,
                    fragment: InnerFragment(identification: identification, isFirst: false))
    }

    /// TCP/UDP/SCTP/ICMP at `o`, the packet (or this fragment) ending at `end`.
    static func upperLayer(_ p: UnsafeRawBufferPointer, at o: Int, end: Int, protocol proto: UInt8,
                           source: InboundAddress, destination: InboundAddress, fragment: InnerFragment?) -> InnerParse {
        var packet = InnerPacket(source: source, destination: destination, ipProtocol: proto,
                                 flow: InnerFlow(source: source, destination: destination, ipProtocol: proto),
                                 kind: .addressesOnly, tcpFlags: 0, fragment: fragment)
        let whole = fragment == nil
        switch proto {
        case IPProtocolNumber.tcp:
            guard o + 20 <= end else { return .malformed }
            guard p.count >= o + 14 else { return need(o + 14, end) }
            let dataOffset = Int(p[o + 12] >> 4) * 4
            guard dataOffset >= 20, !whole || o + dataOffset <= end else { return .malformed }
            packet.flow.sourcePort = p.be16(o)
            packet.flow.destinationPort = p.be16(o + 2)
            packet.tcpFlags = p[o + 13]
            packet.kind = .ports
        case IPProtocolNumber.udp:
            guard o + 8 <= end else { return .malformed }
            guard p.count >= o + 8 else { return need(o + 8, end) }
            let length = Int(p.be16(o + 4))
            guard length >= 8, whole ? length == end - o : length > end - o else { return .malformed }
            packet.flow.sourcePort = p.be16(o)
            packet.flow.destinationPort = p.be16(o + 2)
            packet.kind = .ports
        case IPProtocolNumber.sctp:
            guard o + 12 <= end else { return .malformed }
            guard p.count >= o + 4 else { return need(o + 4, end) }
            packet.flow.sourcePort = p.be16(o)
            packet.flow.destinationPort = p.be16(o + 2)
            packet.kind = .ports
        case IPProtocolNumber.icmp, IPProtocolNumber.icmpv6:
            return icmp(p, at: o, end: end, packet: packet)
        default:
            break
        }
        return .packet(packet)
    }

    /// ICMP (RFC 792) and ICMPv6 (RFC 4443): echo by identifier, errors by the embedded header.
    static func icmp(_ p: UnsafeRawBufferPointer, at o: Int, end: Int, packet: InnerPacket) -> InnerParse {
        var packet = packet
        let v6 = packet.ipProtocol == IPProtocolNumber.icmpv6
        guard o + 8 <= end else { return .malformed }
        guard p.count >= o + 8 else { return need(o + 8, end) }
        let type = p[o]
        let isEcho = v6 ? (type == 128 || type == 129) : (type == 8 || type == 0)
        let isError: Bool
        switch (v6, type) {
        case (true, 1...4), (false, 3), (false, 4), (false, 5), (false, 11), (false, 12): isError = true
        default: isError = false
        }
        if isEcho {
            packet.flow.sourcePort = p.be16(o + 4)
            packet.kind = .icmpEcho
            return .packet(packet)
        }
        guard isError, packet.fragment == nil else { return .packet(packet) }
        // The embedded packet is one a target sent (DVIPA -> peer side): reverse it.
        let e = o + 8
        let embeddedHeader: Int, embeddedProto: UInt8, embeddedSource: InboundAddress, embeddedDestination: InboundAddress
        if v6 {
            guard e + 40 <= end else { return .malformed }
            guard p.count >= e + 40 else { return need(e + 40, end) }
            guard p[e] >> 4 == 6 else { return .malformed }
            embeddedHeader = 40
            embeddedProto = p[e + 6]
            embeddedSource = p.ipv6(e + 8)
            embeddedDestination = p.ipv6(e + 24)
        } else {
            guard e + 20 <= end else { return .malformed }
            guard p.count >= e + 20 else { return need(e + 20, end) }
            guard p[e] >> 4 == 4, p[e] & 0x0F >= 5 else { return .malformed }
            embeddedHeader = Int(p[e] & 0x0F) * 4
            embeddedProto = p[e + 9]
            embeddedSource = p.ipv4(e + 12)
            embeddedDestination = p.ipv4(e + 16)
        }
        let l4 = e + embeddedHeader
        var flow = InnerFlow(source: embeddedDestination, destination: embeddedSource, ipProtocol: embeddedProto)
        switch embeddedProto {
        case IPProtocolNumber.tcp, IPProtocolNumber.udp, IPProtocolNumber.sctp:
            guard l4 + 4 <= end else { return .malformed }
            guard p.count >= l4 + 4 else { return need(l4 + 4, end) }
            flow.sourcePort = p.be16(l4 + 2)
            flow.destinationPort = p.be16(l4)
        case IPProtocolNumber.icmp, IPProtocolNumber.icmpv6:
            // An error about an echo reply the target sent: the echo's key (peer, DVIPA, id).
            guard l4 + 8 <= end else { return .malformed }
            guard p.count >= l4 + 8 else { return need(l4 + 8, end) }
            flow.sourcePort = p.be16(l4 + 4)
        default:
            break
        }
        packet.flow = flow
        packet.kind = .icmpError
        return .packet(packet)
    }
}
