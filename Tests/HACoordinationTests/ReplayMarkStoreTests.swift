import Logging
import NIOConcurrencyHelpers
import XCTest
@testable import HACoordination

/// ReplayMarkStore (inbound claim 22) against a real etcd (EtcdTestServer): marks are
/// term-fenced, never go backwards in etcd (the txn's own compare, whoever writes), read back
/// by a new active, and deleted when their SA is gone.
final class ReplayMarkStoreTests: XCTestCase {
    var server: EtcdTestServer!
    var etcd: EtcdClient!
    let prefix = "/vipsec/test/"

    override func setUp() async throws {
        server = try EtcdTestServer()
        try server.start()
        etcd = try EtcdClient(.init(endpoints: [server.endpoint],
                                    tls: EtcdTLSFiles(caPath: server.path("ca.crt"), certificatePath: server.path("client.crt"),
                                                      keyPath: server.path("client.key")),
                                    requestTimeout: .seconds(2)))
    }

    override func tearDown() async throws {
        await etcd?.shutdown()
        server?.stop()
        server = nil
    }

    /// Wins the leader key (as LeaderElection does) and returns the term.
    private func win() async throws -> Int64 {
        let won = try await etcd.txn(compare: [EtcdCompare(key: prefix + "leader", .createRevision(0))],
                                     success: [.put(key: prefix + "leader", value: Array("router1".utf8), lease: nil)])
        XCTAssertTrue(won.succeeded)
        return won.revision
    }

    private func store(_ term: NIOLockedValueBox<Int64?>) -> ReplayMarkStore {
        ReplayMarkStore(client: etcd, prefix: prefix, term: { term.withLockedValue { $0 } }, logger: Logger(label: "test"))
    }

    private func settle(_ store: ReplayMarkStore) async throws {
        for _ in 0..<200 where !store.idle { try await Task.sleep(for: .milliseconds(20)) }
        XCTAssertTrue(store.idle, "writes settle")
    }

    private func stored(_ id: UInt64) async throws -> String? {
        try await etcd.range(ReplayMarkStore.key(prefix: prefix, saID: id)).keyValues.first.map { String(decoding: $0.value, as: UTF8.self) }
    }

    func testMarksAreWrittenAsFixedWidthHexAndReadBackByANewActive() async throws {
        let term = NIOLockedValueBox<Int64?>(try await win())
        let marks = store(term)
        marks.record(5, mark: 4096)
        marks.record(0x1234_5678_9abc, mark: 0x1_0000_1000)
        try await settle(marks)
        let five = try await stored(5)
        XCTAssertEqual(five, "0000000000001000")
        XCTAssertEqual(ReplayMarkStore.key(prefix: prefix, saID: 5), "/vipsec/test/replay/0000000000000005")
        XCTAssertEqual(marks.counters.puts, 2)

        // A takeover reads them; keys or values that are not marks are refused by key.
        _ = try await etcd.txn(compare: [], success: [.put(key: prefix + "replay/zz", value: Array("0000000000001000".utf8), lease: nil),
                                                      .put(key: prefix + "replay/0000000000000009", value: Array("4096".utf8), lease: nil)])
        let (loaded, refused) = try await store(term).load()
        XCTAssertEqual(loaded, [5: 4096, 0x1234_5678_9abc: 0x1_0000_1000])
        XCTAssertEqual(Set(refused), [prefix + "replay/zz", prefix + "replay/0000000000000009"])
    }

    func testAMarkNeverGoesBackwardsInEtcd() async throws {
        let term = NIOLockedValueBox<Int64?>(try await win())
        let first = store(term)
        first.record(1, mark: 8192)
        try await settle(first)
        // A lower mark asked later of the same store changes nothing (coalesced or kept) ...
        first.record(1, mark: 4096)
        try await settle(first)
        // ... and a writer that does not know etcd holds more (another incarnation, stale
        // state) is refused by etcd's compare, not by its memory.
        let second = store(term)
        second.record(1, mark: 4096)
        try await settle(second)
        let afterLower = try await stored(1)
        XCTAssertEqual(afterLower, "0000000000002000")
        XCTAssertEqual(second.counters.kept, 1)
        XCTAssertEqual(second.counters.puts, 0)
        // Higher moves it, across the hex digit boundary 9 → a (octet order = number order).
        second.record(1, mark: 0xa000)
        try await settle(second)
        let afterHigher = try await stored(1)
        XCTAssertEqual(afterHigher, "000000000000a000")
        first.record(1, mark: 0x9000)
        try await settle(first)
        let afterStale = try await stored(1)
        XCTAssertEqual(afterStale, "000000000000a000")

        // Many marks of one SA posted at once, in any order: etcd ends at the highest.
        var generator = SystemRandomNumberGenerator()
        let burst = (1...50).map { UInt64($0) * 0x1000 + 0xa000 }.shuffled(using: &generator)
        for mark in burst { first.record(1, mark: mark) }
        try await settle(first)
        let afterBurst = try await stored(1)
        XCTAssertEqual(afterBurst, ReplayMarkStore.hex(burst.max()!))
    }

    func testADeposedOrStandbyNodeWritesNothing() async throws {
        let term = NIOLockedValueBox<Int64?>(try await win())
        let marks = store(term)
        marks.record(3, mark: 4096)
        try await settle(marks)
        // Another node wins (the leader key recreated): the old term's writes are fenced.
        _ = try await etcd.txn(compare: [], success: [.delete(key: prefix + "leader")])
        _ = try await win()
        marks.record(3, mark: 8192)
        marks.forget(4)
        try await settle(marks)
        XCTAssertEqual(marks.counters.fenced, 2)
        let fenced = try await stored(3)
        XCTAssertEqual(fenced, "0000000000001000")
        // Not active (no term): nothing is sent at all.
        term.withLockedValue { $0 = nil }
        marks.record(3, mark: 12_288)
        try await settle(marks)
        XCTAssertEqual(marks.counters.fenced, 3)
        let standby = try await stored(3)
        XCTAssertEqual(standby, "0000000000001000")
    }

    func testAGoneSAsMarkIsDeletedAndAValueThatIsNoMarkIsReplaced() async throws {
        let term = NIOLockedValueBox<Int64?>(try await win())
        let marks = store(term)
        marks.record(6, mark: 4096)
        try await settle(marks)
        marks.forget(6)
        try await settle(marks)
        let gone = try await stored(6)
        XCTAssertNil(gone)
        XCTAssertEqual(marks.counters.deletes, 1)
        _ = try await etcd.txn(compare: [], success: [.put(key: ReplayMarkStore.key(prefix: prefix, saID: 7), value: Array("zzzz".utf8), lease: nil)])
        marks.record(7, mark: 4096)
        try await settle(marks)
        let replaced = try await stored(7)
        XCTAssertEqual(replaced, "0000000000001000", "'zzzz' sorts above every mark: replaced by its revision, not compared")
    }

    func testEtcdDownIsCountedAndTheNextMarkIsWrittenOnceItIsBack() async throws {
        let term = NIOLockedValueBox<Int64?>(try await win())
        let marks = store(term)
        server.stop()
        marks.record(8, mark: 4096)
        try await settle(marks)
        XCTAssertEqual(marks.counters.failed, 1)
        try server.start()
        marks.record(8, mark: 8192)
        try await settle(marks)
        let back = try await stored(8)
        XCTAssertEqual(back, "0000000000002000")
    }
}
