// A handle on a running IKEDaemonService for another part of the process (the cluster's SA
// authority): ask for one more CHILD_SA like an existing one, or a CHILD_SA rekey now. Safe
// from any thread; each command hops onto the loop of the IKE worker holding the CHILD_SA. Before the daemon runs,
// commands are dropped (logged by the caller if it cares).
import Foundation
import IKEv2
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

    /// HA takeover (IKEGateway+Adopt.swift): every worker forgets the IKE_SAs it holds
    /// without a word to their peers, then each record goes to the worker that owns its SPI
    /// and is adopted there. Returns the records adopted and, for each refused one, our SPI
    /// and why. Nil when the daemon is not running.
    public func adopt(_ records: [IKESARecord]) async -> (adopted: [IKESARecord], refused: [(spi: UInt64, reason: String)])? {
        guard let workers = running else { return nil }
        var byWorker: [Int: [IKESARecord]] = [:]
        for record in records {
            let index = record.isOriginalInitiator ? IKEShardRouting.initiatorWorker
                : workers.routing.worker(forInitiatorSPI: record.initiatorSPI)
            byWorker[index, default: []].append(record)
        }
        var adopted: [IKESARecord] = []
        var refused: [(spi: UInt64, reason: String)] = []
        for (index, core) in workers.cores.enumerated() {
            let mine = byWorker[index] ?? []
            let outcome = try? await core.loop.submit { () -> ([IKESARecord], [(spi: UInt64, reason: String)]) in
                core.gateway.forgetAllSilently()
                core.persistenceState = PersistenceState()
                var done: [IKESARecord] = [], failed: [(spi: UInt64, reason: String)] = []
                for record in mine {
                    do {
                        let actions = try core.gateway.adopt(record, wallOffset: core.wallOffset, now: DaemonCore.now)
                        core.persistenceState.requested[record.localSPI] = record
                        core.performNow(actions)
                        done.append(record)
                    } catch {
                        failed.append((record.localSPI, "\(error)"))
                    }
                }
                return (done, failed)
            }.get()
            adopted += outcome?.0 ?? []
            refused += outcome?.1 ?? mine.map { ($0.localSPI, "worker \(index) did not answer") }
        }
        return (adopted, refused)
    }

    /// HA step-down: every worker forgets its IKE_SAs silently (a later takeover adopts the
    /// cluster's current ones from etcd).
    public func forgetAll() {
        guard let workers = running else { return }
        for core in workers.cores {
            core.loop.execute {
                core.gateway.forgetAllSilently()
                core.persistenceState = PersistenceState()
            }
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
