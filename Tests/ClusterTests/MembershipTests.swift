import XCTest
@testable import Cluster

final class MembershipTests: XCTestCase {
    private let t1 = Fixture.node("t1"), t2 = Fixture.node("t2")
    private let start = ClusterInstant(nanoseconds: 5_000_000_000)

    private func hello(_ node: NodeID, incarnation: UInt64 = 1, held: ClusterEpoch = .none) -> ClusterMessage.Hello {
        .init(nodeID: node, clusterAddress: .v4(10, 9, 0, 2), capabilities: [], maximumReplayWindow: 64,
              incarnation: incarnation, heldEpoch: held)
    }

    func testJoinReconnectAndRestartAreTold() {
        var membership = Membership(epoch: Fixture.epoch)
        XCTAssertEqual(membership.join(hello(t1), now: start).kind, .new)
        XCTAssertEqual(membership.join(hello(t1), now: start).kind, .reconnected)
        XCTAssertEqual(membership.join(hello(t1, incarnation: 2), now: start).kind, .restarted)
        XCTAssertEqual(membership.members[t1]?.incarnation, 2)
        XCTAssertEqual(membership.liveMembers, [t1])
    }

    func testStaleEpochIsFlaggedAndWelcomeCarriesTheTimers() {
        var membership = Membership(epoch: Fixture.epoch, configuration: .init(heartbeatInterval: .milliseconds(250),
                                                                                failureTimeout: .milliseconds(1500)))
        let stale = membership.join(hello(t1, held: ClusterEpoch(rawValue: 1)), now: start)
        XCTAssertTrue(stale.agentHoldsStaleSAs)
        XCTAssertEqual(stale.welcome, .init(epoch: Fixture.epoch, heartbeatIntervalMilliseconds: 250, failureTimeoutMilliseconds: 1500))
        XCTAssertFalse(membership.join(hello(t2, held: Fixture.epoch), now: start).agentHoldsStaleSAs)
        XCTAssertFalse(membership.join(hello(t2, held: .none), now: start).agentHoldsStaleSAs)
    }

    func testFailureDetectionUsesTheInjectedClock() {
        var membership = Membership(epoch: Fixture.epoch, configuration: .init(failureTimeout: .seconds(3)))
        _ = membership.join(hello(t1), now: start)
        _ = membership.join(hello(t2), now: start)
        XCTAssertTrue(membership.heard(from: t1, now: start + .seconds(2)))
        XCTAssertEqual(membership.nextExpiry, start + .seconds(3))
        XCTAssertEqual(membership.expire(now: start + .seconds(3) + .nanoseconds(-1)), [])
        XCTAssertEqual(membership.expire(now: start + .seconds(3)), [t2])
        // An older timestamp does not move t1's last contact back.
        XCTAssertTrue(membership.heard(from: t1, now: start))
        XCTAssertEqual(membership.expire(now: start + .seconds(4)), [])
        XCTAssertEqual(membership.expire(now: start + .seconds(5)), [t1])
        XCTAssertFalse(membership.heard(from: t1, now: start + .seconds(6)), "not a member any more")
        XCTAssertNil(membership.nextExpiry)
    }

    func testFreshEpochsAreNonZeroAndDiffer() {
        var generator = SeededGenerator(seed: 3)
        let epochs = (0..<100).map { _ in ClusterEpoch.fresh(using: &generator) }
        XCTAssertFalse(epochs.contains(.none))
        XCTAssertEqual(Set(epochs).count, 100)
    }

    func testNodeIDRules() {
        XCTAssertThrowsError(try NodeID(""))
        XCTAssertThrowsError(try NodeID(String(repeating: "x", count: 65)))
        XCTAssertThrowsError(try NodeID("t\n1"))
        XCTAssertNoThrow(try NodeID(String(repeating: "x", count: 64)))
    }

    func testClusterTimeArithmetic() {
        XCTAssertEqual(start + .milliseconds(1500), ClusterInstant(nanoseconds: 6_500_000_000))
        XCTAssertEqual(ClusterInstant(nanoseconds: 5) + .seconds(-1), .zero)
        XCTAssertEqual(ClusterInstant(nanoseconds: .max - 1) + .seconds(1), ClusterInstant(nanoseconds: .max))
        XCTAssertEqual((start + .seconds(2)) - start, .seconds(2))
        XCTAssertEqual(start - (start + .seconds(2)), .seconds(-2))
    }
}

final class AgentShadowCacheTests: XCTestCase {
    private let start = ClusterInstant(nanoseconds: 1_000)
    private let welcome = ClusterMessage.Welcome(epoch: Fixture.epoch, heartbeatIntervalMilliseconds: 500, failureTimeoutMilliseconds: 3000)

    func testInstallsInTheCurrentEpochAndRefusesOthers() {
        var cache = AgentShadowCache(grace: .seconds(10))
        // Not welcomed yet: even the right epoch is refused.
        XCTAssertEqual(cache.install(.init(sa: Fixture.sa(1)), now: start),
                       [.reply(.nack(.init(saID: ClusterSAID(1), operation: .installSA, reason: .staleEpoch,
                                           detail: "agent is in epoch 0, SA in \(Fixture.epoch)")))])
        XCTAssertEqual(cache.welcomed(welcome, now: start), [])
        XCTAssertEqual(cache.install(.init(sa: Fixture.sa(1)), now: start), [.installInKernel(Fixture.sa(1), block: nil)])
        // The same SA again (a resync): acknowledged without touching the kernel.
        XCTAssertEqual(cache.install(.init(sa: Fixture.sa(1)), now: start), [.reply(.ack(.init(saID: ClusterSAID(1), operation: .installSA)))])
        // A changed description under the same id is installed again (XFRM_MSG_UPDSA).
        var changed = Fixture.sa(1)
        changed.replayWindow = 64
        XCTAssertEqual(cache.install(.init(sa: changed), now: start), [.installInKernel(changed, block: nil)])
        let old = Fixture.sa(2, epoch: ClusterEpoch(rawValue: 5))
        guard case .reply(.nack(let nack))? = cache.install(.init(sa: old), now: start).first else { return XCTFail() }
        XCTAssertEqual(nack.reason, .staleEpoch)
        XCTAssertEqual(Array(cache.sas.keys), [ClusterSAID(1)])
    }

    func testWelcomeIntoANewEpochDropsEveryOldSA() {
        var cache = AgentShadowCache(grace: .seconds(10))
        _ = cache.welcomed(welcome, now: start)
        _ = cache.install(.init(sa: Fixture.sa(1)), now: start)
        _ = cache.install(.init(sa: Fixture.sa(2)), now: start)
        // Same epoch again (a reconnect): nothing is dropped.
        XCTAssertEqual(cache.welcomed(welcome, now: start), [])
        // A restarted routing node: new epoch, everything goes.
        var next = welcome
        next.epoch = ClusterEpoch(rawValue: 42)
        XCTAssertEqual(cache.welcomed(next, now: start), [.removeFromKernel(Fixture.sa(1)), .removeFromKernel(Fixture.sa(2))])
        XCTAssertTrue(cache.sas.isEmpty)
        XCTAssertEqual(cache.epoch, ClusterEpoch(rawValue: 42))
    }

    func testFullStateRemovesWhatIsNotListedAndDeleteIsIdempotent() {
        var cache = AgentShadowCache(grace: .seconds(10))
        _ = cache.welcomed(welcome, now: start)
        for id in UInt64(1)...3 { _ = cache.install(.init(sa: Fixture.sa(id)), now: start) }
        XCTAssertEqual(cache.fullState(.init(epoch: Fixture.epoch, saIDs: [ClusterSAID(2)]), now: start),
                       [.removeFromKernel(Fixture.sa(1)), .removeFromKernel(Fixture.sa(3))])
        XCTAssertEqual(cache.delete(.init(saID: ClusterSAID(2), epoch: Fixture.epoch), now: start), [.removeFromKernel(Fixture.sa(2))])
        XCTAssertEqual(cache.delete(.init(saID: ClusterSAID(2), epoch: Fixture.epoch), now: start),
                       [.reply(.ack(.init(saID: ClusterSAID(2), operation: .deleteSA)))])
        XCTAssertEqual(cache.delete(.init(saID: ClusterSAID(2), epoch: ClusterEpoch(rawValue: 9)), now: start),
                       [.reply(.nack(.init(saID: ClusterSAID(2), operation: .deleteSA, reason: .staleEpoch)))])
    }

    func testCountersAreReportedEveryStepUntilTheSAIsDeleted() {
        var cache = AgentShadowCache(grace: .seconds(10))
        _ = cache.welcomed(welcome, now: start)
        _ = cache.install(.init(sa: Fixture.sa(1)), now: start)  // step 100 000
        XCTAssertEqual(cache.observedCounters(ClusterSAID(1), bytes: 99_999, packets: 99), [])
        XCTAssertEqual(cache.observedCounters(ClusterSAID(1), bytes: 100_000, packets: 100),
                       [.reply(.lifesizeReport(.init(saID: ClusterSAID(1), bytes: 100_000, packets: 100)))])
        XCTAssertEqual(cache.observedCounters(ClusterSAID(1), bytes: 150_000, packets: 150), [])
        XCTAssertEqual(cache.observedCounters(ClusterSAID(9), bytes: 1_000_000, packets: 1), [], "unknown SA")
        XCTAssertEqual(cache.hardByteLimitReached(ClusterSAID(1), bytes: 160_000, packets: 160),
                       [.reply(.lifesizeReport(.init(saID: ClusterSAID(1), bytes: 160_000, packets: 160, hardLimitReached: true)))])
        _ = cache.delete(.init(saID: ClusterSAID(1), epoch: Fixture.epoch), now: start)
        XCTAssertEqual(cache.observedCounters(ClusterSAID(1), bytes: 500_000, packets: 500), [])
    }

    func testLosingTheClusterPastTheGraceDropsEverything() {
        var cache = AgentShadowCache(grace: .seconds(10))
        _ = cache.welcomed(welcome, now: start)
        _ = cache.install(.init(sa: Fixture.sa(1)), now: start + .seconds(1))
        XCTAssertEqual(cache.checkContact(now: start + .seconds(10)), [])
        XCTAssertEqual(cache.checkContact(now: start + .seconds(11)), [.removeFromKernel(Fixture.sa(1))])
        XCTAssertEqual(cache.epoch, .none)
        XCTAssertEqual(cache.checkContact(now: start + .seconds(30)), [])
    }
}

final class ConnectionTableTests: XCTestCase {
    private let t1 = Fixture.node("t1"), t2 = Fixture.node("t2"), t3 = Fixture.node("t3")
    private let now = ClusterInstant(nanoseconds: 1)

    private func flow(_ port: UInt16) -> InnerFiveTuple {
        InnerFiveTuple(source: .v4(10, 1, 0, 1), destination: Fixture.dvipa, sourcePort: port, destinationPort: 443, ipProtocol: 6)
    }

    func testFlowsStickAndSpreadOverTheLeastLoaded() {
        var table = NaiveConnectionTable()
        XCTAssertEqual(table.route(flow(1), candidates: [t1, t2], now: now), t1)
        XCTAssertEqual(table.route(flow(2), candidates: [t1, t2], now: now), t2)
        XCTAssertEqual(table.route(flow(1), candidates: [t1, t2], now: now), t1, "sticky")
        XCTAssertEqual(table.route(flow(3), candidates: [t2, t1], now: now), t1)
        XCTAssertEqual(table.flowsPerTarget, [t1: 2, t2: 1])
        XCTAssertNil(table.route(flow(4), candidates: [], now: now))
    }

    func testDeadTargetLosesOnlyItsOwnFlows() {
        var table = NaiveConnectionTable()
        for port in UInt16(1)...6 { _ = table.route(flow(port), candidates: [t1, t2, t3], now: now) }
        let before = (1...6).map { table.target(for: flow(UInt16($0))) }
        table.removeTarget(t2)
        for port in UInt16(1)...6 {
            let was = before[Int(port) - 1]
            XCTAssertEqual(table.target(for: flow(port)), was == t2 ? nil : was)
        }
        XCTAssertEqual(table.count, 4)
        // A flow whose target is no longer a candidate moves.
        XCTAssertEqual(table.route(flow(1), candidates: [t3], now: now), t3)
    }

    func testIdleFlowsExpire() {
        var table = NaiveConnectionTable()
        _ = table.route(flow(1), candidates: [t1], now: ClusterInstant(nanoseconds: 10))
        _ = table.route(flow(2), candidates: [t1], now: ClusterInstant(nanoseconds: 20))
        table.expire(idleSince: ClusterInstant(nanoseconds: 15))
        XCTAssertNil(table.target(for: flow(1)))
        XCTAssertEqual(table.target(for: flow(2)), t1)
        XCTAssertEqual(table.flowsPerTarget, [t1: 1])
    }

    /// Differential: the table agrees with a list-based model on random routes and removals.
    func testAgreesWithAListModel() {
        var generator = SeededGenerator(seed: 11)
        var table = NaiveConnectionTable()
        var model: [(InnerFiveTuple, NodeID)] = []
        let nodes = [t1, t2, t3]
        for _ in 0..<5000 {
            if Int.random(in: 0..<50, using: &generator) == 0 {
                let dead = nodes[Int.random(in: 0..<3, using: &generator)]
                table.removeTarget(dead)
                model.removeAll { $0.1 == dead }
                continue
            }
            let candidates = nodes.filter { _ in Bool.random(using: &generator) }
            let f = flow(UInt16.random(in: 1...200, using: &generator))
            let chosen = table.route(f, candidates: candidates, now: now)
            if let index = model.firstIndex(where: { $0.0 == f }), candidates.contains(model[index].1) {
                XCTAssertEqual(chosen, model[index].1)
            } else {
                model.removeAll { $0.0 == f }
                let load = { (n: NodeID) in model.filter { $0.1 == n }.count }
                let expected = candidates.min { (load($0), $0) < (load($1), $1) }
                XCTAssertEqual(chosen, expected)
                if let expected { model.append((f, expected)) }
            }
            XCTAssertEqual(table.count, model.count)
        }
    }
}
