// An SA description → what `ip xfrm state add` and `ip xfrm policy update` take: the one place
// where vipsec's SAs become XFRM, for the standalone gateway's kernel and every target's.
//
//   ip xfrm state add src S dst D proto esp spi SPI reqid R mode M [replay-window W] [flag esn]
//       aead|enc+auth-trunc ... [encap espinudp SPORT DPORT 0.0.0.0] [limit ...] [sel ...]
//   inbound SA:  ip xfrm policy update SEL dir in  tmpl src S dst D proto esp reqid R mode M
//                (tunnel mode also dir fwd: forwarded traffic is checked against it)
//   outbound SA: ip xfrm policy update SEL dir out tmpl src S dst D proto esp reqid R mode M
//
// Choices, as strongSwan's kernel-netlink makes them: a replay window on inbound SAs, and on
// outbound ones only with ESN (the kernel wants one there); the SA's own selector in
// transport mode when it has exactly one; XFRM_STATE_AF_UNSPEC when a tunnel carries the
// other family; template addresses in both modes (transport mode ignores them). Pure.
import Cluster
import XFRM

public enum XFRMTranslation {
    /// The priority of vipsec's policies (lower wins; strongSwan uses about 375423 for such
    /// policies, so vipsec's take precedence over a strongSwan beside it).
    public static let policyPriority: UInt32 = 2000

    public static func address(_ address: IPAddress) throws -> XFRMAddress {
        guard let value = XFRMAddress(family: UInt16(address.isIPv4 ? 2 : 10), bytes: address.bytes) else {
            throw XFRMError.invalidArgument("address \(address)")
        }
        return value
    }

    public static func stateID(for sa: SADescription) throws -> XFRMStateID {
        XFRMStateID(source: try address(sa.source), destination: try address(sa.destination), spi: sa.spi,
                    proto: XFRMProtocol(rawValue: sa.ipsecProtocol.rawValue))
    }

    /// The XFRM state of `sa`. `outputSequence` is where a shared outbound SA starts;
    /// `reportsReplay` asks the kernel for replay events (the agent forwards them to the
    /// routing node's distributor; a standalone gateway has no use for them).
    public static func state(for sa: SADescription, outputSequence: UInt64? = nil, reportsReplay: Bool = false) throws -> XFRMAddState {
        func limit(_ value: UInt64) -> UInt64? { value == SALifetimes.unlimited ? nil : value }
        func time(_ value: UInt64) -> UInt64? { value == 0 ? nil : value }
        let lifetimes = sa.lifetimes
        let window = sa.direction == .inbound || sa.extendedSequenceNumbers ? sa.replayWindow : 0
        var state = XFRMAddState(
            id: try stateID(for: sa), reqid: sa.reqid, mode: XFRMMode(rawValue: sa.mode.rawValue),
            lifetime: XFRMLifetime(softByteLimit: limit(lifetimes.softByteLimit), hardByteLimit: limit(lifetimes.hardByteLimit),
                                   softPacketLimit: limit(lifetimes.softPacketLimit), hardPacketLimit: limit(lifetimes.hardPacketLimit),
                                   softAddExpireSeconds: time(lifetimes.softAddExpiresSeconds),
                                   hardAddExpireSeconds: time(lifetimes.hardAddExpiresSeconds)),
            replay: XFRMReplayState(window: window, extendedSequenceNumbers: sa.extendedSequenceNumbers,
                                    outputSequence: outputSequence ?? 0))
        if reportsReplay { state.eventThresholds = eventThresholds(for: sa) }
        if sa.mode == .transport, sa.selectors.count == 1, let selector = sa.selectors.first {
            state.selector = try self.selector(selector)
        }
        // IPv4 traffic through an IPv6 tunnel (or the reverse): the SA takes either family.
        if sa.mode == .tunnel, sa.selectors.contains(where: { $0.source.bytes.count != sa.source.bytes.count }) {
            state.flags.insert(.addressFamilyUnspecified)
        }
        for algorithm in sa.algorithms {
            let key = algorithm.key.withUnsafeBytes { XFRMKey(Array($0)) }
            switch algorithm.kind {
            case .aead: state.aead = XFRMAlgorithm(kind: .aead, name: algorithm.name, key: key, bits: UInt32(algorithm.bits))
            case .encryption: state.encryption = XFRMAlgorithm(kind: .encryption, name: algorithm.name, key: key)
            case .integrity: state.integrity = XFRMAlgorithm(kind: .integrity, name: algorithm.name, key: key, bits: UInt32(algorithm.bits))
            default: throw XFRMError.invalidArgument("unknown algorithm kind \(algorithm.kind)")
            }
        }
        if let encapsulation = sa.encapsulation {
            state.encap = XFRMEncap(sourcePort: encapsulation.sourcePort, destinationPort: encapsulation.destinationPort)
        }
        return state
    }

    /// When the kernel sends NEWAE for the SA (once anyone listens on the async-event group,
    /// as the agent does). Inbound: each time the window's top advanced by half the window
    /// (every report carries the whole window, so two in a window cover every in-order
    /// number) and, for the tail and packets arriving below the top, when the timer finds the
    /// state changed (25 jiffies: 100 ms at HZ 250). One report per packet cost a netlink
    /// message, a cluster record and a routing-node step per ESP packet; this way the routing
    /// node's check-only window lags a sender by at most half a window or 100 ms, and a replay
    /// inside that lag still dies at the target's ICV-checked window. Outbound: never (a
    /// difference no output sequence reaches and no timer; the kernel's default would be
    /// every 2 packets).
    public static func eventThresholds(for sa: SADescription) -> XFRMEventThresholds {
        if sa.direction == .inbound, sa.replayWindow > 0 {
            return XFRMEventThresholds(replayPackets: max(1, sa.replayWindow / 2), timer: 25)
        }
        return XFRMEventThresholds(replayPackets: UInt32.max, timer: 0)
    }

    public static func selector(_ selector: SASelector) throws -> XFRMSelector {
        XFRMSelector(source: XFRMPrefix(try address(selector.source), length: selector.sourcePrefixLength),
                     destination: XFRMPrefix(try address(selector.destination), length: selector.destinationPrefixLength),
                     upperProtocol: selector.ipProtocol,
                     sourcePort: selector.sourcePort == 0 ? nil : selector.sourcePort,
                     destinationPort: selector.destinationPort == 0 ? nil : selector.destinationPort)
    }

    /// One policy per selector and direction: dir in (and fwd in tunnel mode) for an inbound
    /// SA, dir out for an outbound one.
    public static func policies(for sa: SADescription) throws -> [XFRMPolicy] {
        let source = try address(sa.source), destination = try address(sa.destination)
        let mode = XFRMMode(rawValue: sa.mode.rawValue)
        let template = XFRMTemplate(source: source, destination: destination,
                                    proto: XFRMProtocol(rawValue: sa.ipsecProtocol.rawValue), reqid: sa.reqid, mode: mode,
                                    family: source.family)
        let directions: [XFRMPolicyDirection] = sa.direction == .outbound ? [.outbound]
            : mode == .tunnel ? [.inbound, .forward] : [.inbound]
        return try sa.selectors.flatMap { selector -> [XFRMPolicy] in
            let kernelSelector = try self.selector(selector)
            return directions.map {
                XFRMPolicy(selector: kernelSelector, direction: $0, priority: policyPriority, templates: [template])
            }
        }
    }
}
