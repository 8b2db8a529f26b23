// `vipsec routing` with `vipsec { cluster { ha { } } }` (issue 19, first phase): this node
// runs the election (HACoordination/HAController over etcd) and serves only while elected.
//
// Active: the DVIPA on `ha.interface` with a valid lifetime that each acknowledged keepalive
// renews (so a killed or frozen node loses it by itself before its lease can expire), three
// gratuitous ARPs, IKE answered, agents accepted. Standby or past its serving deadline: the
// DVIPA removed, IKE datagrams dropped unread, agent connections refused and closed.
// With `ha.seal_key` the IKE_SAs and their cluster SAs are kept in etcd and a new active
// continues them (RoutingCommand+Takeover.swift); without it a takeover renegotiates.
// Not yet: IPv6 neighbour advertisements.
import Cluster
import ClusterNode
import Dispatch
import HACoordination
import HAElection
import IKEDaemon
import Logging
import NIOConcurrencyHelpers

final class HARuntime: Sendable {
    let controller: HAController
    let client: EtcdClient
    /// With `ha.seal_key`: the IKE state in etcd (RoutingCommand+Takeover.swift); nil: none.
    let store: TakeoverStore?
    /// False from winning until the takeover adopted the recorded state: IKE and agents wait.
    let ready: NIOLockedValueBox<Bool>
    private let runner: Task<Void, Never>

    private init(controller: HAController, client: EtcdClient, store: TakeoverStore?, ready: NIOLockedValueBox<Bool>) {
        self.controller = controller
        self.client = client
        self.store = store
        self.ready = ready
        runner = Task { await controller.run() }
    }

    /// Whether this node may answer IKE and admit agents now.
    func serving() -> Bool { controller.maySend() && ready.withLockedValue { $0 } }

    /// Starts the election for this node. Removes a DVIPA a previous incarnation left on the
    /// interface first: nothing serves before it has won.
    static func start(_ ha: HASettings, cluster: ClusterSettings, service: ClusterService, installer: ClusterChildSAInstaller,
                      control: IKEDaemonControl, logger: Logger) throws -> HARuntime {
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
        let store: TakeoverStore?
        do {
            // A client of its own: a slow record write never holds up a lease keepalive (which
            // decides whether this node may serve at all), and it may take longer.
            store = try ha.sealKeyPath.map {
                let sealer = try RecordSealer(keyFile: $0)
                let writer = try EtcdClient(.init(endpoints: ha.endpoints,
                                                  tls: EtcdTLSFiles(caPath: ha.caPath, certificatePath: ha.certificatePath, keyPath: ha.keyPath),
                                                  requestTimeout: .milliseconds(Int64(ha.lease * 1000 * 2 / 3))))
                return TakeoverStore(client: writer, sealer: sealer, prefix: ha.prefix, service: service, logger: logger)
            }
        } catch {
            throw ValidationErrorText("ha.seal_key: \(error)")
        }
        let ready = NIOLockedValueBox(store == nil)
        let readySince = NIOLockedValueBox<Int64?>(nil)
        // Inbound replay marks (claim 22) ride on the record writer's client and term.
        let marks = store.map { store in
            ReplayMarkStore(client: store.client, prefix: ha.prefix, term: { store.term.withLockedValue { $0 } }, logger: logger)
        }
        if let marks {
            service.replayMarkRecorder = { change in
                switch change {
                case .record(let id, let mark): marks.record(id.rawValue, mark: mark)
                case .forget(let id): marks.forget(id.rawValue)
                }
            }
        }
        let takeover = store.flatMap { store in
            marks.map { Takeover(store: store, marks: $0, service: service, installer: installer, control: control, logger: logger) }
        }
        let announcer = DispatchQueue(label: "vipsec.ha.announce")
        // Opened now: once the IKE sockets are bound only CAP_NET_ADMIN is left.
        let arp: GratuitousARP.Sender?
        do { arp = try GratuitousARP.Sender() } catch {
            logger.warning("HA: no gratuitous ARP (\(error)): neighbours learn the new active when their ARP entry expires")
            arp = nil
        }
        let hooks = HAController.Hooks(
            becomeActive: { term in
                if let takeover {
                    // IKE and agents wait until the recorded state is adopted (the same epoch,
                    // the IKE_SAs, the cluster SAs); then they are served as before the takeover.
                    ready.withLockedValue { $0 = false }
                    takeover.store.term.withLockedValue { $0 = term }
                    Task {
                        for attempt in 1...3 {
                            do {
                                try await takeover.run(term: term)
                                break
                            } catch {
                                let last = attempt == 3 ? "; serving in a fresh epoch without the recorded state (peers renegotiate)" : ""
                                logger.error("HA: term \(term): takeover attempt \(attempt) failed: \(error)\(last)")
                                if attempt == 3 {
                                    var generator = SystemRandomNumberGenerator()
                                    try? await service.adopt(epoch: .fresh(using: &generator), sas: [])
                                } else {
                                    try? await Task.sleep(for: .milliseconds(200))
                                }
                            }
                        }
                        ready.withLockedValue { $0 = true }
                        readySince.withLockedValue { $0 = Int64(HAController.now.nanoseconds / 1_000_000) }
                    }
                }
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
                if let takeover {
                    ready.withLockedValue { $0 = false }
                    takeover.store.term.withLockedValue { $0 = nil }
                    control.forgetAll()   // stale now: a later term adopts what etcd holds then
                }
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
        service.admission = { controller.maySend() && ready.withLockedValue { $0 } }
        // Every frame to an agent carries the term this node was admitted under (etcd revisions
        // are positive, so an active's term is never `.none`); agents refuse older terms.
        service.term = { ClusterTerm(UInt64(clamping: controller.status.term ?? 0)) }
        // An agent that follows a newer term than ours shows that another node won: step down
        // now (reason `deposed`), off the cluster loop, rather than wait for the next leader read.
        service.deposed = { term in Task { controller.newerTermSeen(Int64(clamping: term.rawValue)) } }
        service.haStatusProvider = {
            let status = controller.status
            return HAStatus(role: status.role.rawValue, term: status.term, leader: status.leader, leaderTerm: status.leaderTerm,
                            etcd: status.etcdReachable ? "reachable" : "unreachable",
                            servingMillisecondsLeft: status.servingMillisecondsLeft, stepDowns: status.stepDowns,
                            roleSinceMonotonicMilliseconds: status.roleSinceMonotonicMilliseconds,
                            takeover: store.map { store in
                                let c = store.counters.withLockedValue { $0 }
                                return HAStatus.TakeoverStatus(ready: ready.withLockedValue { $0 }, puts: c.puts, deletes: c.deletes,
                                                               fenced: c.fenced, failed: c.failed, adopted: c.adopted, refused: c.refused,
                                                               readySinceMonotonicMilliseconds: readySince.withLockedValue { $0 },
                                                               replayMarks: marks.map { marks in
                                                                   let m = marks.counters
                                                                   return .init(written: m.puts, deleted: m.deletes, kept: m.kept, fenced: m.fenced,
                                                                                failed: m.failed, adopted: m.adopted, refused: m.refused)
                                                               })
                            })
        }
        logger.info("HA: node \(cluster.nodeID), etcd \(ha.endpoints.joined(separator: ",")), prefix \(ha.prefix), lease \(ha.lease)s, DVIPA \(dvipa) on \(interface) while active")
        return HARuntime(controller: controller, client: client, store: store, ready: ready)
    }

    /// SIGTERM: stop serving (DVIPA removed) and revoke the lease, within `bound`.
    func stop(bound: Duration) async {
        await controller.stop(bound: bound)
        runner.cancel()
        await client.shutdown()
        await store?.client.shutdown()
    }
}

struct ValidationErrorText: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
