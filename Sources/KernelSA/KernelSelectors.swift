// Negotiated traffic selectors (RFC 7296 3.13.1: an address range, a port range, an IP
// protocol) → the kernel's selectors (an address prefix, one port or any, a protocol), with
// nothing widened: a range that is not a prefix becomes the exact list of prefixes that
// covers it, and what the kernel cannot hold exactly (a port range that is neither one port
// nor all of them) refuses the CHILD_SA with the selector named. Installing a wider policy
// would send traffic the peer never agreed to into the SA. Pure.
import Cluster
import IKEv2

/// Why a CHILD_SA's selectors cannot go into the kernel as negotiated.
public struct KernelSelectorError: Error, Equatable, CustomStringConvertible {
    public var description: String
}

public enum KernelSelectors {
    /// The prefixes, largest first from `start`, that together cover exactly `start...end`
    /// (network-order octets of one family). Empty when `end` lies before `start`.
    public static func prefixes(from start: [UInt8], to end: [UInt8]) -> [(address: [UInt8], length: UInt8)] {
        guard start.count == end.count, start.count == 4 || start.count == 16 else { return [] }
        let bits = start.count * 8
        var current = number(start), last = number(end)
        guard current <= last else { return [] }
        var result: [(address: [UInt8], length: UInt8)] = []
        while true {
            // The largest block that starts at `current` (aligned) and ends by `last`.
            var size = current == 0 ? bits : min(bits, current.trailingZeroBitCount)
            while size > 0, last - current < span(size) { size -= 1 }
            result.append((octets(current, count: start.count), UInt8(bits - size)))
            let blockEnd = current + span(size)
            if blockEnd >= last { return result }
            current = blockEnd + 1
        }
    }

    /// The kernel's port for a negotiated range: 0 (any) for the whole range or RFC 4301's
    /// OPAQUE (start 65535, end 0), the port itself for a single one. ICMP keeps its type and
    /// code in the port fields (RFC 4301 4.4.1.3), which only "any" reaches here exactly.
    static func port(_ selector: TrafficSelector) throws -> UInt16 {
        if selector.startPort == 0 && selector.endPort == 65535 { return 0 }
        if selector.startPort == 65535 && selector.endPort == 0 { return 0 }
        if selector.startPort == selector.endPort, selector.ipProtocolID != 0, !isICMP(selector.ipProtocolID) {
            return selector.startPort
        }
        throw KernelSelectorError(description: "traffic selector \(selector): ports \(selector.startPort)-\(selector.endPort) "
            + "cannot be installed exactly (the kernel takes one port or any)")
    }

    /// The kernel selectors of traffic from `local` to `remote` (the outbound direction; swap
    /// source and destination for inbound). Empty when the pair can match no packet: other
    /// families, or two different protocols.
    static func outbound(local: TrafficSelector, remote: TrafficSelector, maximum: Int) throws -> [SASelector] {
        guard local.startAddress.count == remote.startAddress.count,
              local.startAddress.count == local.endAddress.count, remote.startAddress.count == remote.endAddress.count
        else { return [] }
        let proto: UInt8
        switch (local.ipProtocolID, remote.ipProtocolID) {
        case (0, let only), (let only, 0): proto = only
        case (let a, let b) where a == b: proto = a
        default: return []
        }
        let localPort = try port(local), remotePort = try port(remote)
        let sources = prefixes(from: local.startAddress, to: local.endAddress)
        let destinations = prefixes(from: remote.startAddress, to: remote.endAddress)
        guard sources.count * destinations.count <= maximum else {
            throw KernelSelectorError(description: "traffic selectors \(local) and \(remote) need "
                + "\(sources.count * destinations.count) kernel selectors, more than \(maximum)")
        }
        var result: [SASelector] = []
        for source in sources {
            for destination in destinations {
                result.append(SASelector(source: try IPAddress(bytes: source.address), sourcePrefixLength: source.length,
                                         destination: try IPAddress(bytes: destination.address),
                                         destinationPrefixLength: destination.length,
                                         sourcePort: localPort, destinationPort: remotePort, ipProtocol: proto))
            }
        }
        return result
    }

    /// Every pair of a CHILD_SA's selectors: (outbound, inbound) kernel selectors, at most
    /// `maximum` (one policy set each; a range such as 10.0.0.1-10.0.0.254 alone takes 14).
    public static func selectors(local: [TrafficSelector], remote: [TrafficSelector],
                                 maximum: Int = SADescription.maximumSelectors) throws
        -> (outbound: [SASelector], inbound: [SASelector]) {
        var outbound: [SASelector] = []
        for l in local {
            for r in remote {
                let pair = try self.outbound(local: l, remote: r, maximum: maximum)
                guard outbound.count + pair.count <= maximum else {
                    throw KernelSelectorError(description: "the CHILD_SA's traffic selectors need more than \(maximum) kernel "
                        + "selectors (\(local.count) local, \(remote.count) remote)")
                }
                outbound += pair
            }
        }
        let inbound = outbound.map {
            SASelector(source: $0.destination, sourcePrefixLength: $0.destinationPrefixLength, destination: $0.source,
                       destinationPrefixLength: $0.sourcePrefixLength, sourcePort: $0.destinationPort,
                       destinationPort: $0.sourcePort, ipProtocol: $0.ipProtocol)
        }
        return (outbound, inbound)
    }

    // MARK: Addresses as numbers

    private static func isICMP(_ proto: UInt8) -> Bool { proto == 1 || proto == 58 }

    private static func number(_ octets: [UInt8]) -> UInt128 {
        octets.reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
    }

    private static func octets(_ value: UInt128, count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> UInt128(8 * (count - 1 - $0))) }
    }

    /// 2^size − 1: the distance from a block's first address to its last.
    private static func span(_ size: Int) -> UInt128 {
        size >= 128 ? .max : (UInt128(1) << UInt128(size)) - 1
    }
}
