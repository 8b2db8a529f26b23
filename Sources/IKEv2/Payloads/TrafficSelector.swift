// One traffic selector inside a TSi/TSr payload (RFC 7296 section 3.13.1).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |   TS Type     |IP Protocol ID*|       Selector Length         |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |           Start Port*         |           End Port*           |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                                                               |
// ~                         Starting Address*                     ~
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                                                               |
// ~                         Ending Address*                       ~
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import NIOCore

/// A range of addresses, an IP protocol (0 = any) and a port range (0-65535 = any).
/// Addresses are network-order octets (4 for IPv4, 16 for IPv6). For a TS Type this codec
/// does not know, `startAddress` holds the opaque rest of the selector and `endAddress`
/// is empty, so it round-trips; such a selector never matches anything.
public struct TrafficSelector: Hashable, Sendable, CustomStringConvertible {
    static let headerLength = 8

    public var type: TrafficSelectorType
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP...); 0 means any.
    public var ipProtocolID: UInt8
    public var startPort: UInt16
    public var endPort: UInt16
    public var startAddress: [UInt8]
    public var endAddress: [UInt8]

    public init(type: TrafficSelectorType, ipProtocolID: UInt8 = 0, startPort: UInt16 = 0, endPort: UInt16 = 65535,
                startAddress: [UInt8], endAddress: [UInt8]) {
        self.type = type
        self.ipProtocolID = ipProtocolID
        self.startPort = startPort
        self.endPort = endPort
        self.startAddress = startAddress
        self.endAddress = endAddress
    }

    /// An IPv4 range, from dotted octets.
    public static func ipv4(_ start: [UInt8], _ end: [UInt8], ipProtocolID: UInt8 = 0,
                            ports: ClosedRange<UInt16> = 0...65535) -> TrafficSelector {
        TrafficSelector(type: .ipv4AddressRange, ipProtocolID: ipProtocolID, startPort: ports.lowerBound,
                        endPort: ports.upperBound, startAddress: start, endAddress: end)
    }

    /// An IPv6 range, from sixteen octets each.
    public static func ipv6(_ start: [UInt8], _ end: [UInt8], ipProtocolID: UInt8 = 0,
                            ports: ClosedRange<UInt16> = 0...65535) -> TrafficSelector {
        TrafficSelector(type: .ipv6AddressRange, ipProtocolID: ipProtocolID, startPort: ports.lowerBound,
                        endPort: ports.upperBound, startAddress: start, endAddress: end)
    }

    /// Reads one selector. For the known types the Selector Length must be exactly
    /// 8 + 2 addresses. An inverted range (start above end) is kept; it selects nothing.
    public init(parsing buffer: inout ByteBuffer) throws {
        type = TrafficSelectorType(rawValue: try buffer.readIKEInteger("traffic selector"))
        ipProtocolID = try buffer.readIKEInteger("traffic selector")
        let length: UInt16 = try buffer.readIKEInteger("traffic selector")
        if let addressLength = type.addressLength, Int(length) != TrafficSelector.headerLength + 2 * addressLength {
            throw IKEParseError.invalidLength("\(type)", Int(length))
        }
        guard Int(length) >= TrafficSelector.headerLength else {
            throw IKEParseError.invalidLength("traffic selector", Int(length))
        }
        startPort = try buffer.readIKEInteger("traffic selector")
        endPort = try buffer.readIKEInteger("traffic selector")
        let rest = Int(length) - TrafficSelector.headerLength
        if let addressLength = type.addressLength {
            startAddress = try buffer.readIKEBytes("traffic selector address", length: addressLength)
            endAddress = try buffer.readIKEBytes("traffic selector address", length: addressLength)
        } else {
            startAddress = try buffer.readIKEBytes("traffic selector", length: rest)
            endAddress = []
        }
    }

    public func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(type.rawValue)
        buffer.writeInteger(ipProtocolID)
        buffer.writeInteger(UInt16(truncatingIfNeeded: TrafficSelector.headerLength + startAddress.count + endAddress.count))
        buffer.writeInteger(startPort)
        buffer.writeInteger(endPort)
        buffer.writeBytes(startAddress)
        buffer.writeBytes(endAddress)
    }

    /// `10.0.0.0..10.0.0.255[6/0-65535]`, `fd00::..fd00::ff[any]`.
    public var description: String {
        func text(_ address: [UInt8]) -> String {
            if address.count == 4 { return address.map(String.init).joined(separator: ".") }
            if address.count == 16 {
                return stride(from: 0, to: 16, by: 2).map { String(UInt16(address[$0]) << 8 | UInt16(address[$0 + 1]), radix: 16) }
                    .joined(separator: ":")
            }
            return "\(address.count) octets"
        }
        let proto = ipProtocolID == 0 ? "any" : "\(ipProtocolID)"
        let ports = (startPort == 0 && endPort == 65535) ? "" : "/\(startPort)-\(endPort)"
        return "\(text(startAddress))..\(text(endAddress))[\(proto)\(ports)]"
    }
}
