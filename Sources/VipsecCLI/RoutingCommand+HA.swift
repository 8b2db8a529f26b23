// `vipsec routing` with `vipsec { cluster { ha { } } }` (issue 19, first phase): this node
// runs the election (HACoordination/HAController over etcd) and serves only while elected.
//
// Active: the DVIPA on `ha.interface` with a valid lifetime that each acknowledged keepalive
// renews (so a killed or frozen node loses it by itself before its lease can expire), three
// gratuitous ARPs, IKE answered, agents accepted. Standby or past its serving deadline: the
// DVIPA removed, IKE datagrams dropped unread, agent connections refused and closed.
// Not yet: IKE_SA and CHILD_SA state in etcd (a takeover renegotiates), the agents' list of
// routing nodes, IPv6 neighbour advertisements.
import Cluster
import ClusterNode
import Dispatch
import HACoordination
import HAElection
import IKEDaemon
import Logging

final class HARuntime: Sendable {
    let controller: HAController
    let client: EtcdClient
    private let runner: Task<Void, Never>

    private init(controller: HAController, client: EtcdClient) {
        self.controller = controller
        self.client = client
        runner = Task { await controller.run() }
    }

    /// Starts the election for this node. Removes a DVIPA a previous incarnation left on the
    /// interface first: nothing serves before it has won.
    static func start(_ ha: HASettings, cluster: ClusterSettings, service: ClusterService, logger: Logger) throws -> HARuntime {
        guard let bytes = IPPrefix.parseAddress(cluster.dvipa), let dvipa = try? IPAddress(bytes: bytes) else {
            throw ValidationErrorText("cluster.dvipa '\(cluster.dvipa)' is not an IP address")
        }
        let prefixLength: UInt8 = dvipa.isIPv4 ? 32 : 128
        let interface = ha.interface
        do {
            try InterfaceAddress.remove(dvipa, prefixLength: prefixLength, interface: interface)
        } catch {
            throw ValidationErrorText("ha: cannot remove a left-over DVIPA \(dvipa) from \(interface): \(error)")
        }
        let client = try EtcdClient(.init(endpoints: ha.endpoints,
                                          tls: EtcdTLSFiles(caPath: ha.caPath, certificatePath: ha.certificatePath, keyPath: ha.keyPath),
                                          requestTimeout: .milliseconds(Int64(ha.lease * 1000 / 3))))
        let announcer = DispatchQueue(label: "vipsec.ha.announce")
        // Opened now: once the IKE sockets are bound only CAP_NET_ADMIN is left.
        let arp: GratuitousARP.Sender?
        do { arp = try GratuitousARP.Sender() } catch {
            logger.warning("HA: no gratuitous ARP (\(error)): neighbours learn the new active when their ARP entry expires")
            arp = nil
        }
        let hooks = HAController.Hooks(
            becomeActive: { term in
                do {
                    // One second until the first refresh (which follows at once) sets the real lifetime.
                    try InterfaceAddress.add(dvipa, prefixLength: prefixLength, interface: interface, validLifetime: 1)
                    logger.notice("HA: term \(term): DVIPA \(dvipa) on \(interface)")
                } catch {
                    logger.error("HA: term \(term): cannot add the DVIPA \(dvipa) to \(interface): \(error)")
                }
                // RFC 5227-style announcements at 0, 0.2 and 1 s.
                for delay in [0.0, 0.2, 1.0] {
                    announcer.asyncAfter(deadline: .now() + delay) {
                        do { try arp?.send(dvipa, interface: interface) } catch {
                            logger.warning("HA: gratuitous ARP for \(dvipa) on \(interface): \(error)")
                        }
                    }
                }
            },
            stopServing: { term, reason in
                do {
                    try InterfaceAddress.remove(dvipa, prefixLength: prefixLength, interface: interface)
                } catch {
                    logger.error("HA: cannot remove the DVIPA \(dvipa) from \(interface): \(error) (its lifetime ends it)")
                }
                service.closeAgentConnections()
                logger.warning("HA: term \(term) ended (\(reason.rawValue)): DVIPA removed, IKE and agents refused")
            },
            refreshAddressLifetime: { seconds in
                do {
                    try InterfaceAddress.add(dvipa, prefixLength: prefixLength, interface: interface, validLifetime: seconds)
                } catch {
                    logger.warning("HA: cannot renew the DVIPA's lifetime: \(error)")
                }
            })
        let configuration = ElectionConfiguration(leaseTTL: .milliseconds(Int64(ha.lease * 1000)))
        let controller = HAController(node: cluster.nodeID, prefix: ha.prefix, client: client, configuration: configuration,
                                      hooks: hooks, logger: logger)
        service.admission = { controller.maySend() }
        service.haStatusProvider = {
            let status = controller.status
            return HAStatus(role: status.role.rawValue, term: status.term, leader: status.leader, leaderTerm: status.leaderTerm,
                            etcd: status.etcdReachable ? "reachable" : "unreachable",
                            servingMillisecondsLeft: status.servingMillisecondsLeft, stepDowns: status.stepDowns,
                            roleSinceMonotonicMilliseconds: status.roleSinceMonotonicMilliseconds)
        }
        logger.info("HA: node \(cluster.nodeID), etcd \(ha.endpoints.joined(separator: ",")), prefix \(ha.prefix), lease \(ha.lease)s, DVIPA \(dvipa) on \(interface) while active")
        return HARuntime(controller: controller, client: client)
    }

    /// SIGTERM: stop serving (DVIPA removed) and revoke the lease, within `bound`.
    func stop(bound: Duration) async {
        await controller.stop(bound: bound)
        runner.cancel()
        await client.shutdown()
    }
}

struct ValidationErrorText: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
