// vipsec-cluster-bench: SA distribution latency from the routing node's ClusterService to N
// agents (real ClusterAgent, real TLS 1.3 over loopback, one process), beside a reference in
// the same run: the naive sequential distribution (target after target, each acknowledged
// before the next: N round trips) over the same connections. The agents' kernel is an
// in-memory twin (MemoryKernel): 16 or 64 agents installing one SA into one kernel would
// collide, and this machine's kernel has no ESP. Prints one table (scripts/bench-cluster).
//
//   vipsec-cluster-bench --pki DIR [--targets 1,4,16,64] [--sas 40]
import Cluster
import ClusterNode
import Dispatch
import Foundation
import Logging
import NIOCore

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
    guard name.hasPrefix("--"), let value = iterator.next() else { fail("usage: --pki DIR [--targets 1,4,16,64] [--sas 40]") }
    arguments[String(name.dropFirst(2))] = value
}
guard let pki = arguments["pki"] else { fail("--pki DIR is required (scripts/cluster-ca)") }
let targetCounts = (arguments["targets"] ?? "1,4,16,64").split(separator: ",").compactMap { Int($0) }
let rounds = Int(arguments["sas"] ?? "40") ?? 40
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

struct Row {
    var targets: Int
    var broadcast: [Double]
    var sequential: [Double]
    var rssPerAgent: Double
}

func run(targets: Int) async throws -> Row {
    let authority = SAAuthority.Configuration(
        membership: MembershipConfiguration(heartbeatInterval: .seconds(1), failureTimeout: .seconds(30)),
        installTimeout: .seconds(20), outboundMode: .perTarget)
    let service = try ClusterService(configuration: .init(nodeID: try NodeID("router"), listenHost: "127.0.0.1", listenPort: 0,
                                                          authority: authority),
                                     credentials: try ClusterCredentials(certificatePath: "\(pki)/router.crt", keyPath: "\(pki)/router.key",
                                                                         caPath: "\(pki)/ca.crt"))
    let port = try await service.start()
    let before = residentBytes()
    var agents: [ClusterAgent] = []
    for i in 1...targets {
        let node = try NodeID("t\(i)")
        let agent = try ClusterAgent(
            configuration: .init(nodeID: node, routingHost: "127.0.0.1", routingPort: port, clusterAddress: .v4(127, 0, 0, 1),
                                 counterInterval: .seconds(5), watchExpireEvents: false),
            credentials: try ClusterCredentials(certificatePath: "\(pki)/t\(i).crt", keyPath: "\(pki)/t\(i).key", caPath: "\(pki)/ca.crt"),
            kernel: MemoryKernel())
        try await agent.start()
        agents.append(agent)
    }
    let deadline = DispatchTime.now().uptimeNanoseconds + 60_000_000_000
    while await service.liveMembers().count < targets {
        guard DispatchTime.now().uptimeNanoseconds < deadline else { fail("only \(await service.liveMembers().count) of \(targets) agents joined") }
        try await Task.sleep(for: .milliseconds(20))
    }
    let rss = Double(residentBytes() - before) / Double(targets)
    var spi: UInt32 = 0x1000
    func next() -> UInt32 { spi += 1; return spi }
    var broadcast: [Double] = [], sequential: [Double] = []
    for round in 0..<(rounds + 3) {
        // vipsec: one InstallSA to every target at once, done when all acknowledged.
        let id = await service.makeSAID()
        var start = DispatchTime.now()
        try await service.install([description(id, spi: next(), owner: nil)])
        let parallel = milliseconds(since: start)
        // Reference: the same SA to one target after another (per-target SAs, each awaited).
        var ids: [ClusterSAID] = []
        start = DispatchTime.now()
        for i in 1...targets {
            let one = await service.makeSAID()
            ids.append(one)
            try await service.install([description(one, spi: next(), owner: try NodeID("t\(i)"))])
        }
        let naive = milliseconds(since: start)
        if round >= 3 {   // the first rounds warm up
            broadcast.append(parallel)
            sequential.append(naive)
        }
        await service.delete(id)
        for one in ids { await service.delete(one) }
        // Let the agents take the deletes out before the next measurement.
        try await Task.sleep(for: .milliseconds(20 + 2 * targets))
    }
    for agent in agents { await agent.stop(removingSAs: false) }
    await service.stop()
    return Row(targets: targets, broadcast: broadcast, sequential: sequential, rssPerAgent: rss)
}

let wire = wireBytes()
print("vipsec cluster distribution: CHILD_SA half handed to ClusterService.install -> installed and acknowledged by every target")
print("agents: ClusterAgent in this process, TLS 1.3 over loopback, in-memory kernel; \(rounds) SAs per size")
print("reference: naive sequential distribution (one target after another, each acknowledged first)\n")
print(zip(["targets", "p50 ms", "p99 ms", "seq p50 ms", "seq p99 ms", "p50 ratio", "p99 ratio", "RSS/agent KiB"],
          [8, 12, 12, 14, 14, 10, 10, 16]).map { String(repeating: " ", count: max(0, $1 - $0.count)) + $0 }.joined(separator: " "))
let semaphore = DispatchSemaphore(value: 0)
Task {
    do {
        for n in targetCounts {
            let row = try await run(targets: n)
            let p50 = percentile(row.broadcast, 0.5), p99 = percentile(row.broadcast, 0.99)
            let s50 = percentile(row.sequential, 0.5), s99 = percentile(row.sequential, 0.99)
            print(String(format: "%8d %12.2f %12.2f %14.2f %14.2f %10.2f %10.2f %16.0f", n, p50, p99, s50, s99,
                         p50 / s50, p99 / s99, row.rssPerAgent / 1024))
        }
        print("\ncluster bytes per SA per target: InstallSA \(wire.install) + Ack \(wire.ack) = \(wire.install + wire.ack) bytes"
              + " (frames + TLS 1.3 record overhead; AES-GCM tunnel SA, one selector)")
        print("ratios < 1: the broadcast is faster than the sequential reference")
    } catch {
        fail("\(error)")
    }
    semaphore.signal()
}
semaphore.wait()
