import Cluster
import Foundation
import InboundRouting
import KernelSA
import XFRM

/// The agent's kernel over netlink XFRM: `ip xfrm state add` for the SA and `ip xfrm policy
/// update` for its policies, as `XFRMTranslation` (KernelSA) makes them from the SA's
/// description, the same translation the standalone gateway uses; the SA's endpoints (the
/// DVIPA locally) are in the templates. An install is two netlink round trips: the state,
/// then all its policies in one batch.
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
    /// Inbound encapsulated mode: the GRE decapsulation set up (XFRMAgentKernel+GRE.swift).
    var decapsulation: TargetDecapsulation?
    let networkNamespace: String?

    /// Opens an XFRM socket (in the caller's network namespace, or in the named one);
    /// `journalPath` (nil: no journal) records installed SAs.
    public init(journalPath: String?, networkNamespace: String? = nil) throws {
        kernel = try XFRMKernel(networkNamespace: networkNamespace)
        self.journalPath = journalPath
        self.networkNamespace = networkNamespace
    }

    public func install(_ sa: SADescription, outputSequence: UInt64?) throws {
        let state = try Self.state(for: sa, outputSequence: outputSequence)
        let policies = try XFRMTranslation.policies(for: sa)
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
            if let failure = try kernel.updatePolicies(policies).compactMap({ $0 }).first { throw failure }
            for policy in policies { policyUsers[policy.id, default: []].insert(sa.saID) }
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
        for policy in (try? XFRMTranslation.policies(for: sa)) ?? [] {
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
        let id = installed.removeValue(forKey: sa.saID) ?? (try? XFRMTranslation.stateID(for: sa))
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

    public func replayState(of sa: SADescription) throws -> KernelReplayState? {
        guard let id = installed[sa.saID] else { return nil }
        do {
            let window = try kernel.asyncEventState(id).authenticatedWindow
            return KernelReplayState(top: window.top, bitmap: window.bitmap)
        } catch let error as XFRMError where error.errno == ENOENT || error.errno == ESRCH {
            return nil
        }
    }

    public func openConnections() throws -> [InnerFiveTuple] {
        try ConntrackDump.openConnections(networkNamespace: networkNamespace).tuples.compactMap(\.fiveTuple)
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

    /// The agent's SAs report replay progress (the routing node's distributor merges it).
    static func state(for sa: SADescription, outputSequence: UInt64?) throws -> XFRMAddState {
        try XFRMTranslation.state(for: sa, outputSequence: outputSequence, reportsReplay: true)
    }
}
