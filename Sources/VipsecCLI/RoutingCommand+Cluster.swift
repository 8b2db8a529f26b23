// `vipsec routing` with `vipsec { cluster { } }`: the IKE daemon hands its CHILD_SAs to the
// cluster (ClusterChildSAInstaller: the response goes out once the targets acknowledged),
// and the SA authority drives the daemon back through IKEDaemonControl: one extra CHILD_SA
// per target (per-target outbound SAs), and rekeys decided from the targets' lifesize reports.
import ArgumentParser
import Cluster
import ClusterNode
import IKEDaemon
import Inbound
import InboundNode
import Logging

extension RoutingCommand {
    func runClustered(_ daemonConfig: DaemonConfig, _ settings: ClusterSettings, hangups: HangupSignal, logger: Logger) async throws {
        let service = try Self.makeClusterService(settings, logger: logger)
        let control = IKEDaemonControl()
        let installer = ClusterChildSAInstaller(service: service)
        service.setHooks(.init(
            negotiatePerTargetSA: { owner, reqid in
                logger.info("per-target outbound SA for \(owner) (CHILD_SA reqid \(reqid)): CREATE_CHILD_SA")
                if !control.createChildSA(reqid: reqid) { logger.warning("IKE daemon not running: no SA for \(owner)") }
            },
            rekey: { saID in
                guard let child = installer.childSA(of: saID) else {
                    logger.warning("rekey of \(saID) asked, but no CHILD_SA holds it")
                    return
                }
                logger.info("lifesize: rekeying CHILD_SA \(child) (\(saID))")
                control.rekeyChildSA(inboundSPI: child.inboundSPI)
            },
            deleteChildSA: { saID in
                // The owner of a per-target outbound SA left (or restarted with an empty
                // kernel): delete its CHILD_SA with the peer; a new one is negotiated when it
                // (re)joins.
                guard let child = installer.childSA(of: saID) else {
                    logger.info("\(saID): its owner left; no CHILD_SA holds it any more")
                    return
                }
                logger.info("\(saID): its owner left: deleting CHILD_SA \(child) with the peer")
                if !control.deleteChildSA(inboundSPI: child.inboundSPI) { logger.warning("IKE daemon not running: \(saID) not deleted") }
            }))
        // HA (issue 19): the election gates IKE, agents and the DVIPA (RoutingCommand+HA.swift).
        let ha = try settings.ha.map { try HARuntime.start($0, cluster: settings, service: service, installer: installer, control: control, logger: logger) }
        try await withCleanup {
            do {
                let port = try await service.start()
                logger.info("cluster channel on \(settings.listenHost):\(port), DVIPA \(settings.dvipa)")
            } catch {
                throw ValidationError("cluster: \(error)")
            }
            let bound = Duration.milliseconds(Int(stopTimeout * 1000))
            try await withCleanup {
                try await serveClustered(daemonConfig, settings, service: service, installer: installer, control: control, ha: ha,
                                         hangups: hangups, logger: logger)
            } cleanup: {
                // Bounded by `bound` and by a second signal.
                await service.stop(removingSAs: true, bound: bound)
                logger.info("cluster side stopped: targets told to delete their SAs, status socket removed")
            }
        } cleanup: {
            if let ha { await ha.stop(bound: .seconds(1)) }
        }
    }

    /// The cluster channel is up: the inbound distributor, the operator's side (its control
    /// socket lists the distributor's connection table) and the IKE daemon, until it stops.
    private func serveClustered(_ daemonConfig: DaemonConfig, _ settings: ClusterSettings, service: ClusterService,
                                installer: ClusterChildSAInstaller, control: IKEDaemonControl, ha: HARuntime?,
                                hangups: HangupSignal, logger: Logger) async throws {
        let inbound = try settings.inbound.map { try Self.startInbound($0, settings, service: service, logger: logger) }
        try await withCleanup {
            let operations = try await RoutingOperations.start(
                daemonConfig, control: control, enrich: RoutingOperations.clusterHolders(service),
                cluster: RoutingOperations.clusterMetrics(service, installer: installer),
                connections: inbound?.connectionLister, logger: logger)
            try await withCleanup {
                let daemon = IKEDaemonService(config: daemonConfig, installer: installer, logger: logger, control: control,
                                              onStopSignal: { count in
                                                  if count == 1 {
                                                      operations.stopping(); service.abortPendingInstalls()
                                                      // HA: stop serving and revoke the lease now, so a standby wins at once.
                                                      if let ha { Task { await ha.stop(bound: .seconds(1)) } }
                                                  } else { service.hurry() }
                                              })
                if let ha {
                    daemon.servingGate = { ha.serving() }
                    if let store = ha.store, settings.sequenceMode == .perTarget {
                        daemon.persistence = store
                    } else if ha.store != nil {
                        logger.warning("HA: shared outbound SAs (sequence blocks) are not continued across a takeover: IKE state is not recorded, a takeover renegotiates")
                    }
                }
                daemon.extraStatusLines = inbound?.statusLines
                if let distributor = inbound?.distributor {
                    // `vipsec reload` / SIGHUP with another `verify`: switched live (ReloadPlan).
                    daemon.onInboundVerify = { verify in
                        distributor.setVerification(ICVVerification(rawValue: verify.rawValue) ?? .never)
                    }
                }
                try await serve(daemon, daemonConfig, operations: operations, hangups: hangups, logger: logger)
            } cleanup: {
                await operations.stop()
            }
        } cleanup: {
            await inbound?.stop()
        }
    }

    static func makeClusterService(_ settings: ClusterSettings, logger: Logger) throws -> ClusterService {
        func duration(_ seconds: Double) -> Duration { .milliseconds(Int((seconds * 1000).rounded())) }
        let mode: OutboundMode = settings.sequenceMode == .perTarget
            ? .perTarget : .shared(blockSize: settings.blockSize, peerReplayWindow: settings.replayWindow)
        // Encapsulated inbound mode: the Welcome tells each agent to decapsulate GRE from the
        // GRE source (`gre_source`, or `listen`'s address).
        var greSource: IPAddress?
        if let inbound = settings.inbound, inbound.mode == .encapsulated {
            let source = inbound.greSource ?? settings.listenHost
            guard let bytes = IPPrefix.parseAddress(source), let address = try? IPAddress(bytes: bytes) else {
                throw ValidationError("cluster: GRE source \(source) is not an address")
            }
            greSource = address
        }
        let authority = SAAuthority.Configuration(
            membership: MembershipConfiguration(heartbeatInterval: duration(settings.heartbeatInterval),
                                                failureTimeout: duration(settings.memberTimeout), greSource: greSource),
            installTimeout: duration(settings.installTimeout), outboundMode: mode,
            lifesize: LifesizePolicy(initialPercent: settings.lifesizeReportPercent))
        let credentials = try ClusterCredentials(certificatePath: settings.certificatePath, keyPath: settings.keyPath,
                                                 caPath: settings.caPath)
        return try ClusterService(configuration: .init(nodeID: try NodeID(settings.nodeID), listenHost: settings.listenHost,
                                                       listenPort: settings.listenPort, authority: authority,
                                                       statusSocketPath: settings.statusSocket),
                                  credentials: credentials, logger: logger)
    }
}
