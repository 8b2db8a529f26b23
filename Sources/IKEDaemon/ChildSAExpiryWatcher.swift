// The standalone gateway's ear on the kernel: XFRM_MSG_EXPIRE events (`ip xfrm monitor
// expire`) read on a thread of their own (netlink reads block) and handed to the daemon's
// event loop, where ChildSAExpiryPolicy decides and the gateway rekeys or deletes.
import Foundation
import NIOCore
import XFRM

/// Watches expire events while the daemon runs.
final class ChildSAExpiryWatcher: @unchecked Sendable {
    private let monitor: XFRMEventMonitor
    private let lock = NSLock()
    private var running = true

    /// Subscribes to the expire group; each event runs `core.childSAExpired` on its loop.
    init(workers: IKEWorkerSet) throws {
        monitor = try XFRMEventMonitor(groups: [.expire])
        let thread = Thread { [self] in
            while lock.withLock({ running }) {
                guard let events = try? monitor.next(timeout: .milliseconds(500)) else { continue }
                for case .expire(let info, let hard) in events {
                    let event = ChildSAExpireEvent(destination: info.id.destination.bytes, spi: info.id.spi, hard: hard,
                                                   bytes: info.current.bytes, packets: info.current.packets)
                    // The worker holding the CHILD_SA acts on it; when none does, the first
                    // counts the event as not ours. This thread (not an event loop: netlink
                    // reads block) waits for the workers' answers; they never wait for it.
                    let holders = workers.cores.map { core in core.loop.submit { core.holdsChildSA(of: event) } }
                    let owner = workers.cores.indices.first { (try? holders[$0].wait()) == true } ?? 0
                    let core = workers.cores[owner]
                    core.loop.execute {
                        guard !core.shuttingDown else { return }
                        core.childSAExpired(event)
                    }
                }
            }
        }
        thread.name = "vipsec-ike-expire"
        thread.start()
    }

    /// Stops the thread (within half a second).
    func stop() {
        lock.withLock { running = false }
    }
}

extension DaemonCore {
    func holdsChildSA(of event: ChildSAExpireEvent) -> Bool {
        gateway.childSA(namedBy: event) != nil
    }

    /// One expire event: decide, log, act (a busy IKE_SA gets the Delete a little later).
    func childSAExpired(_ event: ChildSAExpireEvent) {
        let owner = gateway.childSA(namedBy: event)
        let decision = expiry.decide(event, owner: owner, present: { gateway.childIndex.contains(inboundSPI: $0) })
        let sa = "SA 0x\(String(event.spi, radix: 16)) (\(event.hard ? "hard" : "soft"), \(event.bytes) bytes, \(event.packets) packets)"
        switch decision {
        case .notOurs:
            logger.debug("expire of \(sa): not ours, ignored")
            return
        case .duplicate:
            logger.debug("expire of \(sa): its CHILD_SA is already being rekeyed or deleted")
            return
        case .rekey(_, _, let cause):
            logger.info("expire of \(sa): rekey by \(cause)")
        case .delete:
            logger.info("expire of \(sa): the kernel removed it, deleting the CHILD_SA")
        }
        retryChildSAExpiry(decision, tries: 50)
    }

    func retryChildSAExpiry(_ decision: ChildSAExpireDecision, tries: Int) {
        let (actions, retry) = gateway.childSAExpired(decision, now: Self.now)
        perform(actions)
        guard retry else { return }
        guard tries > 0 else {
            logger.warning("could not delete the CHILD_SA (\(decision)) with the peer: its IKE_SA stayed busy")
            return
        }
        loop.scheduleTask(in: .milliseconds(200)) { [self] in
            guard !shuttingDown else { return }
            retryChildSAExpiry(decision, tries: tries - 1)
        }
    }
}
