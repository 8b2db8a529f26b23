import Cluster
import XCTest

/// The agent's connection phases and their stop, with an injected clock: each phase's stop
/// plan, no attempt after a stop, the bound on waits on the network, the second signal,
/// backoff and the throttled failure log.
final class AgentConnectionMachineTests: XCTestCase {
    let t0 = ClusterInstant(nanoseconds: 1_000_000_000)

    func machine() -> AgentConnectionMachine {
        AgentConnectionMachine(minimumBackoff: .milliseconds(200), maximumBackoff: .seconds(5),
                               handshakeTimeout: .seconds(10), logInterval: .seconds(60))
    }

    func testStopWhileBackingOffCancelsTheRetryAndNothingStartsAfter() {
        var m = machine()
        XCTAssertTrue(m.connectStarted(now: t0))
        XCTAssertNotNil(m.failed(now: t0 + .milliseconds(3)))
        guard case .backingOff = m.phase else { return XCTFail("backing off: \(m.phase)") }
        let plan = m.stop(now: t0 + .seconds(1), bound: .seconds(2))
        XCTAssertTrue(plan.cancelRetry)
        XCTAssertFalse(plan.abortConnection)
        XCTAssertEqual(plan.deadline, t0 + .seconds(3))
        // A retry timer that fires anyway starts nothing; a late failure schedules nothing.
        XCTAssertFalse(m.connectStarted(now: t0 + .seconds(2)))
        XCTAssertNil(m.failed(now: t0 + .seconds(2)))
    }

    func testStopWhileConnectingAbortsTheConnectAndALateConnectIsClosed() {
        var m = machine()
        XCTAssertTrue(m.connectStarted(now: t0))
        let plan = m.stop(now: t0 + .milliseconds(100), bound: .seconds(2))
        XCTAssertTrue(plan.abortConnection)
        XCTAssertFalse(plan.cancelRetry)
        XCTAssertFalse(m.connected(now: t0 + .milliseconds(200)), "TCP that comes up after the stop is closed at once")
        XCTAssertNil(m.failed(now: t0 + .milliseconds(300)))
    }

    func testStopDuringTheHandshakeAbortsIt() {
        var m = machine()
        XCTAssertTrue(m.connectStarted(now: t0))
        XCTAssertTrue(m.connected(now: t0 + .milliseconds(5)))
        XCTAssertEqual(m.phase, .handshaking(since: t0 + .milliseconds(5)))
        let plan = m.stop(now: t0 + .seconds(1), bound: .seconds(2))
        XCTAssertTrue(plan.abortConnection)
        m.welcomed()
        XCTAssertTrue(m.isStopping, "a Welcome after the stop does not rejoin")
    }

    func testAHandshakeThatNeverEndsExpires() {
        var m = machine()
        _ = m.connectStarted(now: t0)
        _ = m.connected(now: t0)
        XCTAssertFalse(m.handshakeExpired(now: t0 + .seconds(9)))
        XCTAssertTrue(m.handshakeExpired(now: t0 + .seconds(10)))
        m.welcomed()
        XCTAssertFalse(m.handshakeExpired(now: t0 + .seconds(60)), "joined: no handshake to expire")
    }

    func testStopWhenJoinedClosesTheChannelWithinTheBound() {
        var m = machine()
        _ = m.connectStarted(now: t0)
        _ = m.connected(now: t0)
        m.welcomed()
        let plan = m.stop(now: t0 + .seconds(5), bound: .seconds(2))
        XCTAssertTrue(plan.closeJoinedChannel)
        XCTAssertTrue(m.mayWaitOnNetwork(now: t0 + .seconds(6)))
        XCTAssertFalse(m.mayWaitOnNetwork(now: t0 + .seconds(7)), "the bound ends the waits on the network")
    }

    func testTheSecondSignalEndsTheWaitsAtOnceAndKeepsTheFirstDeadline() {
        var m = machine()
        _ = m.connectStarted(now: t0)
        _ = m.connected(now: t0)
        m.welcomed()
        let first = m.stop(now: t0, bound: .seconds(2))
        let second = m.stop(now: t0 + .seconds(1), bound: .seconds(2))
        XCTAssertEqual(second.deadline, first.deadline, "a repeated stop does not move the deadline")
        XCTAssertTrue(m.mayWaitOnNetwork(now: t0 + .seconds(1)))
        m.hurry()
        XCTAssertFalse(m.mayWaitOnNetwork(now: t0 + .seconds(1)))
        XCTAssertEqual(m.phase, .stopping(deadline: first.deadline, hurried: true))
        m.finished()
        XCTAssertEqual(m.phase, .stopped)
        m.hurry()
        XCTAssertEqual(m.phase, .stopped)
    }

    func testGraceAfterLosingTheRoutingNodeThenStop() {
        // Joined, the routing node goes away: the agent backs off (holding its SAs for the
        // grace, AgentShadowCache); a stop cancels the retry and nothing reconnects.
        var m = machine()
        _ = m.connectStarted(now: t0)
        _ = m.connected(now: t0)
        m.welcomed()
        var at = t0 + .seconds(1)
        for _ in 0..<20 {
            guard let retry = m.failed(now: at) else { return XCTFail("retries while not stopping") }
            at = at + retry.delay
            XCTAssertTrue(m.connectStarted(now: at))
        }
        XCTAssertNotNil(m.failed(now: at))
        let plan = m.stop(now: at + .milliseconds(10), bound: .seconds(2))
        XCTAssertTrue(plan.cancelRetry)
        XCTAssertFalse(m.connectStarted(now: at + .seconds(6)))
    }

    func testStopBeforeStartIsHarmless() {
        var m = machine()
        let plan = m.stop(now: t0, bound: .seconds(2))
        XCTAssertEqual(plan.deadline, t0 + .seconds(2))
        XCTAssertFalse(plan.cancelRetry || plan.abortConnection || plan.closeJoinedChannel)
        XCTAssertFalse(m.connectStarted(now: t0))
    }

    func testBackoffDoublesUpToTheMaximumAndAWelcomeResetsIt() {
        var m = machine()
        var delays: [Duration] = []
        for i in 0..<7 {
            _ = m.connectStarted(now: t0 + .seconds(Int64(i)))
            delays.append(m.failed(now: t0 + .seconds(Int64(i)))!.delay)
        }
        XCTAssertEqual(delays, [.milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600),
                                .milliseconds(3200), .seconds(5), .seconds(5)])
        _ = m.connectStarted(now: t0 + .seconds(10))
        _ = m.connected(now: t0 + .seconds(10))
        m.welcomed()
        XCTAssertEqual(m.failures, 0)
        XCTAssertEqual(m.failed(now: t0 + .seconds(11))?.delay, .milliseconds(200))
    }

    func testJitterStaysWithinAQuarter() {
        var m = machine()
        _ = m.connectStarted(now: t0)
        XCTAssertEqual(m.failed(now: t0, jitter: 9)?.delay, .milliseconds(250))
    }

    func testTheFailureLogIsThrottled() {
        // An hour of an unreachable routing node: attempts 1, 2, 4, 8, ... are logged, then
        // one line a minute (with the count of the ones not logged).
        var m = machine()
        var at = t0
        var logged: [Int] = []
        var suppressedTotal = 0
        while at < t0 + .seconds(3600) {
            _ = m.connectStarted(now: at)
            let retry = m.failed(now: at)!
            if retry.log {
                logged.append(retry.attempt)
                suppressedTotal += retry.suppressed
            }
            at = at + retry.delay
        }
        XCTAssertEqual(Array(logged.prefix(5)), [1, 2, 4, 8, 16])
        XCTAssertLessThanOrEqual(logged.count, 75, "about one line a minute, not one per attempt (\(m.failures) attempts)")
        XCTAssertGreaterThan(m.failures, 700)
        XCTAssertEqual(suppressedTotal + logged.count, logged.last, "every failure up to the last line is logged or counted")
    }

    // MARK: Leader terms (issue 19 item 4)

    /// Without HA every frame carries `.none`: always accepted, the term stays `.none`.
    func testWithoutHAEveryFrameIsAcceptedAndNoTermIsKept() {
        var m = machine()
        for _ in 0..<3 { XCTAssertEqual(m.received(term: .none), .accept) }
        XCTAssertEqual(m.term, .none)
    }

    /// The term only grows: equal and newer are accepted (a newer one is a takeover and becomes
    /// the agent's), an older one is stale from then on, across reconnects and failures.
    func testAnOlderTermIsRefusedAndANewerOneAcceptedAcrossReconnects() {
        var m = machine()
        XCTAssertTrue(m.connectStarted(now: t0))
        XCTAssertTrue(m.connected(now: t0))
        XCTAssertEqual(m.received(term: ClusterTerm(40)), .accept, "the first Welcome of an HA routing node")
        m.welcomed()
        XCTAssertEqual(m.term, ClusterTerm(40))
        XCTAssertEqual(m.received(term: ClusterTerm(40)), .accept, "frames of the same term")
        XCTAssertEqual(m.received(term: ClusterTerm(39)), .stale(current: ClusterTerm(40)))
        XCTAssertEqual(m.received(term: .none), .stale(current: ClusterTerm(40)), "no term is older than any term")
        XCTAssertEqual(m.term, ClusterTerm(40), "a stale frame changes nothing")

        // The routing node dies; the agent reconnects elsewhere.
        XCTAssertNotNil(m.failed(now: t0 + .seconds(1)))
        XCTAssertTrue(m.connectStarted(now: t0 + .seconds(2)))
        XCTAssertTrue(m.connected(now: t0 + .seconds(2)))
        XCTAssertEqual(m.received(term: ClusterTerm(12)), .stale(current: ClusterTerm(40)), "a deposed node's Welcome")
        XCTAssertNotNil(m.failed(now: t0 + .seconds(3)))
        XCTAssertEqual(m.term, ClusterTerm(40), "kept across the failure")
        XCTAssertTrue(m.connectStarted(now: t0 + .seconds(4)))
        XCTAssertTrue(m.connected(now: t0 + .seconds(4)))
        XCTAssertEqual(m.received(term: ClusterTerm(57)), .accept, "the new active's Welcome (takeover)")
        m.welcomed()
        XCTAssertEqual(m.term, ClusterTerm(57))
        XCTAssertEqual(m.received(term: ClusterTerm(40)), .stale(current: ClusterTerm(57)), "the old active is stale now")
        XCTAssertEqual(m.received(term: ClusterTerm(57)), .accept)
    }

    /// Random terms in any order: the machine's term is always the largest accepted so far,
    /// and exactly the frames below it are stale.
    func testRandomTermsAgreeWithAMaximumModel() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var m = machine()
            var highest: UInt64 = 0
            for _ in 0..<50 {
                let raw = UInt64.random(in: 0...20, using: &generator)
                let verdict = m.received(term: ClusterTerm(raw))
                if raw < highest {
                    XCTAssertEqual(verdict, .stale(current: ClusterTerm(highest)))
                } else {
                    XCTAssertEqual(verdict, .accept)
                    highest = raw
                }
                XCTAssertEqual(m.term.rawValue, highest)
            }
        }
    }
}
