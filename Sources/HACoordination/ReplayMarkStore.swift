// The active routing node's inbound replay marks in etcd (inbound claim 22, issue 19 item 2;
// docs/takeover.md "Inbound replay marks"). One key per inbound SA:
//
//     <prefix>replay/<cluster SA id, 16 hex digits>  =  <mark, 16 lowercase hex digits>
//
// Fixed-width lowercase hex orders as octets exactly as the numbers do, so etcd itself keeps
// a mark from going backwards: every put is a txn guarded by the leader's term (as every
// write of the active, TakeoverStore) *and* `value(key) < new` (or, for the first mark,
// `create_revision(key) == 0`). A mark is a sequence number, not a secret: not sealed.
//
// Writes never hold anything up: `record` and `forget` only post; one write per SA is in
// flight at a time and what was asked meanwhile is coalesced into the next (the highest
// mark, or the delete), so etcd sees at most one txn per SA per round trip, and no more
// than one per block of 4096 packets (ReplayMarks).
import Foundation
import Logging
import NIOConcurrencyHelpers

public final class ReplayMarkStore: Sendable {
    public struct Counters: Sendable, Equatable {
        /// Marks written.
        public var puts = 0
        /// Marks deleted (their SA gone).
        public var deletes = 0
        /// etcd held a mark at least as high already: nothing written.
        public var kept = 0
        /// Refused by the leader compare (deposed) or not active.
        public var fenced = 0
        /// etcd could not be reached or answered an error.
        public var failed = 0
        /// Marks adopted at this node's takeovers (of inbound SAs it adopted).
        public var adopted = 0
        /// Keys under `replay/` refused at takeovers (not a mark).
        public var refused = 0
    }

    private enum Change: Equatable {
        case record(UInt64)
        case forget
    }

    private struct State {
        var pending: [UInt64: Change] = [:]
        var busy: Set<UInt64> = []
        var counters = Counters()
    }

    let client: EtcdClient
    let prefix: String
    let leaderKey: String
    let term: @Sendable () -> Int64?
    let logger: Logger
    private let state = NIOLockedValueBox(State())

    /// `term`: this node's term while it is active, nil otherwise (nothing is written then).
    public init(client: EtcdClient, prefix: String, term: @escaping @Sendable () -> Int64?, logger: Logger) {
        self.client = client
        self.prefix = prefix
        leaderKey = prefix + "leader"
        self.term = term
        self.logger = logger
    }

    public var counters: Counters { state.withLockedValue { $0.counters } }

    /// A takeover adopted `adopted` marks and refused `refused` keys (status).
    public func countTakeover(adopted: Int, refused: Int) {
        state.withLockedValue {
            $0.counters.adopted += adopted
            $0.counters.refused += refused
        }
    }

    public static func key(prefix: String, saID: UInt64) -> String { prefix + "replay/" + hex(saID) }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The mark in a value, or nil when it is not 16 lowercase hex digits.
    static func mark(_ value: [UInt8]) -> UInt64? {
        guard value.count == 16, value.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else { return nil }
        return UInt64(String(decoding: value, as: UTF8.self), radix: 16)
    }

    /// Asks for `mark` to be recorded for SA `saID` (a lower or equal mark than one asked
    /// before changes nothing).
    public func record(_ saID: UInt64, mark: UInt64) {
        post(saID) { pending in
            if case .record(let earlier) = pending, earlier >= mark { return pending }
            return .record(mark)
        }
    }

    /// SA `saID` is gone: its mark is deleted.
    public func forget(_ saID: UInt64) {
        post(saID) { _ in .forget }
    }

    /// Whether nothing is pending or in flight (tests, shutdown).
    public var idle: Bool { state.withLockedValue { $0.pending.isEmpty && $0.busy.isEmpty } }

    /// Every recorded mark by SA id; keys or values that are not marks are refused by key.
    public func load() async throws -> (marks: [UInt64: UInt64], refused: [String]) {
        let keyPrefix = prefix + "replay/"
        let range = try await client.range(keyPrefix, prefix: true)
        var marks: [UInt64: UInt64] = [:]
        var refused: [String] = []
        for entry in range.keyValues {
            let name = entry.key.dropFirst(keyPrefix.count)
            guard name.count == 16, let id = UInt64(name, radix: 16), let mark = Self.mark(entry.value) else {
                refused.append(entry.key)
                continue
            }
            marks[id] = mark
        }
        return (marks, refused)
    }

    // MARK: Writing

    private func post(_ saID: UInt64, _ merge: (Change?) -> Change?) {
        let start = state.withLockedValue { state -> Bool in
            state.pending[saID] = merge(state.pending[saID])
            return state.busy.insert(saID).inserted
        }
        if start { Task { await drain(saID) } }
    }

    private func drain(_ saID: UInt64) async {
        while true {
            let change = state.withLockedValue { state -> Change? in
                guard let change = state.pending.removeValue(forKey: saID) else {
                    state.busy.remove(saID)
                    return nil
                }
                return change
            }
            guard let change else { return }
            do {
                switch change {
                case .record(let mark): try await write(saID, mark)
                case .forget: try await delete(saID)
                }
            } catch {
                state.withLockedValue { $0.counters.failed += 1 }
                logger.warning("HA: replay mark of SA \(saID): \(error)")
            }
        }
    }

    private enum Outcome { case written, kept, fenced }

    private func write(_ saID: UInt64, _ mark: UInt64) async throws {
        let outcome = try await put(saID, mark)
        state.withLockedValue {
            switch outcome {
            case .written: $0.counters.puts += 1
            case .kept: $0.counters.kept += 1
            case .fenced: $0.counters.fenced += 1
            }
        }
    }

    /// At most three rounds: the compare chosen from what etcd held at the last round.
    private func put(_ saID: UInt64, _ mark: UInt64) async throws -> Outcome {
        let key = Self.key(prefix: prefix, saID: saID)
        let value = Array(Self.hex(mark).utf8)
        var guardOnKey = EtcdCompare(key: key, .valueBelow(value))
        for _ in 0..<3 {
            guard let term = term() else { return .fenced }
            let result = try await client.txn(
                compare: [EtcdCompare(key: leaderKey, .createRevision(term)), guardOnKey],
                success: [.put(key: key, value: value, lease: nil)],
                failure: [.range(key: leaderKey), .range(key: key)])
            if result.succeeded { return .written }
            guard result.ranges.count == 2, result.ranges[0].first?.createRevision == term else { return .fenced }
            guard let stored = result.ranges[1].first else {
                guardOnKey = EtcdCompare(key: key, .createRevision(0))
                continue
            }
            guard let storedMark = Self.mark(stored.value) else {
                // Not a mark (written by hand?): replaced, if nobody changed it meanwhile.
                logger.warning("HA: \(key) does not hold a mark; replacing it")
                guardOnKey = EtcdCompare(key: key, .modRevision(stored.modRevision))
                continue
            }
            if storedMark >= mark { return .kept }
            guardOnKey = EtcdCompare(key: key, .valueBelow(value))
        }
        throw ReplayMarkError("\(key): etcd changed under three attempts")
    }

    private func delete(_ saID: UInt64) async throws {
        guard let term = term() else {
            state.withLockedValue { $0.counters.fenced += 1 }
            return
        }
        let result = try await client.txn(compare: [EtcdCompare(key: leaderKey, .createRevision(term))],
                                          success: [.delete(key: Self.key(prefix: prefix, saID: saID))])
        state.withLockedValue { if result.succeeded { $0.counters.deletes += 1 } else { $0.counters.fenced += 1 } }
    }
}

public struct ReplayMarkError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
