// A handle on a running IKEDaemonService for another part of the process (the cluster's SA
// authority): ask for one more CHILD_SA like an existing one, or a CHILD_SA rekey now. Safe
// from any thread; each command hops onto the loop of the IKE worker holding the CHILD_SA. Before the daemon runs,
// commands are dropped (logged by the caller if it cares).
import Foundation
import NIOCore

/// Commands into a running IKE daemon.
public final class IKEDaemonControl: @unchecked Sendable {
    private let lock = NSLock()
    private var workers: IKEWorkerSet?

    public init() {}

    func attach(_ workers: IKEWorkerSet?) { lock.withLock { self.workers = workers } }

    /// The running daemon's workers; nil before it runs and after it stopped.
    var running: IKEWorkerSet? { lock.withLock { workers } }

    /// CREATE_CHILD_SA for one more CHILD_SA with the selectors of CHILD_SA line `reqid`
    /// (per-target outbound SAs). Returns false when the daemon is not running.
    @discardableResult
    public func createChildSA(reqid: UInt32) -> Bool {
        with(holding: { $0.gateway.childSA(reqid: reqid) != nil }) { core in
            core.perform(core.gateway.createChildSA(reqid: reqid, now: DaemonCore.now))
        }
    }

    /// Rekeys (CREATE_CHILD_SA with REKEY_SA) the CHILD_SA whose inbound SPI is `inboundSPI`.
    @discardableResult
    public func rekeyChildSA(inboundSPI: UInt32) -> Bool {
        with(holding: { $0.gateway.ikeSA(holdingChild: inboundSPI) != nil }) { core in
            core.perform(core.gateway.rekeyChildSA(inboundSPI: inboundSPI, now: DaemonCore.now))
        }
    }

    /// Deletes the CHILD_SA whose inbound SPI is `inboundSPI` with the peer (INFORMATIONAL
    /// Delete; retried while its IKE_SA is busy), e.g. a per-target outbound SA whose owner
    /// left the cluster: the SAs go from the targets' kernels and the peer's.
    @discardableResult
    public func deleteChildSA(inboundSPI: UInt32) -> Bool {
        with(holding: { $0.gateway.ikeSA(holdingChild: inboundSPI) != nil }) { core in
            guard let ikeSA = core.gateway.ikeSA(holdingChild: inboundSPI) else {
                core.logger.info("delete of CHILD_SA 0x\(String(inboundSPI, radix: 16)) asked: no IKE_SA holds it")
                return
            }
            core.retryChildSAExpiry(.delete(ikeSA: ikeSA, inboundSPI: inboundSPI), tries: 50)
        }
    }

    /// Runs `body` on the worker whose gateway `holds` the CHILD_SA (each on its own loop);
    /// with one worker, always on it (its gateway logs a CHILD_SA it does not find).
    private func with(holding holds: @escaping (DaemonCore) -> Bool, _ body: @escaping (DaemonCore) -> Void) -> Bool {
        guard let workers = lock.withLock({ self.workers }) else { return false }
        for core in workers.cores {
            core.loop.execute {
                guard !core.shuttingDown, workers.cores.count == 1 || holds(core) else { return }
                body(core)
            }
        }
        return true
    }
}
