// HA takeover without renegotiation (issue 19 phase 2, docs/takeover.md sections 2 and 4):
// the active records each established IKE_SA with the cluster SAs of its CHILD_SAs in etcd,
// sealed (`<prefix>ike/<local SPI>`, TakeoverRecord + RecordSealer), every write fenced by
// its term; a new active reads them, keeps the cluster's epoch (`<prefix>epoch`), adopts
// the IKE_SAs into its IKE workers and the SA authority, and only then answers IKE and
// admits agents, which keep their SAs (same epoch, identical descriptions).
import Cluster
import ClusterNode
import Foundation
import HACoordination
import IKEDaemon
import IKEv2
import Logging
import NIOConcurrencyHelpers
import NIOCore

struct TakeoverError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The active's writer (IKESAPersistence) and a new active's reader of the IKE state in etcd.
final class TakeoverStore: IKESAPersistence, Sendable {
    let client: EtcdClient
    let sealer: RecordSealer
    let prefix: String
    let leaderKey: String
    let service: ClusterService
    let logger: Logger
    /// The term this node holds while active (nil: not active; nothing is written).
    let term = NIOLockedValueBox<Int64?>(nil)
    /// Counters for status and the lab: records written and deleted, writes refused
    /// (deposed) or failed, records refused at a takeover.
    let counters = NIOLockedValueBox(Counters())

    struct Counters {
        var puts = 0
        var deletes = 0
        var fenced = 0
        var failed = 0
        var adopted = 0
        var refused = 0
    }

    init(client: EtcdClient, sealer: RecordSealer, prefix: String, service: ClusterService, logger: Logger) {
        self.client = client
        self.sealer = sealer
        self.prefix = prefix
        leaderKey = prefix + "leader"
        self.service = service
        self.logger = logger
    }

    func commit(localSPI: UInt64, record: IKESARecord?, on loop: EventLoop) -> EventLoopFuture<Void> {
        let promise = loop.makePromise(of: Void.self)
        promise.completeWithTask { try await self.commit(localSPI, record) }
        return promise.futureResult
    }

    private func commit(_ spi: UInt64, _ record: IKESARecord?) async throws {
        guard let term = term.withLockedValue({ $0 }) else { throw TakeoverError("not active") }
        let key = TakeoverRecord.key(prefix: prefix, localSPI: spi)
        let operation: EtcdOperation
        if let record {
            // Both halves of every CHILD_SA: an outbound SA activated in the same step (the
            // responder of a rekey) may reach the SA authority a moment after this commit
            // starts; wait for it (at most 2 s) rather than record a CHILD_SA half.
            let spis = Set(record.childSAs.flatMap { [$0.inbound.spi, $0.outbound.spi] })
            var sas = await service.descriptions(spis: spis)
            for _ in 0..<40 where sas.count < spis.count {
                try await Task.sleep(for: .milliseconds(50))
                sas = await service.descriptions(spis: spis)
            }
            let plain = TakeoverRecord(ikeSA: record, clusterSAs: sas).encoded()
            operation = .put(key: key, value: try sealer.seal(plain, etcdKey: key), lease: nil)
        } else {
            operation = .delete(key: key)
        }
        let result: EtcdTxnResult
        do {
            result = try await client.txn(compare: [EtcdCompare(key: leaderKey, .createRevision(term))], success: [operation])
        } catch {
            counters.withLockedValue { $0.failed += 1 }
            throw error
        }
        guard result.succeeded else {
            counters.withLockedValue { $0.fenced += 1 }
            throw TakeoverError("term \(term) fenced: another node leads")
        }
        counters.withLockedValue { if record == nil { $0.deletes += 1 } else { $0.puts += 1 } }
    }

    /// The cluster's epoch: the one in etcd, or (first active ever) `own`, written if absent.
    func epoch(own: ClusterEpoch, term: Int64) async throws -> ClusterEpoch {
        let key = prefix + "epoch"
        let result = try await client.txn(
            compare: [EtcdCompare(key: key, .createRevision(0)), EtcdCompare(key: leaderKey, .createRevision(term))],
            success: [.put(key: key, value: Array(String(own.rawValue).utf8), lease: nil)],
            failure: [.range(key: key)])
        if result.succeeded { return own }
        guard let stored = result.ranges.first?.first, let value = UInt64(String(decoding: stored.value, as: UTF8.self)),
              value != 0 else {
            throw TakeoverError("term \(term) fenced while reading the epoch")
        }
        return ClusterEpoch(rawValue: value)
    }

    /// Every recorded IKE_SA, opened and decoded; those that do not open or decode are
    /// refused (named by key, with the reason; the value is never logged).
    func load() async throws -> (records: [TakeoverRecord], refused: [(key: String, reason: String)]) {
        let range = try await client.range(prefix + "ike/", prefix: true)
        var records: [TakeoverRecord] = []
        var refused: [(key: String, reason: String)] = []
        for entry in range.keyValues {
            do {
                records.append(try TakeoverRecord(decoding: try sealer.open(entry.value, etcdKey: entry.key)))
            } catch {
                refused.append((entry.key, "\(error)"))
            }
        }
        return (records, refused)
    }
}

/// What a node that just won does before it serves (HARuntime.becomeActive).
struct Takeover {
    let store: TakeoverStore
    /// The inbound replay marks (claim 22).
    let marks: ReplayMarkStore
    let service: ClusterService
    let installer: ClusterChildSAInstaller
    let control: IKEDaemonControl
    let logger: Logger

    /// Reads etcd, adopts; throws when etcd cannot be read (the caller retries, then gives up
    /// and serves with a fresh epoch, as without a seal key).
    func run(term: Int64) async throws {
        let started = ContinuousClock.now
        let epoch = try await store.epoch(own: service.epoch, term: term)
        let (records, refusedRecords) = try await store.load()
        for refused in refusedRecords {
            logger.error("HA: takeover: IKE_SA record \(refused.key) refused (\(refused.reason)); that IKE_SA is not continued")
        }
        guard let outcome = await control.adopt(records.map(\.ikeSA)) else { throw TakeoverError("IKE daemon not running") }
        for refused in outcome.refused {
            logger.error("HA: takeover: IKE_SA \(String(refused.spi, radix: 16)) refused: \(refused.reason)")
        }
        let adoptedSPIs = Set(outcome.adopted.map(\.localSPI))
        let kept = records.filter { adoptedSPIs.contains($0.ikeSA.localSPI) }
        let sas = kept.flatMap(\.clusterSAs)
        // Each adopted inbound SA's window starts from its recorded mark; the marks of SAs
        // not adopted are deleted (as the active deletes those of SAs that went away).
        let (recorded, refusedMarks) = try await marks.load()
        for key in refusedMarks { logger.error("HA: takeover: \(key) is not a replay mark; ignored") }
        let inbound = Set(sas.filter { $0.direction == .inbound }.map(\.saID.rawValue))
        var restored: [ClusterSAID: UInt64] = [:]
        for (id, mark) in recorded {
            if inbound.contains(id) { restored[ClusterSAID(id)] = mark } else { marks.forget(id) }
        }
        try await service.adopt(epoch: epoch, sas: sas, replayMarks: restored)
        marks.countTakeover(adopted: restored.count, refused: refusedMarks.count)
        installer.adopt(kept.flatMap(\.ikeSA.childSAs), descriptions: sas)
        store.counters.withLockedValue {
            $0.adopted += kept.count
            $0.refused += refusedRecords.count + outcome.refused.count
        }
        let took = ContinuousClock.now - started
        logger.notice("HA: term \(term): takeover in \(epoch): adopted \(kept.count) IKE_SA(s) with \(sas.count) cluster SA(s) and \(restored.count) replay mark(s), refused \(refusedRecords.count + outcome.refused.count), in \(took)")
    }
}
