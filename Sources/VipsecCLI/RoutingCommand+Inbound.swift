// `vipsec routing` with `cluster { inbound { } }`: the inbound distributor (InboundNode)
// starts after the cluster service, is fed by it (members and inbound SAs, through the
// mailbox), shows in `vipsec status` and in the SIGUSR1 log, and stops before it.
import ArgumentParser
import ClusterNode
import Dispatch
import Glibc
import IKEDaemon
import InboundNode
import Logging

extension RoutingCommand {
    static func startInbound(_ inbound: InboundSettings, _ settings: ClusterSettings, service: ClusterService,
                             logger: Logger) throws -> InboundHandle {
        let distributor: InboundDistributor
        do {
            distributor = try InboundDistributor(
                configuration: .init(dvipa: settings.dvipa, queue: inbound.queue, maximumFlows: inbound.maximumFlows),
                logger: logger)
            try distributor.start()
        } catch {
            throw ValidationError("inbound: \(error)")
        }
        let mailbox = distributor.mailbox
        service.setInbound(observer: { mailbox.post($0) }, status: { mailbox.status })
        // SIGUSR1: one more line beside the IKE daemon's counters.
        signal(SIGUSR1, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGUSR1, queue: DispatchQueue(label: "vipsec.inbound.signals"))
        source.setEventHandler {
            logger.info("\(mailbox.status?.counterLine ?? "inbound: starting")")
        }
        source.resume()
        return InboundHandle(distributor: distributor, signalSource: source)
    }
}

/// The running distributor and its SIGUSR1 source.
final class InboundHandle {
    let distributor: InboundDistributor
    let signalSource: DispatchSourceSignal

    init(distributor: InboundDistributor, signalSource: DispatchSourceSignal) {
        self.distributor = distributor
        self.signalSource = signalSource
    }

    func stop() {
        signalSource.cancel()
        distributor.stop()
    }
}
