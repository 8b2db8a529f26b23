// The routing node's ChildSAInstaller: the IKE daemon's negotiated CHILD_SAs go to the
// target hosts through the ClusterService instead of into this host's kernel.
import Cluster
import Dispatch
import Foundation
import IKEv2

/// Why a CHILD_SA could not be handed to the cluster (no key material in it).
public struct ClusterChildSAError: Error, CustomStringConvertible {
    public var description: String
}

/// Hands each negotiated CHILD_SA to the targets and returns once they acknowledged it
/// (`ClusterService.install`), so the IKE daemon sends the response that makes the SA usable
/// only when the targets hold it. Bounded: the service's install timeout drops laggards
/// (the call succeeds when at least one target holds both SAs, and throws when none does);
/// `waitLimit` is a last-resort bound on the wait itself.
///
/// The inbound SA goes to every live target. The outbound SA, in per-target mode, belongs to
/// one target that has no outbound SA of this CHILD_SA line yet (the SA authority then asks,
/// through `ClusterService.Hooks.negotiatePerTargetSA`, for one more for each other target);
/// in shared mode every target sends on it in sequence blocks.
///
/// `install` blocks its caller until the answer: call it off the cluster service's event
/// loop (the service runs on a loop of its own, so an IKE loop may call it; it stalls that
/// loop for at most the install timeout).
public final class ClusterChildSAInstaller: ChildSAInstaller, @unchecked Sendable {
    private let service: ClusterService
    private let waitLimit: Duration
    private let lock = NSLock()
    /// The cluster's SAs of each installed CHILD_SA: [inbound, outbound], and the outbound's owner.
    private var lines: [ChildSAReference: Line] = [:]
    /// Outbound halves held back until `activateOutbound` (the responder of a rekey).
    private var deferred: [ChildSAReference: (sa: SADescription, replacing: [ClusterSAID])] = [:]

    struct Line {
        var ids: [ClusterSAID]
        var owner: NodeID?
    }

    public init(service: ClusterService, waitLimit: Duration? = nil) {
        self.service = service
        self.waitLimit = waitLimit ?? service.configuration.authority.installTimeout * 2 + .seconds(1)
    }

    /// The CHILD_SA a cluster SA belongs to (for the authority's rekey requests).
    public func childSA(of saID: ClusterSAID) -> ChildSAReference? {
        lock.withLock { lines.first { $0.value.ids.contains(saID) }?.key }
    }

    public func install(_ child: ChildSAInstallation) throws {
        let service = self.service
        let old = child.rekeyOf.flatMap { reference in lock.withLock { lines[reference] } }
        let (ids, owner, sas): ([ClusterSAID], NodeID?, [SADescription]) = try wait(child.reference) {
            let ids = [await service.makeSAID(), await service.makeSAID()]
            // A rekey keeps the rekeyed SA's sender; a new CHILD_SA goes to a target without one.
            var owner = old?.owner
            if owner == nil { owner = await service.outboundOwner(reqid: child.reqid) }
            let sas = try ClusterChildSA.descriptions(of: child, ids: ids, outboundOwner: owner,
                                                     outboundMode: service.configuration.authority.outboundMode)
            return (ids, owner, sas)
        }
        let replacing = old?.ids ?? []
        let now = child.outboundDeferred ? [sas[0]] : sas
        try wait(child.reference) { try await service.install(now, replacing: child.outboundDeferred ? Array(replacing.prefix(1)) : replacing) }
        lock.withLock {
            lines[child.reference] = Line(ids: ids, owner: owner)
            if child.outboundDeferred { deferred[child.reference] = (sas[1], Array(replacing.dropFirst())) }
        }
    }

    public func activateOutbound(_ child: ChildSAInstallation) throws {
        guard let held = lock.withLock({ deferred.removeValue(forKey: child.reference) }) else { return }
        let service = self.service
        try wait(child.reference) { try await service.install([held.sa], replacing: held.replacing) }
    }

    public func delete(_ child: ChildSAInstallation) throws {
        let ids = lock.withLock { () -> [ClusterSAID] in
            deferred[child.reference] = nil
            return lines.removeValue(forKey: child.reference)?.ids ?? []
        }
        let service = self.service
        Task { for id in ids { await service.delete(id) } }
    }

    /// Runs `body` on the cluster's side and waits for it (bounded by `waitLimit`).
    private func wait<T>(_ reference: ChildSAReference, _ body: @escaping @Sendable () async throws -> T) throws -> T {
        guard !service.loop.inEventLoop else {
            throw ClusterChildSAError(description: "install called on the cluster service's own event loop (it would wait for itself)")
        }
        let outcome = LockedResult<T>()
        let done = DispatchSemaphore(value: 0)
        Task {
            do { outcome.set(.success(try await body())) } catch { outcome.set(.failure(error)) }
            done.signal()
        }
        guard done.wait(timeout: .now() + .milliseconds(waitLimit.milliseconds)) == .success else {
            throw ClusterChildSAError(description: "\(reference): the targets did not answer within \(waitLimit)")
        }
        switch outcome.value {
        case .success(let value): return value
        case .failure(let error): throw ClusterChildSAError(description: "\(reference): \(error)")
        case nil: throw ClusterChildSAError(description: "\(reference): no outcome")
        }
    }

    private final class LockedResult<T>: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: Result<T, Error>?
        func set(_ result: Result<T, Error>) { lock.withLock { stored = result } }
        var value: Result<T, Error>? { lock.withLock { stored } }
    }
}

/// IKE's view of a CHILD_SA (`ChildSAInstallation`) → the cluster's kernel SA descriptions.
public enum ClusterChildSA {
    /// The inbound SA (peer → DVIPA, `ids[0]`) and the outbound one (DVIPA → peer, `ids[1]`).
    public static func descriptions(of child: ChildSAInstallation, ids: [ClusterSAID], outboundOwner: NodeID?,
                                    outboundMode: OutboundMode) throws -> [SADescription] {
        guard ids.count == 2 else { throw ClusterChildSAError(description: "need two SA ids") }
        let mode: SAMode = child.mode == .tunnel ? .tunnel : .transport
        var lifetimes = SALifetimes()
        if child.lifetime.softBytes != 0 { lifetimes.softByteLimit = child.lifetime.softBytes }
        if child.lifetime.hardBytes != 0 { lifetimes.hardByteLimit = child.lifetime.hardBytes }
        lifetimes.softAddExpiresSeconds = child.lifetime.softSeconds
        lifetimes.hardAddExpiresSeconds = child.lifetime.hardSeconds
        var inboundSelectors: [SASelector] = [], outboundSelectors: [SASelector] = []
        for local in child.localTrafficSelectors {
            for remote in child.remoteTrafficSelectors where local.startAddress.count == remote.startAddress.count {
                let (localAddress, localLength) = try prefix(local)
                let (remoteAddress, remoteLength) = try prefix(remote)
                let proto = local.ipProtocolID
                inboundSelectors.append(SASelector(source: remoteAddress, sourcePrefixLength: remoteLength,
                                                   destination: localAddress, destinationPrefixLength: localLength, ipProtocol: proto))
                outboundSelectors.append(SASelector(source: localAddress, sourcePrefixLength: localLength,
                                                    destination: remoteAddress, destinationPrefixLength: remoteLength, ipProtocol: proto))
            }
        }
        let sequencing: SequencingMode
        switch outboundMode {
        case .perTarget:
            guard let outboundOwner else { throw ClusterChildSAError(description: "no live target to own the outbound SA") }
            sequencing = .perTarget(owner: outboundOwner)
        case .shared(let blockSize, _):
            sequencing = .shared(blockSize: blockSize)
        }
        func description(_ sa: ChildSAParameters, id: ClusterSAID, inbound: Bool) throws -> SADescription {
            let encapsulation = child.udpEncapsulation.map {
                inbound ? Cluster.UDPEncapsulation(sourcePort: $0.destinationPort, destinationPort: $0.sourcePort)
                        : Cluster.UDPEncapsulation(sourcePort: $0.sourcePort, destinationPort: $0.destinationPort)
            }
            return SADescription(
                saID: id, epoch: ClusterEpoch(rawValue: 1), spi: sa.spi, direction: inbound ? .inbound : .outbound,
                source: try IPAddress(bytes: sa.source), destination: try IPAddress(bytes: sa.destination),
                ipsecProtocol: .esp, mode: mode, algorithms: try algorithms(sa),
                extendedSequenceNumbers: child.extendedSequenceNumbers, replayWindow: child.replayWindow,
                lifetimes: lifetimes, selectors: inbound ? inboundSelectors : outboundSelectors,
                encapsulation: encapsulation, reqid: child.reqid, sequencing: inbound ? .notApplicable : sequencing)
        }
        return [try description(child.inbound, id: ids[0], inbound: true),
                try description(child.outbound, id: ids[1], inbound: false)]
    }

    /// Linux crypto names for IKE's transforms (as iproute2 and strongSwan name them).
    static func algorithms(_ sa: ChildSAParameters) throws -> [SAAlgorithm] {
        let key = sa.encryptionKey
        switch sa.encryption {
        case .aesGCM16:
            return [SAAlgorithm(kind: .aead, name: "rfc4106(gcm(aes))", key: key, bits: 128)]
        case .chacha20Poly1305:
            return [SAAlgorithm(kind: .aead, name: "rfc7539esp(chacha20,poly1305)", key: key, bits: 128)]
        case .aesCBC:
            let integrity: (String, UInt16)
            switch sa.integrity {
            case .hmacSHA2_256_128: integrity = ("hmac(sha256)", 128)
            case .hmacSHA2_384_192: integrity = ("hmac(sha384)", 192)
            case .hmacSHA2_512_256: integrity = ("hmac(sha512)", 256)
            default: throw ClusterChildSAError(description: "integrity \(sa.integrity) is not supported on the targets")
            }
            return [SAAlgorithm(kind: .encryption, name: "cbc(aes)", key: key, bits: 0),
                    SAAlgorithm(kind: .integrity, name: integrity.0, key: sa.integrityKey, bits: integrity.1)]
        default:
            throw ClusterChildSAError(description: "encryption \(sa.encryption) is not supported on the targets")
        }
    }

    /// The largest prefix covering the selector's range (selectors from configuration are prefixes).
    static func prefix(_ selector: TrafficSelector) throws -> (IPAddress, UInt8) {
        let start = selector.startAddress, end = selector.endAddress
        guard start.count == end.count else { throw ClusterChildSAError(description: "selector \(selector) mixes families") }
        var length = 0
        while length < start.count * 8 {
            let byte = length / 8, bit = UInt8(0x80) >> UInt8(length % 8)
            if start[byte] & bit != end[byte] & bit { break }
            length += 1
        }
        return (try IPAddress(bytes: start), UInt8(length))
    }
}
