import Cluster
import HAElection
import Logging
import NIOConcurrencyHelpers
import XCTest
@testable import HACoordination

/// Two HAControllers (the election's I/O shell) against one real etcd: one wins, the other
/// stands by; the active cut from etcd steps down *before* the other becomes active; a
/// graceful stop hands over at once. Hooks record what `vipsec routing` would do, with the
/// monotonic time, so the order of step-down and takeover is exact.
final class HAControllerTests: XCTestCase {
    var server: EtcdTestServer!

    override func setUpWithError() throws {
        server = try EtcdTestServer()
        try server.start()
    }

    /// Every client made, shut down after each test however it ended (async-http-client
    /// traps on a client released without a shutdown).
    var nodes: [Node] = []

    override func tearDown() async throws {
        for node in nodes {
            node.task.cancel()
            await node.controller.stop(bound: .milliseconds(200))
            await node.client.shutdown()
        }
        nodes = []
        server?.stop()
        server = nil
    }

    /// What the hooks saw, in order.
    final class Journal: Sendable {
        enum Event: Equatable {
            case active(term: Int64, at: UInt64)
            case stopped(term: Int64, reason: StepDownReason, at: UInt64)
        }
        let events = NIOLockedValueBox<[Event]>([])
        let refreshes = NIOLockedValueBox<[UInt32]>([])

        var hooks: HAController.Hooks {
            HAController.Hooks(
                becomeActive: { term in self.events.withLockedValue { $0.append(.active(term: term, at: HAController.now.nanoseconds)) } },
                stopServing: { term, reason in
                    self.events.withLockedValue { $0.append(.stopped(term: term, reason: reason, at: HAController.now.nanoseconds)) }
                },
                refreshAddressLifetime: { seconds in self.refreshes.withLockedValue { $0.append(seconds) } })
        }
        var activations: [(term: Int64, at: UInt64)] {
            events.withLockedValue { $0.compactMap { if case .active(let t, let at) = $0 { return (t, at) } else { return nil } } }
        }
        var stops: [(term: Int64, reason: StepDownReason, at: UInt64)] {
            events.withLockedValue { $0.compactMap { if case .stopped(let t, let r, let at) = $0 { return (t, r, at) } else { return nil } } }
        }
    }

    struct Node {
        let controller: HAController
        let client: EtcdClient
        let journal: Journal
        let task: Task<Void, Never>
    }

    func node(_ name: String) throws -> Node {
        let client = try EtcdClient(.init(endpoints: [server.endpoint],
                                          tls: EtcdTLSFiles(caPath: server.path("ca.crt"), certificatePath: server.path("client.crt"),
                                                            keyPath: server.path("client.key")),
                                          requestTimeout: .milliseconds(600)))
        let journal = Journal()
        var logger = Logger(label: "test.\(name)")
        logger.logLevel = .warning
        let controller = HAController(node: name, prefix: "/vipsec/test/", client: client,
                                      configuration: ElectionConfiguration(leaseTTL: .seconds(2)), hooks: journal.hooks, logger: logger)
        let node = Node(controller: controller, client: client, journal: journal, task: Task { await controller.run() })
        nodes.append(node)
        return node
    }

    /// Polls `condition` every 50 ms for at most `seconds` (a state, not a guessed sleep).
    func waitFor(_ seconds: Double, _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }

    func testOneWinsAndACutActiveStepsDownBeforeTheOtherTakesOver() async throws {
        let a = try node("a"), b = try node("b")
        defer { a.task.cancel(); b.task.cancel() }
        let oneActive = await waitFor(20) { [a.controller.status.role, b.controller.status.role].filter { $0 == .active }.count == 1 }
        XCTAssertTrue(oneActive, "exactly one must win: a \(a.controller.status.role), b \(b.controller.status.role)")
        let (active, standby) = a.controller.status.role == .active ? (a, b) : (b, a)
        let standbySees = await waitFor(5) { standby.controller.status.leader == active.controller.status.node }
        XCTAssertTrue(standbySees, "the standby reads the leader key")
        XCTAssertEqual(standby.controller.status.role, .standby)
        XCTAssertTrue(active.controller.maySend())
        XCTAssertFalse(standby.controller.maySend())
        let firstTerm = try XCTUnwrap(active.controller.status.term)
        let refreshed = await waitFor(5) { !active.journal.refreshes.withLockedValue { $0.isEmpty } }
        XCTAssertTrue(refreshed, "keepalive answers refresh the DVIPA's lifetime")
        XCTAssertTrue(active.journal.refreshes.withLockedValue { $0.allSatisfy { $0 >= 1 && $0 <= 2 } },
                      "lifetimes within the 2 s lease: \(active.journal.refreshes.withLockedValue { $0 })")

        // Cut the active from etcd: every request of its client fails from now on.
        await active.client.shutdown()
        let stepped = await waitFor(10) { !active.journal.stops.isEmpty }
        XCTAssertTrue(stepped, "the cut active must step down by itself")
        XCTAssertEqual(active.journal.stops.first?.reason, .deadline)
        XCTAssertFalse(active.controller.maySend())
        let tookOver = await waitFor(15) { !standby.journal.activations.isEmpty }
        XCTAssertTrue(tookOver, "the standby must take over once the lease expired")
        let stepDown = try XCTUnwrap(active.journal.stops.first?.at), takeover = try XCTUnwrap(standby.journal.activations.first?.at)
        XCTAssertLessThan(stepDown, takeover, "never two actives: step-down \(stepDown), takeover \(takeover)")
        XCTAssertGreaterThan(try XCTUnwrap(standby.journal.activations.first?.term), firstTerm, "terms only grow")
        let termRecord = try await standby.client.range("/vipsec/test/term").keyValues.first?.value
        XCTAssertEqual(termRecord.map { String(decoding: $0, as: UTF8.self) },
                       "\(standby.journal.activations.first!.term) \(standby.controller.status.node)",
                       "the new active's guarded write of its term")
        await standby.controller.stop()
    }

    func testAGracefulStopHandsOverWithoutWaitingForTheLease() async throws {
        let a = try node("a"), b = try node("b")
        defer { a.task.cancel(); b.task.cancel() }
        let oneActive = await waitFor(20) { [a.controller.status.role, b.controller.status.role].filter { $0 == .active }.count == 1 }
        XCTAssertTrue(oneActive)
        let (active, standby) = a.controller.status.role == .active ? (a, b) : (b, a)
        await active.controller.stop()
        XCTAssertEqual(active.journal.stops.first?.reason, .shutdown)
        XCTAssertEqual(active.controller.status.role, .stopped)
        let tookOver = await waitFor(15) { standby.controller.status.role == .active }
        XCTAssertTrue(tookOver)
        // The stopped node's lease was revoked: the leader key is the standby's.
        let leader = try await standby.client.range("/vipsec/test/leader").keyValues.first
        XCTAssertEqual(leader.map { String(decoding: $0.value, as: UTF8.self) }, standby.controller.status.node)
        await standby.controller.stop()
        await active.client.shutdown()
        await standby.client.shutdown()
    }

    func testWithEtcdDownNobodyServes() async throws {
        server.stop()
        let a = try node("a")
        defer { a.task.cancel() }
        try await Task.sleep(for: .seconds(2))
        XCTAssertNotEqual(a.controller.status.role, .active)
        XCTAssertFalse(a.controller.maySend())
        XCTAssertFalse(a.controller.status.etcdReachable)
        XCTAssertTrue(a.journal.activations.isEmpty)
        await a.controller.stop()
        await a.client.shutdown()
    }
}
