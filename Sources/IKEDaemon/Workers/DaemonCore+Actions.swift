// What a worker does with the IKE core's actions (GatewayAction): datagrams to send, timers
// to arm, CHILD_SA installs and peer certificate verifications started (not awaited: the
// outcome comes back as `installCompleted` / `peerVerified`), deletes, and the
// INITIAL_CONTACT that every worker must hear.
import IKEv2
import Logging
import NIOCore

extension DaemonCore {
    func perform(_ actions: [GatewayAction]) {
        if let persistence { return performPersisting(actions, persistence: persistence) }
        performNow(actions)
    }

    func performNow(_ actions: [GatewayAction]) {
        defer { publishIKESAs() }
        for action in actions {
            switch action {
            case .send(let bytes, let local, let remote):
                send(bytes, local: local, remote: remote)
            case .schedule(let spi, let timer):
                let deadline = NIODeadline.uptimeNanoseconds(UInt64(max(0, timer.deadline) * 1e9))
                loop.scheduleTask(deadline: deadline) { [self] in
                    guard !shuttingDown else { return }
                    perform(gateway.timerFired(sa: spi, timer: timer, now: Self.now))
                }
            case .scheduleCommand(let timer, let deadline):
                loop.scheduleTask(deadline: NIODeadline.uptimeNanoseconds(UInt64(max(0, deadline) * 1e9))) { [self] in
                    guard !shuttingDown else { return }
                    perform(gateway.commandTimerFired(timer, now: Self.now))
                }
            case .install(let child, let token):
                // Started, not awaited: the IKE_SA holds the response until the outcome is in.
                installer.install(child, on: loop).whenComplete { [self] result in
                    switch result {
                    case .success:
                        perform(gateway.installCompleted(token, succeeded: true, now: Self.now))
                    case .failure(let error):
                        logger.error("installing \(child.reference) failed: \(error); deleting the CHILD_SA with the peer")
                        perform(gateway.installCompleted(token, succeeded: false, now: Self.now))
                        installFailed(child)
                    }
                }
            case .verifyPeer(let verification, let spi):
                // Certificate chains are validated off the loop (swift-certificates is async);
                // the outcome re-enters here like an install's, other IKE_SAs go on meanwhile.
                let loop = self.loop
                Task { [self] in
                    let failure = await verification.run()
                    loop.execute { [self] in
                        guard !shuttingDown else { return }
                        perform(gateway.peerVerified(ikeSA: spi, verification.token, failure: failure, now: Self.now))
                    }
                }
            case .activateOutbound(let child):
                installer.activateOutbound(child, on: loop).whenFailure { [self] error in
                    logger.error("activating the outbound SA of \(child.reference) failed: \(error); deleting the CHILD_SA with the peer")
                    installFailed(child)
                }
            case .delete(let child):
                expiry.forget(inboundSPI: child.inbound.spi)
                installer.delete(child, on: loop).whenFailure { [self] error in
                    logger.error("deleting \(child.reference) failed: \(error)")
                }
            case .deleteOutbound(let child):
                installer.deleteOutbound(child, on: loop).whenFailure { [self] error in
                    logger.error("deleting the outbound SA of \(child.reference) failed: \(error)")
                }
            case .initialContact(let contact):
                // This worker ended its own; the others hold IKE_SAs of other SPIs.
                for core in workers?.cores ?? [] where core !== self {
                    core.loop.execute { [core] in
                        guard !core.shuttingDown else { return }
                        core.perform(core.gateway.initialContactReceived(contact, now: Self.now))
                    }
                }
            case .log(let line):
                logger.info("\(line)")
            }
        }
    }

    /// A CHILD_SA whose SAs are not in place is deleted with the peer (IKEGateway+Expiry.swift).
    func installFailed(_ child: ChildSAInstallation) {
        if let delete = gateway.childSAInstallFailed(child) { retryChildSAExpiry(delete, tries: 50) }
    }
}
