import Cluster
import Foundation
import XFRM

/// The agent's kernel over netlink XFRM: `ip xfrm state add` for the SA and `ip xfrm policy
/// update` for one policy per traffic selector (inbound SAs: dir in and fwd; outbound: dir
/// out), with the SA's endpoints (the DVIPA locally) in the template.
///
/// A journal file lists the SAs this agent put into the kernel, so an agent that was killed
/// and restarted can take its leftovers out before the routing node resynchronises it.
public final class XFRMAgentKernel: AgentKernel {
    private let kernel: XFRMKernel
    private let journalPath: String?
    /// Which held SAs use each policy.
    private var policyUsers: [XFRMPolicyID: Set<ClusterSAID>] = [:]
    private var installed: [ClusterSAID: XFRMStateID] = [:]
    /// ESP-in-UDP sockets by (DVIPA, port), opened for the first inbound SA with UDP
    /// encapsulation (NAT-T), kept until `removeAll`.
    private var encapSockets: [EncapSocketKey: ESPInUDPSocket] = [:]

    /// Opens an XFRM socket (in the caller's network namespace, or in the named one);
    /// `journalPath` (nil: no journal) records installed SAs.
    public init(journalPath: String?, networkNamespace: String? = nil) throws {
        kernel = try XFRMKernel(networkNamespace: networkNamespace)
        self.journalPath = journalPath
    }

    public func install(_ sa: SADescription, outputSequence: UInt64?) throws {
        let state = try Self.state(for: sa, outputSequence: outputSequence)
        try openEncapSocket(for: sa)
        do {
            try kernel.addState(state)
        } catch let error as XFRMError where error.errno == EEXIST {
            // Left over from a previous run (or a previous epoch): replace it.
            try kernel.deleteState(state.id)
            try kernel.addState(state)
        }
        installed[sa.saID] = state.id
        writeJournal()
        do {
            for policy in Self.policies(for: sa) {
                try kernel.updatePolicy(policy)
                policyUsers[policy.id, default: []].insert(sa.saID)
            }
        } catch {
            try? remove(sa)
            throw error
        }
    }

    public func replaceState(_ sa: SADescription, outputSequence: UInt64) throws {
        let state = try Self.state(for: sa, outputSequence: outputSequence)
        do {
            try kernel.deleteState(state.id)
        } catch let error as XFRMError where error.errno == ENOENT || error.errno == ESRCH {
        }
        try kernel.addState(state)
        installed[sa.saID] = state.id
        writeJournal()
    }

    public func remove(_ sa: SADescription) throws {
        var firstError: Error?
        for policy in Self.policies(for: sa) {
            var users = policyUsers[policy.id] ?? []
            users.remove(sa.saID)
            policyUsers[policy.id] = users.isEmpty ? nil : users
            guard users.isEmpty else { continue }
            do {
                try kernel.deletePolicy(policy.id)
            } catch let error as XFRMError where error.errno == ENOENT {
            } catch {
                firstError = firstError ?? error
            }
        }
        let id = installed.removeValue(forKey: sa.saID) ?? (try? Self.stateID(for: sa))
        if let id {
            do {
                try kernel.deleteState(id)
            } catch let error as XFRMError where error.errno == ENOENT || error.errno == ESRCH {
            } catch {
                firstError = firstError ?? error
            }
        }
        writeJournal()
        if let firstError { throw firstError }
    }

    public func counters(of sa: SADescription) throws -> KernelSACounters? {
        guard let id = installed[sa.saID] else { return nil }
        do {
            let info = try kernel.getState(id)
            return KernelSACounters(bytes: info.current.bytes, packets: info.current.packets,
                                    outputSequence: info.replay.outputSequence)
        } catch let error as XFRMError where error.errno == ENOENT || error.errno == ESRCH {
            return nil
        }
    }

    /// The kernel dropped the SA on its own (hard expire): forget it here too.
    public func forgetState(of saID: ClusterSAID) {
        installed[saID] = nil
        writeJournal()
    }

    /// The SA id whose kernel state is `id` (for expire events).
    public func saID(for id: XFRMStateID) -> ClusterSAID? {
        installed.first { $0.value.destination == id.destination && $0.value.spi == id.spi && $0.value.proto == id.proto }?.key
    }

    public func removeLeftovers() -> Int {
        guard let journalPath, let text = try? String(contentsOfFile: journalPath, encoding: .utf8) else { return 0 }
        var removed = 0
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count == 4, let source = XFRMAddress(fields[0]), let destination = XFRMAddress(fields[1]),
                  let spi = UInt32(fields[2], radix: 16), let proto = UInt8(fields[3]) else { continue }
            let id = XFRMStateID(source: source, destination: destination, spi: spi, proto: XFRMProtocol(rawValue: proto))
            if (try? kernel.deleteState(id)) != nil { removed += 1 }
        }
        // Policies of those SAs: ours carry the SAs' reqid; only states are journaled, so the
        // policies are replaced (policy update) when the routing node resends the SAs.
        writeJournal()
        return removed
    }

    public func removeAll() -> Int {
        var removed = 0
        for (_, id) in installed {
            if (try? kernel.deleteState(id)) != nil { removed += 1 }
        }
        installed = [:]
        for policy in policyUsers.keys { try? kernel.deletePolicy(policy) }
        policyUsers = [:]
        for socket in encapSockets.values { socket.close() }
        encapSockets = [:]
        writeJournal()
        return removed
    }

    public func removeJournal() -> Bool {
        guard let journalPath, installed.isEmpty else { return false }
        return unlink(journalPath) == 0
    }

    private func writeJournal() {
        guard let journalPath else { return }
        let lines = installed.values.map { id in
            "\(id.source?.description ?? "0.0.0.0") \(id.destination) \(String(id.spi, radix: 16)) \(id.proto.rawValue)"
        }
        try? (lines.joined(separator: "\n") + "\n").write(toFile: journalPath, atomically: true, encoding: .utf8)
    }

    /// An inbound SA with UDP encapsulation arrives as UDP to its destination (the DVIPA) and
    /// local port (the encap's destination port, 4500): without a UDP_ENCAP socket there the
    /// kernel would deliver it as plain UDP (no listener: ICMP port unreachable) and never
    /// decrypt it. Outbound SAs need none (the kernel encapsulates on output from the state).
    private func openEncapSocket(for sa: SADescription) throws {
        guard let key = Self.encapSocketKey(for: sa), encapSockets[key] == nil else { return }
        encapSockets[key] = try ESPInUDPSocket(address: key.address, port: key.port)
    }

    struct EncapSocketKey: Hashable {
        var address: IPAddress
        var port: UInt16
    }

    /// Where an SA needs an ESP-in-UDP socket: inbound with encapsulation only.
    static func encapSocketKey(for sa: SADescription) -> EncapSocketKey? {
        guard sa.direction == .inbound, let encapsulation = sa.encapsulation else { return nil }
        return EncapSocketKey(address: sa.destination, port: encapsulation.destinationPort)
    }

    // MARK: SADescription → XFRM

    static func address(_ address: IPAddress) throws -> XFRMAddress {
        guard let value = XFRMAddress(family: UInt16(address.isIPv4 ? AF_INET : AF_INET6), bytes: address.bytes) else {
            throw XFRMError.invalidArgument("address \(address)")
        }
        return value
    }

    static func stateID(for sa: SADescription) throws -> XFRMStateID {
        XFRMStateID(source: try address(sa.source), destination: try address(sa.destination), spi: sa.spi,
                    proto: XFRMProtocol(rawValue: sa.ipsecProtocol.rawValue))
    }

    static func state(for sa: SADescription, outputSequence: UInt64?) throws -> XFRMAddState {
        func limit(_ value: UInt64) -> UInt64? { value == SALifetimes.unlimited ? nil : value }
        func time(_ value: UInt64) -> UInt64? { value == 0 ? nil : value }
        let lifetimes = sa.lifetimes
        var state = XFRMAddState(
            id: try stateID(for: sa), reqid: sa.reqid, mode: XFRMMode(rawValue: sa.mode.rawValue),
            lifetime: XFRMLifetime(softByteLimit: limit(lifetimes.softByteLimit), hardByteLimit: limit(lifetimes.hardByteLimit),
                                   softPacketLimit: limit(lifetimes.softPacketLimit), hardPacketLimit: limit(lifetimes.hardPacketLimit),
                                   softAddExpireSeconds: time(lifetimes.softAddExpiresSeconds),
                                   hardAddExpireSeconds: time(lifetimes.hardAddExpiresSeconds)),
            replay: XFRMReplayState(window: sa.replayWindow, extendedSequenceNumbers: sa.extendedSequenceNumbers,
                                    outputSequence: outputSequence ?? 0))
        state.eventThresholds = eventThresholds(for: sa)
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
    static func eventThresholds(for sa: SADescription) -> XFRMEventThresholds {
        if sa.direction == .inbound, sa.replayWindow > 0 {
            return XFRMEventThresholds(replayPackets: max(1, sa.replayWindow / 2), timer: 25)
        }
        return XFRMEventThresholds(replayPackets: UInt32.max, timer: 0)
    }

    static func selector(_ selector: SASelector) throws -> XFRMSelector {
        XFRMSelector(source: XFRMPrefix(try address(selector.source), length: selector.sourcePrefixLength),
                     destination: XFRMPrefix(try address(selector.destination), length: selector.destinationPrefixLength),
                     upperProtocol: selector.ipProtocol,
                     sourcePort: selector.sourcePort == 0 ? nil : selector.sourcePort,
                     destinationPort: selector.destinationPort == 0 ? nil : selector.destinationPort)
    }

    /// One policy per selector: dir in + fwd for inbound SAs, dir out for outbound ones.
    static func policies(for sa: SADescription) -> [XFRMPolicy] {
        guard let source = try? address(sa.source), let destination = try? address(sa.destination) else { return [] }
        let mode = XFRMMode(rawValue: sa.mode.rawValue)
        let template = XFRMTemplate(source: mode == .tunnel ? source : nil, destination: mode == .tunnel ? destination : nil,
                                    proto: XFRMProtocol(rawValue: sa.ipsecProtocol.rawValue), reqid: sa.reqid, mode: mode,
                                    family: source.family)
        let directions: [XFRMPolicyDirection] = sa.direction == .inbound ? [.inbound, .forward] : [.outbound]
        return sa.selectors.compactMap { try? selector($0) }.flatMap { selector in
            directions.map { XFRMPolicy(selector: selector, direction: $0, templates: [template]) }
        }
    }
}
