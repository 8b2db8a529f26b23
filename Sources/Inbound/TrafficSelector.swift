// The SA's traffic selectors as the classifier checks them (RFC 7296 §3.13.1): an address
// range and an IP protocol. Ports are not checked here: the inner packet's ports are what
// the connection table keys on, and the target's kernel enforces the full policy.

/// An inclusive address range of one family and an IP protocol (0: any).
public struct InboundTrafficSelector: Hashable, Sendable, CustomStringConvertible {
    public var start: InboundAddress
    public var end: InboundAddress
    public var ipProtocol: UInt8

    public init(start: InboundAddress, end: InboundAddress, ipProtocol: UInt8 = 0) {
        self.start = start
        self.end = end
        self.ipProtocol = ipProtocol
    }

    /// `address`/`prefixLength` (e.g. the DVIPA/32, or the peer's 10.1.0.0/16).
    public init(prefix address: InboundAddress, length prefixLength: Int, ipProtocol: UInt8 = 0) {
        let bits = address.isIPv4 ? 32 : 128
        let hostBits = max(0, bits - max(0, min(prefixLength, bits)))
        var first = address, last = address
        if address.isIPv4 {
            let mask: UInt64 = hostBits >= 32 ? 0xFFFF_FFFF : (UInt64(1) << UInt64(hostBits)) - 1
            first.low &= ~mask & 0xFFFF_FFFF
            last.low = first.low | mask
        } else {
            let lowBits = min(hostBits, 64), highBits = max(0, hostBits - 64)
            let lowMask: UInt64 = lowBits == 64 ? .max : (UInt64(1) << UInt64(lowBits)) - 1
            let highMask: UInt64 = highBits == 64 ? .max : (UInt64(1) << UInt64(highBits)) - 1
            first.low &= ~lowMask; last.low = first.low | lowMask
            first.high &= ~highMask; last.high = first.high | highMask
        }
        self.init(start: first, end: last, ipProtocol: ipProtocol)
    }

    /// True if `address` (same family) lies in the range and `ipProtocol` matches.
    @inline(__always) public func contains(_ address: InboundAddress, ipProtocol proto: UInt8) -> Bool {
        guard address.isIPv4 == start.isIPv4 else { return false }
        guard ipProtocol == 0 || ipProtocol == proto else { return false }
        return (start.high, start.low) <= (address.high, address.low) && (address.high, address.low) <= (end.high, end.low)
    }

    public var description: String { "\(start)-\(end) proto \(ipProtocol)" }
}

extension Array where Element == InboundTrafficSelector {
    /// True when empty (no check configured) or when one selector contains `address`.
    @inline(__always) func admits(_ address: InboundAddress, ipProtocol: UInt8) -> Bool {
        if isEmpty { return true }
        for selector in self where selector.contains(address, ipProtocol: ipProtocol) { return true }
        return false
    }
}
