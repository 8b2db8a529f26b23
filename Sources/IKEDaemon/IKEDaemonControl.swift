// A handle on a running IKEDaemonService for another part of the process (the cluster's SA
// authority): ask for one more CHILD_SA like an existing one, or a CHILD_SA rekey now. Safe
// from any thread; each command hops onto the daemon's event loop. Before the daemon runs,
// commands are dropped (logged by the caller if it cares).
import Foundation
import NIOCore

/// Commands into a running IKE daemon.
public final class IKEDaemonControl: @unchecked Sendable {
    private let lock = NSLock()
    private var core: DaemonCore?

    public init() {}

    func attach(_ core: DaemonCore?) { lock.withLock { self.core = core } }

    /// CREATE_CHILD_SA for one more CHILD_SA with the selectors of CHILD_SA line `reqid`
    /// (per-target outbound SAs). Returns false when the daemon is not running.
    @discardableResult
    public func createChildSA(reqid: UInt32) -> Bool {
        with { core in core.perform(core.gateway.createChildSA(reqid: reqid, now: DaemonCore.now)) }
    }

    /// Rekeys (CREATE_CHILD_SA with REKEY_SA) the CHILD_SA whose inbound SPI is `inboundSPI`.
    @discardableResult
    public func rekeyChildSA(inboundSPI: UInt32) -> Bool {
        with { core in core.perform(core.gateway.rekeyChildSA(inboundSPI: inboundSPI, now: DaemonCore.now)) }
    }

    private func with(_ body: @escaping (DaemonCore) -> Void) -> Bool {
        guard let core = lock.withLock({ self.core }) else { return false }
        core.loop.execute {
            guard !core.shuttingDown else { return }
            body(core)
        }
        return true
    }
}
