import CMNL
import Glibc

/// An address with a prefix length ("192.168.1.0/24").
public struct XFRMPrefix: Hashable, Sendable, CustomStringConvertible {
    public var address: XFRMAddress
    public var length: UInt8

    public init(_ address: XFRMAddress, length: UInt8? = nil) {
        self.address = address
        self.length = length ?? address.maxPrefixLength
    }

    /// Parses "addr" or "addr/len".
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let first = parts.first, let address = XFRMAddress(String(first)) else { return nil }
        if parts.count == 2 {
            guard let length = UInt8(parts[1]), length <= address.maxPrefixLength else { return nil }
            self.init(address, length: length)
        } else {
            self.init(address)
        }
    }

    public var description: String { "\(address)/\(length)" }
}

/// The traffic an SA or policy applies to (struct xfrm_selector), as `ip xfrm ... sel` shows it.
public struct XFRMSelector: Hashable, Sendable, CustomStringConvertible {
    /// Source and destination prefixes; nil = any (the selector is then all zero).
    public var source: XFRMPrefix?
    public var destination: XFRMPrefix?
    /// Upper-layer protocol (IPPROTO_TCP, ...); 0 = any.
    public var upperProtocol: UInt8
    /// Ports; nil = any.
    public var sourcePort: UInt16?
    public var destinationPort: UInt16?
    /// Interface index; 0 = any.
    public var interfaceIndex: Int32

    public init(source: XFRMPrefix? = nil, destination: XFRMPrefix? = nil, upperProtocol: UInt8 = 0,
                sourcePort: UInt16? = nil, destinationPort: UInt16? = nil, interfaceIndex: Int32 = 0) {
        self.source = source
        self.destination = destination
        self.upperProtocol = upperProtocol
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.interfaceIndex = interfaceIndex
    }

    /// Matches everything; the kernel fills in the SA's family.
    public static let any = XFRMSelector()

    /// The family of the prefixes, 0 when none is set.
    public var family: UInt16 { source?.address.family ?? destination?.address.family ?? 0 }

    public var description: String {
        var parts = ["src \(source?.description ?? "any")", "dst \(destination?.description ?? "any")"]
        if upperProtocol != 0 { parts.append("proto \(upperProtocol)") }
        if let sourcePort { parts.append("sport \(sourcePort)") }
        if let destinationPort { parts.append("dport \(destinationPort)") }
        if interfaceIndex != 0 { parts.append("dev \(interfaceIndex)") }
        return parts.joined(separator: " ")
    }

    func write(to sel: inout xfrm_selector) {
        sel.family = family
        if let source {
            source.address.write(to: &sel.saddr)
            sel.prefixlen_s = source.length
        }
        if let destination {
            destination.address.write(to: &sel.daddr)
            sel.prefixlen_d = destination.length
        }
        sel.proto = upperProtocol
        if let sourcePort {
            sel.sport = sourcePort.bigEndian
            sel.sport_mask = 0xffff
        }
        if let destinationPort {
            sel.dport = destinationPort.bigEndian
            sel.dport_mask = 0xffff
        }
        sel.ifindex = interfaceIndex
    }

    init(_ sel: xfrm_selector) {
        let family = sel.family
        let saddr = XFRMAddress(sel.saddr, family: family)
        let daddr = XFRMAddress(sel.daddr, family: family)
        let sourceIsAny = sel.prefixlen_s == 0 && saddr.bytes.allSatisfy { $0 == 0 }
        let destinationIsAny = sel.prefixlen_d == 0 && daddr.bytes.allSatisfy { $0 == 0 }
        self.init(
            source: family == 0 || sourceIsAny ? nil : XFRMPrefix(saddr, length: sel.prefixlen_s),
            destination: family == 0 || destinationIsAny ? nil : XFRMPrefix(daddr, length: sel.prefixlen_d),
            upperProtocol: sel.proto,
            sourcePort: sel.sport_mask == 0 ? nil : UInt16(bigEndian: sel.sport),
            destinationPort: sel.dport_mask == 0 ? nil : UInt16(bigEndian: sel.dport),
            interfaceIndex: sel.ifindex)
    }
}
