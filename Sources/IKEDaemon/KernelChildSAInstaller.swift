// The standalone gateway's ChildSAInstaller: CHILD_SAs go into this host's kernel XFRM.
//
// For each CHILD_SA (what strongSwan's kernel-netlink does for a tunnel):
//   ip xfrm state add src PEER dst US  proto esp spi IN  reqid R mode tunnel aead ...   (inbound)
//   ip xfrm state add src US  dst PEER proto esp spi OUT reqid R mode tunnel aead ...   (outbound)
//   ip xfrm policy add src LOCAL_TS dst REMOTE_TS dir out tmpl src US dst PEER proto esp reqid R mode tunnel
//   ip xfrm policy add src REMOTE_TS dst LOCAL_TS dir in  tmpl src PEER dst US proto esp reqid R mode tunnel
//   ip xfrm policy add src REMOTE_TS dst LOCAL_TS dir fwd tmpl src PEER dst US proto esp reqid R mode tunnel
// Transport mode: the same without fwd, the templates in transport mode.
// The translation is KernelSA's (ChildSADescriptions, then XFRMTranslation): the targets'
// agents program the same CHILD_SA into their kernels through the very same code.
import Cluster
import IKEv2
import KernelSA
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
        // One translation for the SAs and the policies alike.
        let descriptions = try descriptions(child)
        let sas = try states(of: descriptions)
        let states = child.outboundDeferred ? [sas.inbound] : [sas.inbound, sas.outbound]
        let policies = try policies(of: descriptions)
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
            let unused = policyUsers.release((try? self.policies(previous))?.map(\.id) ?? [])
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
        _ = try kernel.addState(try states(child).outbound)
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
        for sa in [child.inbound, child.outbound] {
            guard let destination = XFRMAddress(family: family(sa.destination), bytes: sa.destination) else { continue }
            try? kernel.deleteState(XFRMStateID(source: XFRMAddress(family: family(sa.source), bytes: sa.source),
                                                destination: destination, spi: sa.spi, proto: .esp))
        }
        // A policy goes when no installed CHILD_SA uses it any more: a rekeyed CHILD_SA's
        // successor keeps the same policies, a CHILD_SA for other selectors never used them.
        if wasInstalled {
            for policy in policyUsers.release((try? policies(child))?.map(\.id) ?? []) { try? kernel.deletePolicy(policy) }
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

    /// At most this many kernel selectors per CHILD_SA (one policy set each). strongSwan's
    /// peers send dozens of selectors in one IKE_AUTH (lab ike-fragments: 60); the bound keeps
    /// a peer's non-prefix ranges (up to 254 prefixes each for IPv6) from costing the kernel
    /// thousands of policies.
    public static let maximumSelectors = 1024

    /// The CHILD_SA's two kernel SAs, described as the targets get them (ids and sequencing
    /// are the cluster's and mean nothing here).
    func descriptions(_ child: ChildSAInstallation) throws -> [SADescription] {
        do {
            return try ChildSADescriptions.make(of: child, ids: [ClusterSAID(1), ClusterSAID(2)], outbound: .notApplicable,
                                                maximumSelectors: Self.maximumSelectors)
        } catch let error as ChildSATranslationError {
            throw KernelInstallError(description: error.description)
        }
    }

    /// `ip xfrm state add` of the inbound and the outbound SA.
    func states(_ child: ChildSAInstallation) throws -> (inbound: XFRMAddState, outbound: XFRMAddState) {
        try states(of: descriptions(child))
    }

    private func states(of sas: [SADescription]) throws -> (inbound: XFRMAddState, outbound: XFRMAddState) {
        (try XFRMTranslation.state(for: sas[0]), try XFRMTranslation.state(for: sas[1]))
    }

    /// The policies: dir in (and fwd in tunnel mode) per selector for the inbound SA, dir out
    /// for the outbound one.
    func policies(_ child: ChildSAInstallation) throws -> [XFRMPolicy] {
        try policies(of: descriptions(child))
    }

    private func policies(of sas: [SADescription]) throws -> [XFRMPolicy] {
        try sas.flatMap { try XFRMTranslation.policies(for: $0) }
    }
}
