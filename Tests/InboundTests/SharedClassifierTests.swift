import Cluster
import Foundation
@testable import Inbound
import XCTest

/// Several NFQUEUE workers on one classifier (`queue = 0-1`, nft `fanout`): the kernel picks
/// the queue by CPU, so one SA's packets, even one connection's, arrive on both queues. The
/// connection table, the replay windows and the counters must be the same for every worker.
final class SharedClassifierTests: XCTestCase {
    /// Runs each body on its own thread, all released at once; returns when all ended.
    func concurrently(_ bodies: [@Sendable () -> Void]) {
        let go = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        for body in bodies {
            Thread {
                go.wait()
                body()
                done.signal()
            }.start()
        }
        for _ in bodies { go.signal() }
        for _ in bodies { done.wait() }
    }

    final class Decisions: @unchecked Sendable {
        var byWorker: [[(sport: UInt16, decision: InboundDecision)]]
        init(workers: Int) { byWorker = Array(repeating: [], count: workers) }
    }

    /// Both workers get every connection's SYN (a retransmission on the other queue), then
    /// both get its data packets, in batches as the queue hands them out: one table entry per
    /// connection, every packet of it to the same target, every packet counted once.
    func testTwoWorkersShareOneConnectionTable() {
        let shared = SharedClassifier(Fixture.classifier())
        let connections: [UInt16] = Array(1...48)
        let decisions = Decisions(workers: 2)
        func worker(_ index: Int) -> @Sendable () -> Void {
            {
                var sequence = UInt32(1 + index * 100_000)
                func batch(_ flags: UInt8, _ ports: ArraySlice<UInt16>) {
                    let packets = ports.map { port -> (UInt16, [UInt8]) in
                        sequence += 1
                        return (port, Fixture.tcp(sport: port, flags: flags, sequence: sequence))
                    }
                    let verdicts = shared.classify(packets, now: Fixture.now) { $0.1 }
                    for (packet, verdict) in zip(packets, verdicts) { decisions.byWorker[index].append((packet.0, verdict)) }
                }
                for start in stride(from: 0, to: connections.count, by: 8) {
                    batch(Fixture.syn, connections[start..<min(start + 8, connections.count)])
                }
                for _ in 0..<5 {
                    for start in stride(from: 0, to: connections.count, by: 16) {
                        batch(Fixture.ack, connections[start..<min(start + 16, connections.count)])
                    }
                }
            }
        }
        concurrently([worker(0), worker(1)])

        let all = decisions.byWorker[0] + decisions.byWorker[1]
        XCTAssertEqual(all.count, 2 * connections.count * 6)
        var targets: [UInt16: Set<UInt16>] = [:]
        for (port, decision) in all {
            guard let target = decision.target else { return XCTFail("port \(port): \(decision)") }
            targets[port, default: []].insert(target)
        }
        for port in connections { XCTAssertEqual(targets[port]?.count, 1, "connection \(port) went to \(targets[port] ?? [])") }
        XCTAssertGreaterThan(Set(targets.values.compactMap(\.first)).count, 1, "the connections are spread over the targets")
        shared.withLock { classifier in
            XCTAssertEqual(classifier.flows.count, connections.count, "one entry per connection, whichever queue placed it")
            XCTAssertEqual(classifier.counters.forwarded, UInt64(all.count), "every packet counted once")
            let entries = Dictionary(uniqueKeysWithValues: classifier.connections(now: Fixture.now).map { ($0.key, $0.target) })
            for port in connections {
                XCTAssertEqual(entries[Fixture.flow(sport: port)], targets[port]?.first.flatMap { classifier.target(at: $0) },
                               "connection \(port): the table's target is the one its packets went to")
            }
        }
    }

    /// The replay windows: packets only read them; the first worker applies the targets'
    /// authenticated evidence while the other workers check packets of the same SA. Numbers
    /// the evidence covers are replays on every queue, numbers ahead of it always pass,
    /// whatever the interleaving.
    func testEvidenceAppliedByOneWorkerHoldsForEveryQueue() {
        let shared = SharedClassifier(Fixture.classifier())
        let allSeen = [UInt64](repeating: .max, count: 64)  // window 4096: every number T-4095...T received
        shared.withLock { _ = $0.authenticated(destination: Fixture.dvipa, spi: Fixture.spi, top: 64, bitmap: allSeen) }
        let decisions = Decisions(workers: 2)
        func worker(_ index: Int) -> @Sendable () -> Void {
            {
                // Replays of 1...64 and new numbers far ahead, interleaved, in batches of 16.
                let numbers = (1...64).flatMap { [UInt32($0), UInt32(100_000 + $0 + 64 * index)] }
                for start in stride(from: 0, to: numbers.count, by: 16) {
                    let packets = numbers[start..<start + 16].map { (UInt16($0 % 50_000), Fixture.udp(sport: UInt16($0 % 50_000), sequence: $0)) }
                    let verdicts = shared.classify(packets, now: Fixture.now) { $0.1 }
                    for (packet, verdict) in zip(packets, verdicts) { decisions.byWorker[index].append((packet.0, verdict)) }
                }
            }
        }
        let evidence: @Sendable () -> Void = {
            for top in stride(from: UInt64(65), through: 4_000, by: 5) {
                shared.withLock { _ = $0.authenticated(destination: Fixture.dvipa, spi: Fixture.spi, top: top, bitmap: allSeen) }
            }
        }
        concurrently([worker(0), worker(1), evidence])

        for index in 0..<2 {
            let replays = decisions.byWorker[index].filter { $0.decision == .drop(.replay) }
            let forwarded = decisions.byWorker[index].filter { $0.decision.target != nil }
            XCTAssertEqual(replays.count, 64, "worker \(index): every number the evidence covers is a replay")
            XCTAssertEqual(forwarded.count, 64, "worker \(index): every number ahead of the evidence passes")
        }
        shared.withLock { classifier in
            XCTAssertEqual(classifier.counters[.replay], 128)
            XCTAssertEqual(classifier.counters.forwarded, 128)
            XCTAssertEqual(classifier.replayWindow(destination: Fixture.dvipa, spi: Fixture.spi)?.top, 4_000,
                           "the last evidence applied is the window's top")
        }
    }
}
