// `vipsec routing` with `cluster { inbound { } }`: the inbound distributor (InboundNode)
// starts after the cluster service, is fed by it (members and inbound SAs, through the
// mailbox), shows in `vipsec status` (its entries in `vipsec status --connections`, over the
// control socket) and in the SIGUSR1 log (IKEDaemonService.extraStatusLines), and stops before it.
import ArgumentParser
import ClusterNode
import IKEDaemon
import Inbound
import InboundNode
import Logging

extension RoutingCommand {
    static func startInbound(_ inbound: InboundSettings, _ settings: ClusterSettings, service: ClusterService,
                             logger: Logger) throws -> InboundHandle {
        let distributor: InboundDistributor
        do {
            var configuration = InboundDistributor.Configuration(dvipa: settings.dvipa, queues: inbound.queues,
                                                                 maximumFlows: inbound.maximumFlows)
            if inbound.mode == .encapsulated { configuration.greLocal = inbound.greSource ?? settings.listenHost }
            configuration.verification = ICVVerification(rawValue: inbound.verify.rawValue) ?? .never
            distributor = try InboundDistributor(configuration: configuration, logger: logger)
            try distributor.start()
        } catch {
            throw ValidationError("inbound: \(error)")
        }
        let mailbox = distributor.mailbox
        service.setInbound(observer: { mailbox.post($0) }, replay: { mailbox.post($0) }, flowEnds: { mailbox.post($0) },
                           heldFlows: { mailbox.post($0) }, status: { distributor.currentStatus })
        return InboundHandle(distributor: distributor)
    }
}

/// The running distributor; `statusLines` feeds the IKE daemon's SIGUSR1 log.
final class InboundHandle: @unchecked Sendable {
    let distributor: InboundDistributor

    init(distributor: InboundDistributor) {
        self.distributor = distributor
    }

    var statusLines: @Sendable () -> [String] {
        let distributor = self.distributor
        return { [distributor.currentStatus?.counterLine ?? "inbound: starting"] }
    }

    /// `vipsec status --connections` (the control socket): the table in bounded pieces.
    var connectionLister: ConnectionLister {
        let distributor = self.distributor
        return { limit in distributor.listConnections(limit: limit)?.list(limit: limit) }
    }

    func stop() async {
        await distributor.stop()
    }
}
