// The standalone gateway's ChildSAInstaller: CHILD_SAs go into this host's kernel XFRM.
//
// For each CHILD_SA (what strongSwan's kernel-netlink does for a tunnel):
//   ip xfrm state add src PEER dst US  proto esp spi IN  reqid R mode tunnel aead ...   (inbound)
//   ip xfrm state add src US  dst PEER proto esp spi OUT reqid R mode tunnel aead ...   (outbound)
//   ip xfrm policy add src LOCAL_TS dst REMOTE_TS dir out tmpl src US dst PEER proto esp reqid R mode tunnel
//   ip xfrm policy add src REMOTE_TS dst LOCAL_TS dir in  tmpl src PEER dst US proto esp reqid R mode tunnel
//   ip xfrm policy add src REMOTE_TS dst LOCAL_TS dir fwd tmpl src PEER dst US proto esp reqid R mode tunnel
// Transport mode: the same without fwd, the templates in transport mode.
import IKEv2
import XFRM
import Logging

/// Errors of the kernel installer (no key material in them).
public struct KernelInstallError: Error, CustomStringConvertible {
    public var description: String
}

/// Installs CHILD_SAs into the local kernel.
public final class KernelChildSAInstaller: SynchronousChildSAInstaller {
    private let kernel: XFRMKernel
    private let logger: Logger
    /// Priority of the policies we add (strongSwan uses ~ 375423 for such policies; lower wins).
    public var policyPriority: UInt32 = 2000
    /// What is installed now, so that shutdown can remove everything.
    public private(set) var installed: [ChildSAReference: ChildSAInstallation] = [:]
    /// Which installed CHILD_SAs use each policy (PolicyUsers.swift).
    private(set) var policyUsers = PolicyUsers()

    public init(kernel: XFRMKernel, logger: Logger) {
        self.kernel = kernel
        self.logger = logger
    }

    /// The kernel's expire events of these SAs drive rekeys by bytes and packets.
    public var installsIntoLocalKernel: Bool { true }

    public func install(_ child: ChildSAInstallation) throws {
        // One jittered soft byte/packet limit per CHILD_SA, for both of its SAs (rand_bytes).
        var generator = SystemRandomNumberGenerator()
        var child = child
        child.lifetime = child.lifetime.jittered(using: &generator)
        let mode: XFRMMode = child.mode == .tunnel ? .tunnel : .transport
        var states = [try state(child.inbound, child: child, mode: mode, inbound: true)]
        if !child.outboundDeferred { states.append(try state(child.outbound, child: child, mode: mode, inbound: false)) }
        let policies = try policies(child, mode: mode)
        // Two netlink round trips, not one per SA and policy: the SAs together, then (only if
        // both went in) the policies together. All or nothing: a failure removes the SAs this
        // call added (policies stay: they may serve the CHILD_SA line's other SAs).
        let stateResults = try kernel.addStates(states)
        if let failure = stateResults.compactMap({ $0 }).first {
            for (state, result) in zip(states, stateResults) where result == nil { try? kernel.deleteState(state.id) }
            throw failure
        }
        do {
            if let failure = try kernel.updatePolicies(policies).compactMap({ $0 }).first { throw failure }
        } catch {
            for state in states { try? kernel.deleteState(state.id) }
            throw error
        }
        policyUsers.add(policies.map(\.id))
        if let previous = installed.updateValue(child, forKey: child.reference) {   // installed again: its old policies
            let unused = policyUsers.release((try? self.policies(previous, mode: mode))?.map(\.id) ?? [])
            for policy in unused { try? kernel.deletePolicy(policy) }
        }
        logger.info("installed \(child)")
    }

    /// `ip xfrm state add` of the outbound SA, once the old CHILD_SA is gone.
    public func activateOutbound(_ child: ChildSAInstallation) throws {
        var child = child
        if let lifetime = installed[child.reference]?.lifetime {   // the limits its inbound SA got
            child.lifetime = lifetime
        } else {
            var generator = SystemRandomNumberGenerator()
            child.lifetime = child.lifetime.jittered(using: &generator)
        }
        let mode: XFRMMode = child.mode == .tunnel ? .tunnel : .transport
        _ = try kernel.addState(try state(child.outbound, child: child, mode: mode, inbound: false))
        var active = child
        active.outboundDeferred = false
        installed[child.reference] = active
        logger.info("activated outbound SA 0x\(String(child.outbound.spi, radix: 16)) of reqid \(child.reqid)")
    }

    /// `ip xfrm state delete src US dst PEER proto esp spi OUT` of a rekeyed CHILD_SA: its
    /// inbound SA and the policies stay (it is still `installed`, so `removeAll` takes it).
    public func deleteOutbound(_ child: ChildSAInstallation) throws {
        let sa = child.outbound
        // Gone already (e.g. its hard lifetime): no error, as for `delete`.
        try? kernel.deleteState(XFRMStateID(source: try address(sa.source), destination: try address(sa.destination),
                                            spi: sa.spi, proto: .esp))
        logger.info("deleted outbound SA 0x\(String(sa.spi, radix: 16)) of \(child.reference); its inbound SA stays a while")
    }

    public func delete(_ child: ChildSAInstallation) throws {
        let wasInstalled = installed.removeValue(forKey: child.reference) != nil
        let mode: XFRMMode = child.mode == .tunnel ? .tunnel : .transport
        for sa in [child.inbound, child.outbound] {
            guard let destination = XFRMAddress(family: family(sa.destination), bytes: sa.destination) else { continue }
            try? kernel.deleteState(XFRMStateID(source: XFRMAddress(family: family(sa.source), bytes: sa.source),
                                                destination: destination, spi: sa.spi, proto: .esp))
        }
        // A policy goes when no installed CHILD_SA uses it any more: a rekeyed CHILD_SA's
        // successor keeps the same policies, a CHILD_SA for other selectors never used them.
        if wasInstalled {
            for policy in policyUsers.release((try? policies(child, mode: mode))?.map(\.id) ?? []) { try? kernel.deletePolicy(policy) }
        }
        logger.info("deleted CHILD_SA \(child.reference)")
    }

    /// Removes everything still installed (on shutdown).
    public func removeAll() {
        for child in installed.values { try? delete(child) }
    }

    // MARK: Translation

    func family(_ bytes: [UInt8]) -> UInt16 { UInt16(bytes.count == 4 ? 2 : 10) }

    func address(_ bytes: [UInt8]) throws -> XFRMAddress {
        guard let address = XFRMAddress(family: family(bytes), bytes: bytes) else {
            throw KernelInstallError(description: "bad address length \(bytes.count)")
        }
        return address
    }

    func algorithms(_ sa: ChildSAParameters) throws -> (aead: XFRMAlgorithm?, encryption: XFRMAlgorithm?, integrity: XFRMAlgorithm?) {
        let encryptionKey = XFRMKey(sa.encryptionKey.unprotectedCopy())
        switch sa.encryption {
        case .aesGCM16: return (.aesGCM(key: encryptionKey), nil, nil)
        case .chacha20Poly1305: return (.chaCha20Poly1305(key: encryptionKey), nil, nil)
        case .aesCBC:
            let integrityKey = XFRMKey(sa.integrityKey.unprotectedCopy())
            let integrity: XFRMAlgorithm
            switch sa.integrity {
            case .hmacSHA2_256_128: integrity = .hmacSHA256(key: integrityKey)
            case .hmacSHA2_384_192: integrity = .hmacSHA384(key: integrityKey)
            case .hmacSHA2_512_256: integrity = .hmacSHA512(key: integrityKey)
            default: throw KernelInstallError(description: "integrity \(sa.integrity) not supported by the kernel installer")
            }
            return (nil, .aesCBC(key: encryptionKey), integrity)
        default:
            throw KernelInstallError(description: "encryption \(sa.encryption) not supported by the kernel installer")
        }
    }

    func state(_ sa: ChildSAParameters, child: ChildSAInstallation, mode: XFRMMode, inbound: Bool) throws -> XFRMAddState {
        let algorithms = try algorithms(sa)
        let lifetime = XFRMLifetime(
            softByteLimit: child.lifetime.softBytes == 0 ? nil : child.lifetime.softBytes,
            hardByteLimit: child.lifetime.hardBytes == 0 ? nil : child.lifetime.hardBytes,
            softPacketLimit: child.lifetime.softPackets == 0 ? nil : child.lifetime.softPackets,
            hardPacketLimit: child.lifetime.hardPackets == 0 ? nil : child.lifetime.hardPackets,
            softAddExpireSeconds: child.lifetime.softSeconds == 0 ? nil : child.lifetime.softSeconds,
            hardAddExpireSeconds: child.lifetime.hardSeconds == 0 ? nil : child.lifetime.hardSeconds)
        let encap = child.udpEncapsulation.map {
            inbound ? XFRMEncap(sourcePort: $0.destinationPort, destinationPort: $0.sourcePort)
                    : XFRMEncap(sourcePort: $0.sourcePort, destinationPort: $0.destinationPort)
        }
        return XFRMAddState(
            id: XFRMStateID(source: try address(sa.source), destination: try address(sa.destination), spi: sa.spi, proto: .esp),
            reqid: child.reqid, mode: mode, lifetime: lifetime,
            aead: algorithms.aead, encryption: algorithms.encryption, integrity: algorithms.integrity,
            // Only the inbound SA checks replay; but with ESN the kernel (6.1) wants a window
            // on every SA, the outbound one too (as strongSwan gives it).
            replay: XFRMReplayState(window: inbound || child.extendedSequenceNumbers ? child.replayWindow : 0,
                                    extendedSequenceNumbers: child.extendedSequenceNumbers),
            encap: encap,
            // IPv4 in IPv6 or IPv6 in IPv4 (tunnel mode only): the SA takes inner packets of
            // either family, as strongSwan installs such SAs.
            flags: mode == .tunnel && Self.mixesFamilies(child, outerAddressLength: sa.source.count)
                ? [.addressFamilyUnspecified] : [])
    }

    /// Whether a selector's family differs from the SA's outer addresses.
    static func mixesFamilies(_ child: ChildSAInstallation, outerAddressLength: Int) -> Bool {
        (child.localTrafficSelectors + child.remoteTrafficSelectors).contains { $0.startAddress.count != outerAddressLength }
    }

    func prefix(_ selector: TrafficSelector) throws -> XFRMPrefix {
        // The largest prefix covering start...end (selectors from config are prefixes).
        let start = selector.startAddress, end = selector.endAddress
        var length = 0
        while length < start.count * 8 {
            let byte = length / 8, bit = UInt8(0x80) >> UInt8(length % 8)
            if start[byte] & bit != end[byte] & bit { break }
            length += 1
        }
        return XFRMPrefix(try address(start), length: UInt8(length))
    }

    func policies(_ child: ChildSAInstallation, mode: XFRMMode) throws -> [XFRMPolicy] {
        let us = try address(child.outbound.source), peer = try address(child.outbound.destination)
        var result: [XFRMPolicy] = []
        for local in child.localTrafficSelectors {
            for remote in child.remoteTrafficSelectors where local.startAddress.count == remote.startAddress.count {
                let outSelector = XFRMSelector(source: try prefix(local), destination: try prefix(remote),
                                               upperProtocol: local.ipProtocolID)
                let inSelector = XFRMSelector(source: try prefix(remote), destination: try prefix(local),
                                              upperProtocol: local.ipProtocolID)
                let outTemplate = XFRMTemplate(source: us, destination: peer, proto: .esp, reqid: child.reqid, mode: mode)
                let inTemplate = XFRMTemplate(source: peer, destination: us, proto: .esp, reqid: child.reqid, mode: mode)
                result.append(XFRMPolicy(selector: outSelector, direction: .outbound, priority: policyPriority, templates: [outTemplate]))
                result.append(XFRMPolicy(selector: inSelector, direction: .inbound, priority: policyPriority, templates: [inTemplate]))
                if mode == .tunnel {
                    result.append(XFRMPolicy(selector: inSelector, direction: .forward, priority: policyPriority, templates: [inTemplate]))
                }
            }
        }
        return result
    }
}
