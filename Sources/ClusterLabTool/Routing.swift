import Cluster
import ClusterNode
import Dispatch
import Foundation
import NIOCore
import NIOPosix

/// `routing`: ClusterService with test SAs. Options:
///   --listen ADDR:PORT --cert --key --ca --status-socket PATH
///   --peer 192.0.2.1 --dvipa 192.0.2.100 --remote-ts 10.1.0.0/24 --local-ts 10.2.0.0/24
///   --inject N (inbound test SAs, per-target outbound ones follow for every member)
///   --when-members K (inject once K targets are members) --heartbeat-ms --failure-timeout-ms --install-timeout-ms
/// SIGUSR1 injects one more inbound SA. Each install prints one line with its outcome.
func runRouting(_ values: [String: String]) {
    let (host, port) = hostPort(values["listen"] ?? "0.0.0.0:4501")
    let peer = address(values["peer"] ?? "192.0.2.1")
    let dvipa = address(values["dvipa"] ?? "192.0.2.100")
    let remote = prefix(values["remote-ts"] ?? "10.1.0.0/24")
    let local = prefix(values["local-ts"] ?? "10.2.0.0/24")
    let inject = Int(values["inject"] ?? "1") ?? 1
    let whenMembers = Int(values["when-members"] ?? "1") ?? 1
    let membership = MembershipConfiguration(heartbeatInterval: .milliseconds(Int(values["heartbeat-ms"] ?? "250") ?? 250),
                                             failureTimeout: .milliseconds(Int(values["failure-timeout-ms"] ?? "2000") ?? 2000))
    let authority = SAAuthority.Configuration(membership: membership,
                                              installTimeout: .milliseconds(Int(values["install-timeout-ms"] ?? "2000") ?? 2000),
                                              outboundMode: .perTarget)
    let nodeID: NodeID
    do { nodeID = try NodeID(values["node-id"] ?? "router") } catch { fail("\(error)") }
    let service: ClusterService
    do {
        service = try ClusterService(configuration: .init(nodeID: nodeID, listenHost: host, listenPort: port, authority: authority,
                                                          statusSocketPath: values["status-socket"]),
                                     credentials: credentials(values))
    } catch {
        fail("\(error)")
    }
    let spis = SPIAllocator()

    @Sendable func selector(inbound: Bool) -> SASelector {
        inbound ? SASelector(source: remote.0, sourcePrefixLength: remote.1, destination: local.0, destinationPrefixLength: local.1)
            : SASelector(source: local.0, sourcePrefixLength: local.1, destination: remote.0, destinationPrefixLength: remote.1)
    }

    @Sendable func sa(_ id: ClusterSAID, inbound: Bool, owner: NodeID?) -> SADescription {
        SADescription(saID: id, epoch: service.epoch, spi: spis.next(), direction: inbound ? .inbound : .outbound,
                      source: inbound ? peer : dvipa, destination: inbound ? dvipa : peer,
                      algorithms: [SAAlgorithm(kind: .aead, name: "rfc4106(gcm(aes))", key: randomKey(), bits: 128)],
                      replayWindow: 32, selectors: [selector(inbound: inbound)], reqid: 1,
                      sequencing: owner.map { .perTarget(owner: $0) } ?? .notApplicable)
    }

    @Sendable func install(_ sas: [SADescription], what: String) async {
        let start = DispatchTime.now()
        do {
            try await service.install(sas)
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
            print("installed \(what) spi \(sas.map { String(format: "0x%08x", $0.spi) }.joined(separator: ",")) in \(String(format: "%.1f", elapsed)) ms")
        } catch {
            print("install of \(what) failed: \(error)")
        }
    }

    @Sendable func injectInbound() async {
        guard let id = try? await service.makeSAID() else { return print("install of an inbound SA failed: the cluster service is gone") }
        await install([sa(id, inbound: true, owner: nil)], what: "inbound \(id)")
    }

    service.setHooks(.init(negotiatePerTargetSA: { owner, _ in
        // Stands in for IKE's CREATE_CHILD_SA: the owner's own outbound SA.
        Task {
            guard let id = try? await service.makeSAID() else { return print("install of outbound for \(owner) failed: the cluster service is gone") }
            await install([sa(id, inbound: false, owner: owner)], what: "outbound \(id) for \(owner)")
        }
    }, deleteChildSA: { saID in
        // Stands in for IKE's INFORMATIONAL delete: the owner left, its outbound SA goes.
        Task {
            await service.delete(saID)
            print("deleted \(saID) (its owner left)")
        }
    }))

    let done = DispatchSemaphore(value: 0)
    for signalNumber in [SIGTERM, SIGINT, SIGUSR1] { signal(signalNumber, SIG_IGN) }
    let queue = DispatchQueue(label: "signals")
    var sources: [DispatchSourceSignal] = []
    for signalNumber in [SIGTERM, SIGINT] {
        let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
        source.setEventHandler { Task { await service.stop(removingSAs: false); done.signal() } }
        source.resume()
        sources.append(source)
    }
    let more = DispatchSource.makeSignalSource(signal: SIGUSR1, queue: queue)
    more.setEventHandler { Task { await injectInbound() } }
    more.resume()
    sources.append(more)

    Task {
        do {
            let bound = try await service.start()
            print("routing node listening on \(host):\(bound), epoch \(String(service.epoch.rawValue, radix: 16))")
        } catch {
            fail("cannot start: \(error)")
        }
        while await service.liveMembers().count < whenMembers {
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        print("\(whenMembers) members: injecting \(inject) inbound test SAs")
        for _ in 0..<inject { await injectInbound() }
    }
    done.wait()
    withExtendedLifetime(sources) {}
}

/// Random SPIs from 0xc0000000 up, never repeated.
final class SPIAllocator: @unchecked Sendable {
    private let lock = NSLock()
    private var used: Set<UInt32> = []
    func next() -> UInt32 {
        lock.withLock {
            while true {
                let spi = UInt32.random(in: 0xc000_0000...0xcfff_ffff)
                if used.insert(spi).inserted { return spi }
            }
        }
    }
}
