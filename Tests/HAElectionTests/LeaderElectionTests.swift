import Cluster
import XCTest
@testable import HAElection

/// The election as a conversation with etcd, played by hand: every answer etcd could give,
/// at the times it could give them. Lease 3 s, margin 0.75 s, keepalive 0.5 s.
final class LeaderElectionTests: XCTestCase {
    let configuration = ElectionConfiguration(leaseTTL: .seconds(3))

    func at(_ seconds: Double) -> ClusterInstant { ClusterInstant(nanoseconds: UInt64(seconds * 1e9)) }

    /// A node that got lease 7 at t=0 and is standby (its leader read not answered yet).
    func standby(_ node: String = "router1") -> LeaderElection {
        var election = LeaderElection(node: node, configuration: configuration)
        XCTAssertEqual(election.start(now: at(0)), [.grantLease(ttl: .seconds(3))])
        XCTAssertEqual(election.leaseGranted(7, ttl: .seconds(3), sentAt: at(0), now: at(0)), [.readLeader])
        XCTAssertEqual(election.role, .standby)
        return election
    }

    /// A node active with term 42 since t=0.02.
    func active() -> LeaderElection {
        var election = standby()
        XCTAssertEqual(election.leaderRead(nil, now: at(0.015)), [.campaign(lease: 7)])
        XCTAssertEqual(election.campaignWon(term: 42, now: at(0.02)),
                       [.becomeActive(term: 42), .refreshAddressLifetime(seconds: 2)])
        return election
    }

    func testDefaultsFollowTheLease() {
        XCTAssertEqual(configuration.margin, .milliseconds(750))
        XCTAssertEqual(configuration.keepAliveInterval, .milliseconds(500))
        XCTAssertEqual(configuration.leaderPollInterval, .milliseconds(250))
    }

    func testAStandbyCampaignsWhenNobodyLeadsAndServesUntilItsDeadline() {
        var election = active()
        XCTAssertEqual(election.role, .active)
        XCTAssertEqual(election.term, 42)
        XCTAssertEqual(election.leader, LeaderRecord(node: "router1", term: 42, lease: 7))
        XCTAssertEqual(election.servingDeadline, at(2.25), "grant sent at 0 + TTL 3 - margin 0.75")
        XCTAssertTrue(election.maySend(now: at(2.2)))
        XCTAssertFalse(election.maySend(now: at(2.25)), "at the deadline the active is silent, even between ticks")
    }

    func testAStandbyDoesNotCampaignWhileSomeoneLeads() {
        var election = standby("router2")
        XCTAssertEqual(election.leaderRead(LeaderRecord(node: "router1", term: 42, lease: 9), now: at(0.1)), [])
        XCTAssertEqual(election.role, .standby)
        XCTAssertEqual(election.leader?.node, "router1")
        XCTAssertFalse(election.maySend(now: at(0.2)))
        // It polls the key again after the poll interval.
        XCTAssertEqual(election.nextDeadline, at(0.35))
        XCTAssertEqual(election.tick(now: at(0.35)), [.readLeader])
        // The leader died: its key is gone. Campaign.
        XCTAssertEqual(election.leaderRead(nil, now: at(0.4)), [.campaign(lease: 7)])
        XCTAssertEqual(election.role, .campaigning)
    }

    func testLosingTheCampaignKeepsTheStandbyWatching() {
        var election = standby("router2")
        _ = election.leaderRead(nil, now: at(0.1))
        let holder = LeaderRecord(node: "router1", term: 50, lease: 9)
        XCTAssertEqual(election.campaignLost(holder: holder, now: at(0.12)), [])
        XCTAssertEqual(election.role, .standby)
        XCTAssertEqual(election.leader, holder)
        XCTAssertEqual(election.highestTermSeen, 50)
        XCTAssertNil(election.term)
    }

    func testKeepalivesMoveTheDeadlineByTheirSendTimeNotTheirAnswerTime() {
        var election = active()
        XCTAssertTrue(election.tick(now: at(0.5)).contains(.keepAlive(lease: 7)))
        XCTAssertEqual(election.tick(now: at(0.6)), [], "one keepalive in flight at a time")
        // Answered late (1.4 s in flight): the lease at etcd counts from when etcd got it,
        // which we only know to be after 0.5.
        XCTAssertEqual(election.keepAliveAnswered(lease: 7, ttl: .seconds(3), sentAt: at(0.5), now: at(1.9)), [],
                       "0.85 s left: too little to refresh the address lifetime")
        XCTAssertEqual(election.servingDeadline, at(2.75))
        // An older answer arriving after a newer one never moves the deadline back.
        XCTAssertEqual(election.keepAliveAnswered(lease: 7, ttl: .seconds(3), sentAt: at(0.4), now: at(1.95)), [])
        XCTAssertEqual(election.servingDeadline, at(2.75))
    }

    func testTheAddressLifetimeNeverOutlivesTheDeadline() {
        var election = active()
        _ = election.tick(now: at(0.5))
        XCTAssertEqual(election.keepAliveAnswered(lease: 7, ttl: .seconds(3), sentAt: at(0.5), now: at(0.52)),
                       [.refreshAddressLifetime(seconds: 2)], "deadline 2.75, now 0.52: 2.23 s → 2 whole seconds")
        XCTAssertEqual(election.addressLifetime(now: at(1.8)), nil, "0.95 s left: less than a second, leave it")
        XCTAssertEqual(election.addressLifetime(now: at(1.7)), 1)
        for tenth in 0...40 {
            let now = at(Double(tenth) / 10)
            if let seconds = election.addressLifetime(now: now), let deadline = election.servingDeadline {
                XCTAssertLessThanOrEqual(now + .seconds(Int64(seconds)), deadline)
            }
        }
    }

    func testTheActiveStepsDownAtItsDeadlineWhenEtcdGoesQuiet() {
        var election = active()
        // Keepalives go out and fail (etcd cut off): nothing happens until the deadline.
        XCTAssertTrue(election.tick(now: at(0.5)).contains(.keepAlive(lease: 7)))
        XCTAssertEqual(election.keepAliveFailed(now: at(0.8)), [])
        XCTAssertEqual(election.role, .active)
        XCTAssertFalse(election.etcdReachable)
        XCTAssertEqual(election.tick(now: at(1.0)), [.keepAlive(lease: 7)])
        XCTAssertEqual(election.keepAliveFailed(now: at(1.3)), [])
        XCTAssertEqual(election.nextDeadline, at(1.5))
        _ = election.tick(now: at(1.5))
        _ = election.keepAliveFailed(now: at(1.8))
        _ = election.tick(now: at(2.0))
        _ = election.keepAliveFailed(now: at(2.2))
        XCTAssertEqual(election.role, .active)
        XCTAssertTrue(election.maySend(now: at(2.24)))
        // 2.25 = grant sent at 0 + 3 - 0.75: step down, before etcd could expire the lease (3.0).
        XCTAssertEqual(election.tick(now: at(2.25)),
                       [.stopServing(term: 42, reason: .deadline), .revokeLease(lease: 7), .grantLease(ttl: .seconds(3))])
        XCTAssertEqual(election.role, .starting)
        XCTAssertFalse(election.maySend(now: at(2.25)))
        XCTAssertEqual(election.stepDowns[.deadline], 1)
        XCTAssertEqual(election.term, 42, "the last term held stays visible")
    }

    func testASlowTickStillStopsTheSendPaths() {
        // The event loop is late: no tick at the deadline. maySend alone already refuses.
        var election = active()
        XCTAssertFalse(election.maySend(now: at(5)))
        XCTAssertEqual(election.tick(now: at(5)).first, .stopServing(term: 42, reason: .deadline))
    }

    func testAnUnknownLeaseStepsDownAtOnce() {
        var election = active()
        _ = election.tick(now: at(0.5))
        XCTAssertEqual(election.keepAliveAnswered(lease: 7, ttl: .zero, sentAt: at(0.5), now: at(0.6)),
                       [.stopServing(term: 42, reason: .leaseLost), .grantLease(ttl: .seconds(3))])
        XCTAssertEqual(election.role, .starting)
        XCTAssertNil(election.lease)
    }

    func testAFencedWriteStepsDown() {
        var election = active()
        XCTAssertEqual(election.writeFenced(now: at(1)),
                       [.stopServing(term: 42, reason: .fenced), .revokeLease(lease: 7), .grantLease(ttl: .seconds(3))])
        XCTAssertEqual(election.stepDowns[.fenced], 1)
        XCTAssertEqual(election.writeFenced(now: at(1.1)), [], "only the active can be fenced")
    }

    func testAnAgentShowingANewerTermDeposesTheActiveOnce() {
        var election = active()
        XCTAssertEqual(election.newerTermSeen(42, now: at(0.1)), [], "its own term")
        XCTAssertEqual(election.newerTermSeen(30, now: at(0.1)), [], "an older term (an agent not yet welcomed)")
        XCTAssertEqual(election.role, .active)
        XCTAssertEqual(election.newerTermSeen(57, now: at(0.2)),
                       [.stopServing(term: 42, reason: .deposed), .revokeLease(lease: 7), .grantLease(ttl: .seconds(3))])
        XCTAssertEqual(election.stepDowns[.deposed], 1)
        XCTAssertFalse(election.maySend(now: at(0.2)))
        XCTAssertEqual(election.newerTermSeen(58, now: at(0.3)), [], "stepped down already: nothing more")
        XCTAssertEqual(election.stepDowns[.deposed], 1)
    }

    func testTheActiveSeeingAnotherTermOnTheLeaderKeyStepsDown() {
        var election = active()
        _ = election.tick(now: at(0.27))   // keepalive not due yet; leader read due at 0.265
        XCTAssertEqual(election.leaderRead(LeaderRecord(node: "router2", term: 60, lease: 9), now: at(0.3)),
                       [.stopServing(term: 42, reason: .fenced), .revokeLease(lease: 7), .grantLease(ttl: .seconds(3))])
        XCTAssertEqual(election.highestTermSeen, 60)
    }

    func testWinningWithAnExpiredLeaseDoesNotServe() {
        var election = standby()
        _ = election.leaderRead(nil, now: at(0.1))
        // The campaign's answer arrives after our deadline (2.25): we cannot prove the lease.
        let actions = election.campaignWon(term: 42, now: at(2.3))
        XCTAssertFalse(actions.contains(.becomeActive(term: 42)))
        XCTAssertEqual(election.role, .starting)
        XCTAssertEqual(actions.last, .grantLease(ttl: .seconds(3)))
    }

    func testAFailedGrantIsRetried() {
        var election = LeaderElection(node: "router1", configuration: configuration)
        _ = election.start(now: at(0))
        XCTAssertEqual(election.leaseGrantFailed(now: at(1)), [])
        XCTAssertEqual(election.nextDeadline, at(1.5))
        XCTAssertEqual(election.tick(now: at(1.4)), [])
        XCTAssertEqual(election.tick(now: at(1.5)), [.grantLease(ttl: .seconds(3))])
    }

    func testAStandbyWithoutAKeepaliveForItsLeaseGetsANewLeaseBeforeCampaigning() {
        var election = standby()
        _ = election.leaderRead(LeaderRecord(node: "router2", term: 5, lease: 9), now: at(0.1))
        // Keepalives fail until the deadline: the standby takes a new lease (it must not
        // campaign with a lease it cannot prove alive).
        XCTAssertEqual(election.tick(now: at(2.25)), [.revokeLease(lease: 7), .grantLease(ttl: .seconds(3))])
        XCTAssertEqual(election.leaderRead(nil, now: at(2.3)), [], "no campaign while starting")
        XCTAssertEqual(election.leaseGranted(8, ttl: .seconds(3), sentAt: at(2.4), now: at(2.5)), [.readLeader])
        XCTAssertEqual(election.leaderRead(nil, now: at(2.6)), [.campaign(lease: 8)])
    }

    /// etcd loses its majority (ha-etcd-loss in the lab): every request fails for 20 s. The
    /// active steps down at its deadline, asks for a lease every retry interval and never
    /// serves meanwhile; when etcd is back its own leader key of the old lease (etcd extended
    /// that lease when its new leader took over) is someone else's for it: it waits until
    /// the key is gone, then campaigns and serves in a new term.
    func testAfterAMajorityLossNobodyServesUntilEtcdIsBackAndTheOldKeyIsGone() {
        var election = active()
        var now = 0.0
        var everServed = false
        // Keepalives, then grants, all fail until t = 20.
        while now < 20 {
            now += 0.05
            for action in election.tick(now: at(now)) {
                switch action {
                case .keepAlive: _ = election.keepAliveFailed(now: at(now + 0.01))
                case .grantLease: _ = election.leaseGrantFailed(now: at(now + 0.01))
                case .readLeader: _ = election.leaderReadFailed(now: at(now + 0.01))
                case .becomeActive: everServed = true
                default: break
                }
            }
            if now >= 2.25 {
                XCTAssertFalse(election.maySend(now: at(now)), "serving at \(now) without a majority")
                XCTAssertNotEqual(election.role, .active)
            }
        }
        XCTAssertFalse(everServed)
        XCTAssertEqual(election.stepDowns[.deadline], 1)
        XCTAssertEqual(election.role, .starting)
        // etcd is back: the next grant succeeds (lease 8); the leader key still holds our old lease 7.
        var actions: [ElectionAction] = []
        while !actions.contains(.grantLease(ttl: .seconds(3))) { now += 0.05; actions = election.tick(now: at(now)) }
        XCTAssertEqual(election.leaseGranted(8, ttl: .seconds(3), sentAt: at(now), now: at(now + 0.01)), [.readLeader])
        XCTAssertEqual(election.leaderRead(LeaderRecord(node: "router1", term: 42, lease: 7), now: at(now + 0.02)), [],
                       "our key under the old lease is not ours to serve with")
        XCTAssertFalse(election.maySend(now: at(now + 0.02)))
        // The old lease expires at etcd, the key goes: campaign with the new lease, win a new term.
        now += 0.3
        _ = election.tick(now: at(now))
        XCTAssertEqual(election.leaderRead(nil, now: at(now)), [.campaign(lease: 8)])
        XCTAssertEqual(election.campaignWon(term: 90, now: at(now + 0.01)).first, .becomeActive(term: 90))
        XCTAssertTrue(election.maySend(now: at(now + 0.02)))
    }

    func testStopRevokesTheLeaseSoAStandbyWinsAtOnce() {
        var election = active()
        XCTAssertEqual(election.stop(now: at(1)), [.stopServing(term: 42, reason: .shutdown), .revokeLease(lease: 7)])
        XCTAssertEqual(election.role, .stopped)
        XCTAssertNil(election.nextDeadline)
        XCTAssertEqual(election.tick(now: at(10)), [])
    }

    /// Two nodes and one simulated etcd (a lease table with expiry at receipt + TTL, a leader
    /// key deleted with its lease), with random message delays, lost messages and pauses of
    /// either node. Invariant: at no instant do two nodes both `maySend`.
    func testRandomisedTwoNodesNeverServeAtOnce() {
        var generator = SplitMix(seed: 19)
        for _ in 0..<200 {
            var world = SimulatedEtcd()
            var nodes = [LeaderElection(node: "a", configuration: configuration),
                         LeaderElection(node: "b", configuration: configuration)]
            var pending: [(at: Double, node: Int, event: SimulatedEtcd.Answer)] = []
            var paused = [0.0, 0.0]   // a node is frozen until this time
            var now = 0.0
            var actionsOf: [[ElectionAction]] = [nodes[0].start(now: at(0)), nodes[1].start(now: at(0))]
            var activations = 0
            while now < 30 {
                for index in nodes.indices {
                    for action in actionsOf[index] {
                        if case .becomeActive = action { activations += 1 }
                        // Requests reach etcd after a random delay, maybe never; answers likewise.
                        // A lost request or answer comes back as a failure after the shell's
                        // request timeout (1 s), as HAController reports it.
                        let lost = generator.next() % 20 == 0
                        let there = now + Double(generator.next() % 400) / 1000
                        let back = there + Double(generator.next() % 400) / 1000
                        let answer = world.handle(action, node: nodes[index].node, sentAt: now, arrivesAt: there)
                        if lost, let failure = SimulatedEtcd.failure(of: action) {
                            pending.append((now + 1, index, failure))
                        } else if let answer {
                            pending.append((back, index, answer))
                        }
                    }
                    actionsOf[index] = []
                }
                now += 0.01
                world.expire(now: now)
                if generator.next() % 500 == 0 { paused[Int(generator.next() % 2)] = now + Double(generator.next() % 4000) / 1000 }
                // Answers due now are delivered; a paused node gets them when it wakes.
                var remaining: [(at: Double, node: Int, event: SimulatedEtcd.Answer)] = []
                for item in pending {
                    guard item.at <= now, paused[item.node] <= now else { remaining.append(item); continue }
                    actionsOf[item.node] += deliver(item.event, to: &nodes[item.node], now: at(now))
                }
                pending = remaining
                for index in nodes.indices where paused[index] <= now {
                    actionsOf[index] += nodes[index].tick(now: at(now))
                }
                let serving = nodes.indices.filter { nodes[$0].maySend(now: at(now)) }
                XCTAssertLessThanOrEqual(serving.count, 1, "two nodes serve at t=\(now)")
                if serving.count > 1 { return }
                // And the one that may send truly holds the key at etcd (or its lease is alive there).
                for index in serving {
                    XCTAssertTrue(world.leaseAlive(nodes[index].lease ?? -1, now: now), "serving with a dead lease at t=\(now)")
                }
            }
            XCTAssertGreaterThan(activations, 0, "somebody must win within 30 s")
        }
    }

    private func deliver(_ answer: SimulatedEtcd.Answer, to node: inout LeaderElection, now: ClusterInstant) -> [ElectionAction] {
        switch answer {
        case .granted(let lease, let sentAt): return node.leaseGranted(lease, ttl: .seconds(3), sentAt: at(sentAt), now: now)
        case .keptAlive(let lease, let ttl, let sentAt):
            return node.keepAliveAnswered(lease: lease, ttl: .seconds(ttl), sentAt: at(sentAt), now: now)
        case .leader(let record): return node.leaderRead(record, now: now)
        case .won(let term): return node.campaignWon(term: term, now: now)
        case .lost(let holder): return node.campaignLost(holder: holder, now: now)
        case .campaignFailed: return node.campaignFailed(now: now)
        case .grantFailed: return node.leaseGrantFailed(now: now)
        case .keepAliveFailed: return node.keepAliveFailed(now: now)
        case .readFailed: return node.leaderReadFailed(now: now)
        case .none: return []
        }
    }
}

/// etcd as far as the election sees it: leases expire TTL after the last keepalive etcd
/// *received*; the leader key goes with its lease.
struct SimulatedEtcd {
    enum Answer {
        case granted(Int64, sentAt: Double)
        case keptAlive(Int64, ttl: Int64, sentAt: Double)
        case leader(LeaderRecord?)
        case won(Int64)
        case lost(LeaderRecord?)
        case campaignFailed
        case grantFailed, keepAliveFailed, readFailed
        case none
    }
    static func failure(of action: ElectionAction) -> Answer? {
        switch action {
        case .grantLease: return .grantFailed
        case .keepAlive: return .keepAliveFailed
        case .readLeader: return .readFailed
        case .campaign: return .campaignFailed
        case .revokeLease, .becomeActive, .stopServing, .refreshAddressLifetime: return nil
        }
    }
    var leases: [Int64: Double] = [:]   // lease → expiry
    var leader: LeaderRecord?
    var revision: Int64 = 1
    var nextLease: Int64 = 100
    /// Requests are applied in the order they arrive; for simplicity at the instant they are
    /// handed over, with expiry counted from `arrivesAt` (later than the send time).
    mutating func handle(_ action: ElectionAction, node: String, sentAt: Double, arrivesAt: Double) -> Answer? {
        expire(now: arrivesAt)
        switch action {
        case .grantLease:
            nextLease += 1
            leases[nextLease] = arrivesAt + 3
            return .granted(nextLease, sentAt: sentAt)
        case .keepAlive(let lease):
            guard leases[lease] != nil else { return .keptAlive(lease, ttl: 0, sentAt: sentAt) }
            leases[lease] = arrivesAt + 3
            return .keptAlive(lease, ttl: 3, sentAt: sentAt)
        case .readLeader:
            return .leader(leader)
        case .campaign(let lease):
            guard leases[lease] != nil else { return .campaignFailed }
            if let leader { return .lost(leader) }
            revision += 1
            leader = LeaderRecord(node: node, term: revision, lease: lease)
            return .won(revision)
        case .revokeLease(let lease):
            leases[lease] = nil
            if leader?.lease == lease { leader = nil; revision += 1 }
            return Answer.none
        case .becomeActive, .stopServing, .refreshAddressLifetime:
            return nil
        }
    }
    mutating func expire(now: Double) {
        for (lease, expiry) in leases where expiry <= now {
            leases[lease] = nil
            if leader?.lease == lease { leader = nil; revision += 1 }
        }
    }
    func leaseAlive(_ lease: Int64, now: Double) -> Bool { leases[lease].map { $0 > now } ?? false }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
