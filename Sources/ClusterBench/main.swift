// vipsec-cluster-bench: SA distribution latency from the routing node's ClusterService to N
// agents (real ClusterAgent, real TLS 1.3 over loopback, one process), beside references in
// the same run: the naive sequential distribution (target after target, each acknowledged
// before the next: N round trips) over the same connections, and one SA put straight into
// one kernel with no cluster at all.
//
// The agents' kernel is chosen with --kernel: `xfrm` gives each agent its own network
// namespace (PREFIX1 ... PREFIXN, made by `ip netns add`) and the real XFRMAgentKernel there,
// so every SA really is installed N times (`ip -n PREFIXi xfrm state count` is the witness);
// `memory` is an in-memory twin that measures the channel alone; `both` runs each size with
// each. The routing node has an event loop of its own, and the CPU time of that thread per
// broadcast is printed too: on a real cluster, where every agent has its own host, that is
// the part of the latency that grows with the number of targets. Prints one table
// (scripts/bench-cluster runs it inside the lab VM).
//
//   vipsec-cluster-bench --pki DIR [--targets 1,4,16,64] [--sas 40]
//                        [--kernel memory|xfrm|both] [--netns-prefix vbench-t]
import Cluster
import ClusterNode
import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import XFRM

setvbuf(stdout, nil, _IOLBF, 0)
// Quiet: a log line per SA and target would be measured too.
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .warning
    return handler
}

func fail(_ text: String) -> Never {
    FileHandle.standardError.write(Data("vipsec-cluster-bench: \(text)\n".utf8))
    exit(2)
}

/// The agent's kernel in memory: counts installs, holds nothing else.
final class MemoryKernel: AgentKernel, @unchecked Sendable {
    private let lock = NSLock()
    private var held: Set<ClusterSAID> = []
    func install(_ sa: SADescription, outputSequence: UInt64?) throws { _ = lock.withLock { held.insert(sa.saID) } }
    func replaceState(_ sa: SADescription, outputSequence: UInt64) throws {}
    func remove(_ sa: SADescription) throws { _ = lock.withLock { held.remove(sa.saID) } }
    func counters(of sa: SADescription) throws -> KernelSACounters? {
        lock.withLock { held.contains(sa.saID) ? KernelSACounters(bytes: 0, packets: 0, outputSequence: 0) : nil }
    }
    func removeLeftovers() -> Int { 0 }
}

func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kb = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kb * 1024
}

func key() -> SecretBytes {
    var generator = SystemRandomNumberGenerator()
    return SecretBytes(count: 20) { raw in for i in 0..<20 { raw[i] = UInt8.random(in: 0...255, using: &generator) } }
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

func milliseconds(since start: DispatchTime) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6 }

var arguments: [String: String] = [:]
var iterator = CommandLine.arguments.dropFirst().makeIterator()
while let name = iterator.next() {
    let usage = "usage: --pki DIR [--targets 1,4,16,64] [--sas 40] [--kernel memory|xfrm|both] [--netns-prefix vbench-t] [--ike-setups N]"
    guard name.hasPrefix("--"), let value = iterator.next() else { fail(usage) }
    guard ["pki", "targets", "sas", "kernel", "netns-prefix", "ike-setups"].contains(name.dropFirst(2)) else { fail("unknown option \(name); \(usage)") }
    arguments[String(name.dropFirst(2))] = value
}
guard let pki = arguments["pki"] else { fail("--pki DIR is required (scripts/cluster-ca)") }
let targetText = arguments["targets"] ?? "1,4,16,64"
let targetCounts = targetText.split(separator: ",").compactMap { Int($0) }
guard !targetCounts.isEmpty, targetCounts.allSatisfy({ $0 >= 1 }) else { fail("--targets \(targetText): a list of counts >= 1") }
guard let rounds = Int(arguments["sas"] ?? "40"), rounds >= 1 else { fail("--sas \(arguments["sas"] ?? ""): a count >= 1") }

enum KernelKind: String { case memory, xfrm }
let kernels: [KernelKind]
switch arguments["kernel"] ?? "memory" {
case "memory": kernels = [.memory]
case "xfrm": kernels = [.xfrm]
case "both": kernels = [.memory, .xfrm]
case let other: fail("--kernel \(other): memory, xfrm or both")
}
let netnsPrefix = arguments["netns-prefix"] ?? "vbench-t"
func namespace(_ i: Int) -> String { "\(netnsPrefix)\(i)" }
let dvipa = IPAddress.v4(192, 0, 2, 100), peer = IPAddress.v4(192, 0, 2, 1)
let selector = SASelector(source: .v4(10, 1, 0, 0), sourcePrefixLength: 24, destination: dvipa, destinationPrefixLength: 32)

func description(_ id: ClusterSAID, spi: UInt32, owner: NodeID?) -> SADescription {
    SADescription(saID: id, epoch: ClusterEpoch(rawValue: 1), spi: spi, direction: owner == nil ? .inbound : .outbound,
                  source: owner == nil ? peer : dvipa, destination: owner == nil ? dvipa : peer,
                  algorithms: [SAAlgorithm(kind: .aead, name: "rfc4106(gcm(aes))", key: key(), bits: 128)],
                  replayWindow: 32, lifetimes: SALifetimes(), selectors: [selector], reqid: 1,
                  sequencing: owner.map { .perTarget(owner: $0) } ?? .notApplicable)
}

/// One InstallSA frame and its Ack as they go on the wire (TLS 1.3 adds 22 bytes per record:
/// 5 header, 1 content type, 16 tag).
func wireBytes() -> (install: Int, ack: Int) {
    var buffer = ByteBuffer()
    ClusterFrame.write(.installSA(.init(sa: description(ClusterSAID(1), spi: 1, owner: nil))), to: &buffer)
    let install = buffer.readableBytes
    buffer.clear()
    ClusterFrame.write(.ack(.init(saID: ClusterSAID(1), operation: .installSA)), to: &buffer)
    return (install + 22, buffer.readableBytes + 22)
}

/// `ip -n NS xfrm state count`: how many SAs the kernel of namespace `ns` holds, by iproute2.
func kernelStateCount(_ ns: String) -> Int {
    let ip = Process()
    ip.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
    ip.arguments = ["-n", ns, "xfrm", "state", "count"]
    let out = Pipe()
    ip.standardOutput = out
    guard (try? ip.run()) != nil else { fail("cannot run ip -n \(ns) xfrm state count") }
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    ip.waitUntilExit()
    // "SAD count N"
    guard ip.terminationStatus == 0, let n = text.split(separator: " ").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
        fail("ip -n \(ns) xfrm state count: '\(text)'")
    }
    return n
}

/// Polls `ip` until every namespace of 1...targets holds `expected` SAs (an agent acknowledges
/// a delete before its kernel worker has taken the SA out).
func expectStateCounts(_ expected: Int, targets: Int, what: String) async throws {
    let deadline = DispatchTime.now().uptimeNanoseconds + 20_000_000_000
    while true {
        let wrong = (1...targets).filter { kernelStateCount(namespace($0)) != expected }
        if wrong.isEmpty { return }
        guard DispatchTime.now().uptimeNanoseconds < deadline else {
            fail("\(what): \(wrong.count) of \(targets) namespaces do not hold \(expected) SAs (first: \(namespace(wrong[0])))")
        }
        try await Task.sleep(for: .milliseconds(100))
    }
}

/// The kernel reference: one SA installed and removed straight through XFRMAgentKernel in
/// namespace 1, no cluster, `rounds` times; milliseconds per install.
func directInstalls() throws -> [Double] {
    let kernel = try XFRMAgentKernel(journalPath: nil, networkNamespace: namespace(1))
    var times: [Double] = []
    for round in 0..<(rounds + 3) {
        let sa = description(ClusterSAID(UInt64(1_000_000 + round)), spi: UInt32(0x9000_0000) + UInt32(round), owner: nil)
        let start = DispatchTime.now()
        try kernel.install(sa, outputSequence: nil)
        if round >= 3 { times.append(milliseconds(since: start)) }
        try kernel.remove(sa)
    }
    return times
}

struct Row {
    var targets: Int
    var kernel: KernelKind
    var broadcast: [Double]
    var sequential: [Double]
    /// CPU time of the routing node's thread per broadcast install.
    var routerCPU: [Double]
    var rssPerAgent: Double
}

/// The CPU clock of the thread that runs `loop` (the routing node's one event loop).
func cpuClock(of loop: EventLoop) throws -> clockid_t {
    try loop.submit { () -> clockid_t in
        var clock = clockid_t()
        guard pthread_getcpuclockid(pthread_self(), &clock) == 0 else { fail("pthread_getcpuclockid failed") }
        return clock
    }.wait()
}

/// Milliseconds of CPU the clock's thread has used.
func cpuMilliseconds(_ clock: clockid_t) -> Double {
    var time = timespec()
    clock_gettime(clock, &time)
    return Double(time.tv_sec) * 1e3 + Double(time.tv_nsec) / 1e6
}

/// A routing node on an event loop of its own (every cluster connection of it runs there, as
/// in `vipsec routing`, so its CPU can be read off that thread's clock) and `targets` agents
/// with the chosen kernel, all joined.
struct RunningCluster {
    var service: ClusterService
    var agents: [ClusterAgent]
    var routingGroup: MultiThreadedEventLoopGroup
    var routerClock: clockid_t
    /// Growth of the resident memory while the agents joined, per agent.
    var rssPerAgent: Double

    func stop() async throws {
        for agent in agents { await agent.stop(removingSAs: false) }
        await service.stop(removingSAs: false)
        try await routingGroup.shutdownGracefully()
    }
}

func startCluster(targets: Int, kernel kind: KernelKind) async throws -> RunningCluster {
    let authority = SAAuthority.Configuration(
        membership: MembershipConfiguration(heartbeatInterval: .seconds(1), failureTimeout: .seconds(30)),
        installTimeout: .seconds(20), outboundMode: .perTarget)
    // The routing node on its own event loop (every cluster connection of it runs there, as
    // in `vipsec routing`), so its CPU per SA can be read off that thread's clock.
    let routingGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let routerClock = try cpuClock(of: routingGroup.next())
    let service = try ClusterService(configuration: .init(nodeID: try NodeID("router"), listenHost: "127.0.0.1", listenPort: 0,
                                                          authority: authority),
                                     credentials: try ClusterCredentials(certificatePath: "\(pki)/router.crt", keyPath: "\(pki)/router.key",
                                                                         caPath: "\(pki)/ca.crt"),
                                     group: routingGroup)
    let port = try await service.start()
    let before = residentBytes()
    var agents: [ClusterAgent] = []
    for i in 1...targets {
        let node = try NodeID("t\(i)")
        let agent = try ClusterAgent(
            configuration: .init(nodeID: node, routingHost: "127.0.0.1", routingPort: port, clusterAddress: .v4(127, 0, 0, 1),
                                 counterInterval: .seconds(5), watchExpireEvents: false),
            credentials: try ClusterCredentials(certificatePath: "\(pki)/t\(i).crt", keyPath: "\(pki)/t\(i).key", caPath: "\(pki)/ca.crt"),
            kernel: kind == .memory ? MemoryKernel() : try XFRMAgentKernel(journalPath: nil, networkNamespace: namespace(i)))
        try await agent.start()
        agents.append(agent)
    }
    let deadline = DispatchTime.now().uptimeNanoseconds + 60_000_000_000
    while await service.liveMembers().count < targets {
        guard DispatchTime.now().uptimeNanoseconds < deadline else { fail("only \(await service.liveMembers().count) of \(targets) agents joined") }
        try await Task.sleep(for: .milliseconds(20))
    }
    return RunningCluster(service: service, agents: agents, routingGroup: routingGroup, routerClock: routerClock,
                          rssPerAgent: Double(residentBytes() - before) / Double(targets))
}

func run(targets: Int, kernel kind: KernelKind) async throws -> Row {
    let cluster = try await startCluster(targets: targets, kernel: kind)
    let service = cluster.service, routerClock = cluster.routerClock, rss = cluster.rssPerAgent
    var spi: UInt32 = 0x1000
    func next() -> UInt32 { spi += 1; return spi }
    var broadcast: [Double] = [], sequential: [Double] = [], routerCPU: [Double] = []
    for round in 0..<(rounds + 3) {
        // vipsec: one InstallSA to every target at once, done when all acknowledged.
        let id = try await service.makeSAID()
        let sa = description(id, spi: next(), owner: nil)
        let cpuBefore = cpuMilliseconds(routerClock)
        var start = DispatchTime.now()
        try await service.install([sa])
        let parallel = milliseconds(since: start)
        let cpu = cpuMilliseconds(routerClock) - cpuBefore
        if kind == .xfrm && round == 0 {   // witness, outside the measured rounds
            try await expectStateCounts(1, targets: targets, what: "after the first broadcast install")
        }
        // Reference: the same SA to one target after another (per-target SAs, each awaited).
        var ids: [ClusterSAID] = []
        start = DispatchTime.now()
        for i in 1...targets {
            let one = try await service.makeSAID()
            ids.append(one)
            try await service.install([description(one, spi: next(), owner: try NodeID("t\(i)"))])
        }
        let naive = milliseconds(since: start)
        if round >= 3 {   // the first rounds warm up
            broadcast.append(parallel)
            sequential.append(naive)
            routerCPU.append(cpu)
        }
        await service.delete(id)
        for one in ids { await service.delete(one) }
        // Let the agents take the deletes out before the next measurement.
        try await Task.sleep(for: .milliseconds(20 + 2 * targets))
    }
    if kind == .xfrm { try await expectStateCounts(0, targets: targets, what: "after the last delete") }
    try await cluster.stop()
    return Row(targets: targets, kernel: kind, broadcast: broadcast, sequential: sequential, routerCPU: routerCPU, rssPerAgent: rss)
}

if let setupsText = arguments["ike-setups"] {
    guard let setups = Int(setupsText), setups >= 1 else { fail("--ike-setups \(setupsText): a count >= 1") }
    guard let kind = kernels.first, kernels.count == 1 else { fail("--ike-setups: one --kernel (memory or xfrm)") }
    let done = DispatchSemaphore(value: 0)
    Task {
        do {
            try await printIKESetups(setups: setups, targetCounts: targetCounts, kernel: kind) { targets in
                try await startCluster(targets: targets, kernel: kind)
            }
        } catch {
            fail("\(error)")
        }
        done.signal()
    }
    done.wait()
    exit(0)
}

let wire = wireBytes()
print("vipsec cluster distribution: CHILD_SA half handed to ClusterService.install -> installed and acknowledged by every target")
print("agents: ClusterAgent in this process, TLS 1.3 over loopback; kernel 'xfrm': each agent's own network namespace"
      + " and its real kernel XFRM (state + policies), 'memory': an in-memory twin; \(rounds) SAs per size")
print("reference: naive sequential distribution (one target after another, each acknowledged first)\n")
print(zip(["targets", "kernel", "p50 ms", "p99 ms", "seq p50 ms", "seq p99 ms", "p50 ratio", "p99 ratio", "router CPU p50/p99 ms", "RSS/agent KiB"],
          [8, 7, 10, 10, 12, 12, 10, 10, 22, 14]).map { String(repeating: " ", count: max(0, $1 - $0.count)) + $0 }.joined(separator: " "))
let semaphore = DispatchSemaphore(value: 0)
Task {
    do {
        for n in targetCounts {
            for kind in kernels {
                let row = try await run(targets: n, kernel: kind)
                let p50 = percentile(row.broadcast, 0.5), p99 = percentile(row.broadcast, 0.99)
                let s50 = percentile(row.sequential, 0.5), s99 = percentile(row.sequential, 0.99)
                let name = String(repeating: " ", count: max(0, 7 - kind.rawValue.count)) + kind.rawValue
                print(String(format: "%8d ", n) + name
                      + String(format: " %10.2f %10.2f %12.2f %12.2f %10.2f %10.2f %10.2f / %8.2f ", p50, p99, s50, s99, p50 / s50, p99 / s99,
                                       percentile(row.routerCPU, 0.5), percentile(row.routerCPU, 0.99))
                      // Below 16 agents the process's RSS growth is allocator noise, not the agents.
                      + (n >= 16 ? String(format: "%14.0f", row.rssPerAgent / 1024) : String(repeating: " ", count: 13) + "-"))
            }
        }
        if kernels.contains(.xfrm) {
            let direct = try directInstalls()
            print(String(format: "\nkernel reference: one SA + policies straight into one namespace's XFRM (no cluster): p50 %.2f ms, p99 %.2f ms",
                         percentile(direct, 0.5), percentile(direct, 0.99)))
        }
        print("\ncluster bytes per SA per target: InstallSA \(wire.install) + Ack \(wire.ack) = \(wire.install + wire.ack) bytes"
              + " (frames + TLS 1.3 record overhead; AES-GCM tunnel SA, one selector)")
        print("ratios < 1: the broadcast is faster than the sequential reference")
        print("router CPU: the routing node's own thread's CPU time per broadcast: its whole share of the work,"
              + " which on a real cluster is the part that grows with the number of targets (the agents work in parallel on their own hosts)")
        print("RSS/agent: growth of this process's resident memory while the agents join, divided by their number"
              + " (shown from 16 agents up; below that it is allocator noise)")
    } catch {
        fail("\(error)")
    }
    semaphore.signal()
}
semaphore.wait()
