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
