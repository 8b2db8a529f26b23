// `vipsec-cluster-bench --ike-setups N` (scripts/bench-cluster --ike-setups N): IKE_SA +
// CHILD_SA setups per second through the routing node's IKE core and installer, standalone
// beside a cluster of 1..64 targets, in one process and one run.
//
// The IKE side runs on one event loop (an IKE worker): IKE_SA_INIT and IKE_AUTH between an
// initiator and a responder IKE_SA in memory (no sockets; real X25519, PRF and AES-GCM),
// `concurrency` setups at a time; the responder's CHILD_SA goes to the installer and its
// IKE_AUTH response waits for `installCompleted` (IKESA+Install.swift), as in the daemon.
// Standalone: the confined null installer (no kernel; the kernel's own cost is
// `scripts/bench xfrm`). Cluster: ClusterChildSAInstaller, the routing node's service on a
// loop of its own, and N agents (in-memory kernel, or `--kernel xfrm` in the lab VM).
// The initiator's crypto runs on the same loop: the worker's CPU per setup counts both
// ends, the same in every row, so the rows compare.
import Cluster
import ClusterNode
import Dispatch
import Foundation
import IKECrypto
import IKEDaemon
import IKEv2
import NIOCore
import NIOPosix
import VipsecTestSupport

/// Runs the setups on `loop`; touched there only.
final class SetupDriver: @unchecked Sendable {
    let loop: EventLoop
    let installer: ChildSAInstaller
    let provider = OpenSSLCryptoProvider()
    let initiatorConfiguration: IKESAConfiguration
    let responderConfiguration: IKESAConfiguration
    let count: Int
    let finished: EventLoopPromise<Void>
    var started = 0, established = 0, failed = 0
    /// Setups whose install is pending, by initiator SPI.
    var waiting: [UInt64: (initiator: IKESA, responder: IKESA)] = [:]
    let dvipa = InMemoryIKEPair.dvipa, peer = InMemoryIKEPair.peer

    init(loop: EventLoop, installer: ChildSAInstaller, count: Int) throws {
        self.loop = loop
        self.installer = installer
        self.count = count
        initiatorConfiguration = try InMemoryIKEPair.configuration(initiator: true)
        responderConfiguration = try InMemoryIKEPair.configuration(initiator: false)
        finished = loop.makePromise()
    }

    func sent(_ actions: [IKEAction]) -> [UInt8]? {
        actions.lazy.compactMap { if case .send(let bytes) = $0 { return bytes }; return nil }.first
    }

    func startOne() {
        guard started < count else { return }
        started += 1
        do {
            var initiator = try IKESA.initiator(configuration: initiatorConfiguration, provider: provider, local: peer, remote: dvipa)
            var responder = try IKESA.responder(configuration: responderConfiguration, provider: provider, local: dvipa,
                                                remote: peer, initiatorSPI: initiator.initiatorSPI)
            guard let initRequest = sent(initiator.start(now: 0)),
                  let initResponse = sent(responder.receive(initRequest, now: 0)),
                  let authRequest = sent(initiator.receive(initResponse, now: 0)) else { return setupEnded(ok: false) }
            let actions = responder.receive(authRequest, now: 0)
            guard case .install(let child)? = actions.first(where: { if case .install = $0 { return true }; return false }) else {
                return setupEnded(ok: false)
            }
            let spi = initiator.initiatorSPI
            waiting[spi] = (initiator, responder)
            installer.install(child, on: loop).whenComplete { [self] result in
                guard var (initiator, responder) = waiting.removeValue(forKey: spi) else { return }
                let installed = (try? result.get()) != nil
                if let response = sent(responder.installCompleted(child.reference, succeeded: installed, now: 0)) {
                    _ = initiator.receive(response, now: 0)
                }
                setupEnded(ok: installed && initiator.phase == .established)
            }
        } catch {
            setupEnded(ok: false)
        }
    }

    func setupEnded(ok: Bool) {
        if ok { established += 1 } else { failed += 1 }
        if established + failed == count { finished.succeed(()) } else { startOne() }
    }
}

/// `count` setups, `concurrency` at a time; (setups per second, worker CPU ms per setup, failures).
func measureSetups(count: Int, concurrency: Int, installer: ChildSAInstaller) async throws -> (rate: Double, workerCPU: Double, failed: Int) {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let loop = group.next()
    let clock = try cpuClock(of: loop)
    let driver = try SetupDriver(loop: loop, installer: installer, count: count)
    let cpuBefore = cpuMilliseconds(clock)
    let start = DispatchTime.now()
    loop.execute { for _ in 0..<min(concurrency, count) { driver.startOne() } }
    try await driver.finished.futureResult.get()
    let seconds = milliseconds(since: start) / 1000
    let cpu = cpuMilliseconds(clock) - cpuBefore
    let failed = try await loop.submit { driver.failed }.get()
    try await group.shutdownGracefully()
    return (Double(count) / seconds, cpu / Double(count), failed)
}

/// `startCluster(targets)`: a routing node and its agents (main.swift's `startCluster`).
func printIKESetups(setups: Int, targetCounts: [Int], kernel: KernelKind,
                    startCluster: (Int) async throws -> RunningCluster) async throws {
    let concurrency = 32
    print("vipsec IKE setups: IKE_SA_INIT + IKE_AUTH + CHILD_SA install, \(setups) setups, \(concurrency) at a time, one IKE worker loop")
    print("standalone: confined null installer (no kernel); cluster: ClusterChildSAInstaller -> routing node -> N agents"
          + " (kernel '\(kernel.rawValue)'), the IKE_AUTH response released once the targets acknowledged\n")
    print(zip(["targets", "setups/s", "vs standalone", "worker CPU ms/setup", "router CPU ms/setup", "failed"],
              [8, 10, 14, 20, 20, 7]).map { String(repeating: " ", count: max(0, $1 - $0.count)) + $0 }.joined(separator: " "))
    _ = try await measureSetups(count: min(setups, 50), concurrency: concurrency,   // warm-up
                                installer: ConfinedChildSAInstaller(NullChildSAInstaller()))
    let standalone = try await measureSetups(count: setups, concurrency: concurrency, installer: ConfinedChildSAInstaller(NullChildSAInstaller()))
    func row(_ targets: String, _ result: (rate: Double, workerCPU: Double, failed: Int), router: Double?) {
        print(String(repeating: " ", count: max(0, 8 - targets.count)) + targets
              + String(format: " %10.0f %13.2fx %20.3f ", result.rate, result.rate / standalone.rate, result.workerCPU)
              + (router.map { String(format: "%20.3f", $0) } ?? String(repeating: " ", count: 19) + "-")
              + String(format: " %7d", result.failed))
    }
    row("0", standalone, router: nil)
    for targets in targetCounts {
        let cluster = try await startCluster(targets)
        let routerBefore = cpuMilliseconds(cluster.routerClock)
        let result = try await measureSetups(count: setups, concurrency: concurrency,
                                             installer: ClusterChildSAInstaller(service: cluster.service))
        let router = (cpuMilliseconds(cluster.routerClock) - routerBefore) / Double(setups)
        row("\(targets)", result, router: router)
        try await cluster.stop()
    }
    print("\nvs standalone: setups/s divided by the standalone row's (the goal: >= 0.8 at 16 targets, >= 0.5 at 64)")
    print("worker CPU: the IKE loop's thread, both ends' crypto; router CPU: the routing node's loop thread (the agents run in this process too)")
}
