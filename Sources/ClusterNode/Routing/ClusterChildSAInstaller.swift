// The routing node's ChildSAInstaller: the IKE daemon's negotiated CHILD_SAs go to the
// target hosts through the ClusterService instead of into this host's kernel.
import Cluster
import KernelSA
import Foundation
import IKEv2
import NIOCore

/// Why a CHILD_SA could not be handed to the cluster (no key material in it).
public struct ClusterChildSAError: Error, CustomStringConvertible {
    public var description: String
}

/// Hands each negotiated CHILD_SA to the targets (`ClusterService.installChildSA`: one call
/// onto the cluster's loop, where the SA authority chooses the SA ids and the outbound
/// owner); the future completes once they acknowledged it, so that the IKE daemon sends the
/// response that makes the SA usable only when the targets hold it. Nothing waits: the
/// IKE worker goes on with other IKE_SAs meanwhile. Bounded by the service's install
/// timeout, which drops laggards: the install succeeds when at least one target holds
/// both SAs, and fails when none does (or when the routing node stops).
///
/// The inbound SA goes to every live target. The outbound SA, in per-target mode, belongs to
/// one target that has no outbound SA of this CHILD_SA line yet (the SA authority then asks,
/// through `ClusterService.Hooks.negotiatePerTargetSA`, for one more for each other target);
/// in shared mode every target sends on it in sequence blocks.
public final class ClusterChildSAInstaller: ChildSAInstaller, @unchecked Sendable {
    private let service: ClusterService
    /// Guards the tables below; never held across a call to the service.
    private let lock = NSLock()
    /// The cluster's SAs of each installed CHILD_SA: [inbound, outbound], and the outbound's owner.
    private var lines: [ChildSAReference: Line] = [:]
    /// Outbound halves held back until `activateOutbound` (the responder of a rekey).
    private var deferred: [ChildSAReference: (sa: SADescription, replacing: [ClusterSAID])] = [:]
    /// Installs under way, and those deleted meanwhile (their SAs go once the targets hold them).
    private var inFlight: Set<ChildSAReference> = []
    private var deletedInFlight: Set<ChildSAReference> = []

    struct Line {
        var ids: [ClusterSAID]
        var owner: NodeID?
    }

    /// Each install's time from the call (the CHILD_SA negotiated) to the targets'
    /// acknowledgement, for the metrics' histogram (taken by `takeInstallLatencies`).
    private var latencies: [Duration] = []

    public init(service: ClusterService) {
        self.service = service
    }

    /// The install latencies recorded since the last call (at most the last 10000).
    public func takeInstallLatencies() -> [Duration] {
        lock.withLock {
            defer { latencies = [] }
            return latencies
        }
    }

    /// The CHILD_SA a cluster SA belongs to (for the authority's rekey requests).
    public func childSA(of saID: ClusterSAID) -> ChildSAReference? {
        lock.withLock { lines.first { $0.value.ids.contains(saID) }?.key }
    }

    /// HA takeover: the CHILD_SAs of the adopted IKE_SAs and the cluster SAs they were
    /// distributed as (matched by SPI); replaces whatever this node knew. A CHILD_SA without
    /// both descriptions is left out (its IKE_SA deletes or rekeys it like any unknown one).
    public func adopt(_ children: [ChildSAInstallation], descriptions: [SADescription]) {
        lock.withLock {
            lines = [:]
            deferred = [:]
            inFlight = []
            deletedInFlight = []
            for child in children {
                guard let inbound = descriptions.first(where: { $0.direction == .inbound && $0.spi == child.inbound.spi }),
                      let outbound = descriptions.first(where: { $0.direction == .outbound && $0.spi == child.outbound.spi })
                else { continue }
                var owner: NodeID?
                if case .perTarget(let node) = outbound.sequencing { owner = node }
                lines[child.reference] = Line(ids: [inbound.saID, outbound.saID], owner: owner)
            }
        }
    }

    public func install(_ child: ChildSAInstallation, on loop: EventLoop) -> EventLoopFuture<Void> {
        // In flight from the caller's moment on: a delete that comes before the task runs
        // must find it (else the install would go ahead and its SAs stay on the targets).
        let old = lock.withLock { () -> Line? in
            inFlight.insert(child.reference)
            return child.rekeyOf.flatMap { lines[$0] }
        }
        let promise = loop.makePromise(of: Void.self)
        let started = ContinuousClock.now
        promise.completeWithTask {
            try await self.install(child, old: old)
            let took = ContinuousClock.now - started
            self.lock.withLock {
                if self.latencies.count >= 10000 { self.latencies.removeFirst() }
                self.latencies.append(took)
            }
        }
        return promise.futureResult
    }

    private func install(_ child: ChildSAInstallation, old: Line?) async throws {
        let replacing = old?.ids ?? []
        let installed: PlacedChildSA
        do {
            // A rekey keeps the rekeyed SA's sender; a new CHILD_SA goes to a target without one.
            installed = try await service.installChildSA(
                reqid: child.reqid, keepingOwner: old?.owner, deferringOutbound: child.outboundDeferred,
                replacing: replacing) { ids, owner, mode in
                try ClusterChildSA.descriptions(of: child, ids: ids, outboundOwner: owner, outboundMode: mode)
            }
        } catch {
            lock.withLock {
                inFlight.remove(child.reference)
                deletedInFlight.remove(child.reference)
            }
            throw ClusterChildSAError(description: "\(child.reference): \(error)")
        }
        let deletedMeanwhile = lock.withLock { () -> Bool in
            inFlight.remove(child.reference)
            if deletedInFlight.remove(child.reference) != nil { return true }
            lines[child.reference] = Line(ids: installed.ids, owner: installed.owner)
            if let held = installed.heldOutbound { deferred[child.reference] = (held, Array(replacing.dropFirst())) }
            return false
        }
        if deletedMeanwhile {
            for id in installed.ids { await service.delete(id) }
        }
    }

    public func activateOutbound(_ child: ChildSAInstallation, on loop: EventLoop) -> EventLoopFuture<Void> {
        guard let held = lock.withLock({ deferred.removeValue(forKey: child.reference) }) else {
            return loop.makeSucceededVoidFuture()
        }
        let service = self.service
        let promise = loop.makePromise(of: Void.self)
        promise.completeWithTask { try await service.install([held.sa], replacing: held.replacing) }
        return promise.futureResult
    }

    /// The outbound SA of a rekeyed CHILD_SA leaves every target now (`ids[1...]`); its
    /// inbound SA (`ids[0]`) stays in the line until `delete`, so the targets go on
    /// decrypting what the peer still sends on it (and `stop` removes it with the rest).
    public func deleteOutbound(_ child: ChildSAInstallation, on loop: EventLoop) -> EventLoopFuture<Void> {
        let ids = lock.withLock { () -> [ClusterSAID] in
            deferred[child.reference] = nil
            guard var line = lines[child.reference], line.ids.count > 1 else { return [] }
            let outbound = Array(line.ids.dropFirst())
            line.ids = [line.ids[0]]
            lines[child.reference] = line
            return outbound
        }
        let service = self.service
        let promise = loop.makePromise(of: Void.self)
        promise.completeWithTask { for id in ids { await service.delete(id) } }
        return promise.futureResult
    }

    public func delete(_ child: ChildSAInstallation, on loop: EventLoop) -> EventLoopFuture<Void> {
        let ids = lock.withLock { () -> [ClusterSAID] in
            deferred[child.reference] = nil
            if inFlight.contains(child.reference) { deletedInFlight.insert(child.reference) }
            return lines.removeValue(forKey: child.reference)?.ids ?? []
        }
        let service = self.service
        let promise = loop.makePromise(of: Void.self)
        promise.completeWithTask { for id in ids { await service.delete(id) } }
        return promise.futureResult
    }
}

/// IKE's view of a CHILD_SA (`ChildSAInstallation`) → the cluster's kernel SA descriptions:
/// `ChildSADescriptions` (KernelSA), the translation the standalone gateway uses too, with the
/// cluster's choice of how the outbound SA is sequenced.
public enum ClusterChildSA {
    /// The inbound SA (peer → DVIPA, `ids[0]`) and the outbound one (DVIPA → peer, `ids[1]`).
    public static func descriptions(of child: ChildSAInstallation, ids: [ClusterSAID], outboundOwner: NodeID?,
                                    outboundMode: OutboundMode) throws -> [SADescription] {
        let sequencing: SequencingMode
        switch outboundMode {
        case .perTarget:
            guard let outboundOwner else { throw ClusterChildSAError(description: "no live target to own the outbound SA") }
            sequencing = .perTarget(owner: outboundOwner)
        case .shared(let blockSize, _):
            sequencing = .shared(blockSize: blockSize)
        }
        do {
            return try ChildSADescriptions.make(of: child, ids: ids, outbound: sequencing)
        } catch let error as ChildSATranslationError {
            throw ClusterChildSAError(description: error.description)
        }
    }
}
