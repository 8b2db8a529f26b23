/// Reads the SPI of an ESP packet from its outer header: IPv4 or IPv6, ESP (protocol 50)
/// or ESP in UDP to port 4500 (RFC 3948; a zero marker is IKE, not ESP). Every offset is
/// checked against the bytes present: hostile packets give nil, never a trap.
enum ESPPeek {
    static let espProtocol: UInt8 = 50
    static let udpProtocol: UInt8 = 17
    static let natTraversalPort: UInt16 = 4500

    /// The SPI, or nil for anything that is not a readable ESP packet.
    static func spi(_ packet: [UInt8]) -> UInt32? {
        guard let (proto, offset) = transport(packet) else { return nil }
        switch proto {
        case espProtocol:
            return word(packet, offset).flatMap { $0 == 0 ? nil : $0 }
        case udpProtocol:
            guard let ports = word(packet, offset), UInt16(truncatingIfNeeded: ports) == natTraversalPort else { return nil }
            return word(packet, offset + 8).flatMap { $0 == 0 ? nil : $0 }
        default:
            return nil
        }
    }

    /// (transport protocol, its offset) after the IPv4 header or the IPv6 header and its
    /// hop-by-hop / routing / destination-options extension headers (at most 4).
    static func transport(_ packet: [UInt8]) -> (UInt8, Int)? {
        guard let first = packet.first else { return nil }
        switch first >> 4 {
        case 4:
            let headerLength = Int(first & 0x0f) * 4
            guard headerLength >= 20, packet.count >= headerLength else { return nil }
            // A non-first fragment has no ESP header (nf_defrag normally reassembles first).
            let fragmentOffset = (UInt16(packet[6]) << 8 | UInt16(packet[7])) & 0x1fff
            guard fragmentOffset == 0 else { return nil }
            return (packet[9], headerLength)
        case 6:
            guard packet.count >= 40 else { return nil }
            var next = packet[6], offset = 40
            for _ in 0..<4 {
                guard [0, 43, 60].contains(next) else { return (next, offset) }
                guard packet.count >= offset + 2 else { return nil }
                next = packet[offset]
                offset += (Int(packet[offset + 1]) + 1) * 8
            }
            return nil
        default:
            return nil
        }
    }

    /// The big-endian 32-bit word at `offset`, if all four bytes are there.
    static func word(_ packet: [UInt8], _ offset: Int) -> UInt32? {
        guard offset >= 0, packet.count >= offset + 4 else { return nil }
        return UInt32(packet[offset]) << 24 | UInt32(packet[offset + 1]) << 16
            | UInt32(packet[offset + 2]) << 8 | UInt32(packet[offset + 3])
    }
}
