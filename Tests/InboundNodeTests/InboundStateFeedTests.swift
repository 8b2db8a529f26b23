import Cluster
import ClusterNode
import Inbound
@testable import InboundNode
import VipsecTestSupport
import XCTest

/// The distributor's feed as changes (InboundStateFeed, ClusterStateUpdate, the planner's
/// `steps(applying:)`): one CHILD_SA costs the publication and the planner the same work with
/// 50,000 inbound SAs as with 1,000 (before, each publication built and compared a snapshot of
/// every inbound SA, and the planner visited every one); and through a long random run the
/// state the updates build, and the steps planned from them, are exactly those of whole
/// snapshots (what the distributor got before).
final class InboundStateFeedTests: XCTestCase {
    let nodes = ["t1", "t2", "t3"].map { try! NodeID($0) }
    let epoch = ClusterEpoch(rawValue: 0x1234_5678_9abc)
    let dvipa = IPAddress.v4(192, 0, 2, 10)
    let start = ClusterInstant(nanoseconds: 1_000_000_000)

    func authority() -> SAAuthority {
        var authority = SAAuthority(epoch: epoch, configuration: .init(
            membership: .init(heartbeatInterval: .milliseconds(500), failureTimeout: .seconds(3)), installTimeout: .seconds(2)))
        for node in nodes { _ = authority.receivedHello(hello(node), now: start) }
        return authority
    }

    func hello(_ node: NodeID, incarnation: UInt64 = 1, address: UInt8? = nil) -> ClusterMessage.Hello {
        .init(nodeID: node, clusterAddress: .v4(10, 9, 0, address ?? UInt8(nodes.firstIndex(of: node)! + 1)),
              capabilities: [.extendedSequenceNumbers], maximumReplayWindow: 4096, incarnation: incarnation, heldEpoch: .none)
    }

    /// Inbound SA number `id` (AES-GCM, to the DVIPA).
    func sa(_ id: UInt64, direction: SADirection = .inbound) -> SADescription {
        var lifetimes = SALifetimes()
        lifetimes.softByteLimit = 900_000
        lifetimes.hardByteLimit = 1_000_000
        let peer = IPAddress.v4(198, 51, 100, 1)
        return SADescription(
            saID: ClusterSAID(id), epoch: epoch, generation: 2, spi: 0xC000_0000 | UInt32(truncatingIfNeeded: id),
            direction: direction, source: direction == .inbound ? peer : dvipa, destination: direction == .inbound ? dvipa : peer,
            algorithms: [SAAlgorithm(kind: .aead, name: "rfc4106(gcm(aes))", key: SecretBytes([UInt8](repeating: 0xA5, count: 36)), bits: 128)],
            extendedSequenceNumbers: true, replayWindow: 4096, lifetimes: lifetimes, lifesizeReportStep: 100_000,
            selectors: [SASelector(source: .v4(10, 1, 0, 0), sourcePrefixLength: 16,
                                   destination: .v4(10, 2, 0, 0), destinationPrefixLength: 16, ipProtocol: 17)],
            reqid: UInt32(id % 500 + 1))
    }

    /// The whole state as the service published it before (one visit of every inbound SA).
    func wholeState(_ authority: SAAuthority) -> ClusterStateSnapshot {
        var snapshot = ClusterStateSnapshot()
        for (node, member) in authority.membership.members { snapshot.members[node] = member.clusterAddress }
        for sa in authority.currentSAs where sa.direction == .inbound {
            snapshot.inboundSAs[sa.saID] = .init(description: sa, holders: authority.holders(of: sa.saID))
        }
        return snapshot
    }

    /// Distributes inbound SA `id` and has every target acknowledge it.
    func childSA(_ authority: inout SAAuthority, _ id: UInt64, now: ClusterInstant) {
        let sent = authority.childSANegotiated([sa(id)], response: nil, now: now)
        for case .send(.installSA(let install), let node) in sent {
            _ = authority.received(.ack(.init(saID: install.sa.saID, operation: .installSA)), from: node, now: now)
        }
    }

    // MARK: Work per CHILD_SA

    /// With `count` inbound SAs held (and published), the SAs visited by the feed and by the
    /// planner for one more CHILD_SA (acknowledged by the three targets), and the update.
    func work(holding count: Int) -> (feed: Int, planner: Int, update: ClusterStateUpdate?) {
        var authority = authority()
        var feed = InboundStateFeed()
        var planner = InboundPlanner()
        _ = planner.steps(applying: feed.update(from: &authority)!)   // setInbound: the whole state
        for id in 1...UInt64(count) { childSA(&authority, id, now: start) }
        _ = planner.steps(applying: feed.update(from: &authority)!)
        XCTAssertEqual(planner.sas.count, count)
        let (feedBefore, plannerBefore) = (feed.visits, planner.visits)
        childSA(&authority, UInt64(count) + 1, now: start)
        let update = feed.update(from: &authority)
        if let update {
            XCTAssertEqual(planner.steps(applying: update), [.addSA(ClusterSAID(UInt64(count) + 1))])
        }
        return (feed.visits - feedBefore, planner.visits - plannerBefore, update)
    }

    func testOneCHILDSACostsTheSameAtFiftyThousandInboundSAsAsAtOneThousand() throws {
        let small = work(holding: 1_000), large = work(holding: 50_000)
        XCTAssertEqual(small.feed, large.feed, "feed: \(small.feed) SAs visited at 1,000, \(large.feed) at 50,000")
        XCTAssertEqual(small.planner, large.planner, "planner: \(small.planner) at 1,000, \(large.planner) at 50,000")
        XCTAssertEqual(large.feed, 1, "the new SA only")
        XCTAssertEqual(large.planner, 1)
        let update = try XCTUnwrap(large.update)
        XCTAssertFalse(update.isFull)
        XCTAssertNil(update.members, "the members did not change")
        XCTAssertEqual(Array(update.upserted.keys), [ClusterSAID(50_001)])
        XCTAssertEqual(update.upserted[ClusterSAID(50_001)]?.holders, Set(nodes))
        XCTAssertEqual(update.removed, [])
    }

    func testNothingChangedNothingPublishedAndAnOutboundSAIsNotTheDistributors() {
        var authority = authority()
        var feed = InboundStateFeed()
        let first = feed.update(from: &authority)
        XCTAssertEqual(first?.isFull, true, "the first update is the whole state, even an empty one")
        XCTAssertEqual(first?.members?.count, 3)
        XCTAssertNil(feed.update(from: &authority))
        _ = authority.childSANegotiated([sa(9, direction: .outbound)], response: nil, now: start)
        XCTAssertNil(feed.update(from: &authority), "outbound SAs are not in the feed")
        // Sent, not yet acknowledged: in the feed without holders; then the holders as they answer.
        let sent = authority.childSANegotiated([sa(10)], response: nil, now: start)
        XCTAssertEqual(feed.update(from: &authority)?.upserted[ClusterSAID(10)]?.holders, [])
        for case .send(.installSA, let node) in sent where node == nodes[1] {
            _ = authority.received(.ack(.init(saID: ClusterSAID(10), operation: .installSA)), from: node, now: start)
        }
        XCTAssertEqual(feed.update(from: &authority)?.upserted[ClusterSAID(10)]?.holders, [nodes[1]])
        _ = authority.childSADeleted(ClusterSAID(10), now: start)
        XCTAssertEqual(feed.update(from: &authority), ClusterStateUpdate(removed: [ClusterSAID(10)]))
        feed.restart()
        XCTAssertEqual(feed.update(from: &authority)?.isFull, true, "after a restart (a new observer, a takeover)")
    }

    // MARK: The same as whole snapshots

    func testUpdatesBuildWhatWholeSnapshotsSayThroughARandomRun() throws {
        var authority = authority()
        var generator = SeededGenerator(seed: 20261207)
        var now = start
        var nextID: UInt64 = 0
        var live: [ClusterSAID] = []
        var feed = InboundStateFeed()
        let mailbox = InboundMailbox()
        var planner = InboundPlanner()      // fed updates, through the mailbox (merged when behind)
        var reference = InboundPlanner()    // fed whole snapshots, as the distributor was before
        var updates = 0, unread = 0, merged = 0, fullPasses = 0, forgotten = 0
        for step in 0..<3000 {
            now = now + .milliseconds(Int64.random(in: 1...40, using: &generator))
            let node = nodes.randomElement(using: &generator)!
            switch Int.random(in: 0..<100, using: &generator) {
            case 0..<35:   // a CHILD_SA (its inbound and outbound SA), answered in part only
                nextID += 2
                let sent = authority.childSANegotiated([sa(nextID - 1), sa(nextID, direction: .outbound)], response: nil, now: now)
                live += [ClusterSAID(nextID - 1), ClusterSAID(nextID)]
                for case .send(.installSA(let install), let to) in sent where Bool.random(using: &generator) {
                    let answer: ClusterMessage = Int.random(in: 0..<8, using: &generator) == 0
                        ? .nack(.init(saID: install.sa.saID, operation: .installSA, reason: .kernelRejected, detail: "test"))
                        : .ack(.init(saID: install.sa.saID, operation: .installSA))
                    _ = authority.received(answer, from: to, now: now)
                }
            case 35..<60:  // late answers
                if let saID = live.randomElement(using: &generator) {
                    _ = authority.received(.ack(.init(saID: saID, operation: .installSA)), from: node, now: now)
                }
            case 60..<75:  // deletions
                if !live.isEmpty {
                    let saID = live.remove(at: Int.random(in: 0..<live.count, using: &generator))
                    _ = authority.childSADeleted(saID, now: now)
                }
            case 75..<80:  // a target leaves, reconnects, restarts or comes back with another address
                switch Int.random(in: 0..<4, using: &generator) {
                case 0: _ = authority.connectionClosed(node, now: now); _ = authority.receivedHello(hello(node), now: now)
                case 1: _ = authority.receivedHello(hello(node), now: now)
                case 2: _ = authority.connectionClosed(node, now: now)
                default: _ = authority.receivedHello(hello(node, incarnation: UInt64(step) + 2, address: UInt8.random(in: 1...4, using: &generator)), now: now)
                }
            case 80..<84:
                _ = authority.received(.resyncRequest(.init(heldEpoch: epoch)), from: node, now: now)
            case 84:       // a takeover: a new authority with the same SAs, no holders yet
                authority = SAAuthority(restoring: epoch, sas: authority.currentSAs, configuration: authority.configuration)
                feed.restart()
            default:       // time passes: heartbeats, and ticks that drop laggards
                for member in nodes { _ = authority.received(.heartbeat(.init(epoch: epoch, counter: 1)), from: member, now: now) }
                _ = authority.tick(now: now)
            }
            // End of the loop's turn: publish. The worker reads now or later (merged with the next).
            if let update = feed.update(from: &authority) {
                updates += 1
                unread += 1
                mailbox.post(update)
                if Bool.random(using: &generator) { continue }
            } else if Bool.random(using: &generator) {
                continue
            }
            guard let update = mailbox.take() else { continue }
            if unread > 1 { merged += 1 }
            unread = 0
            if update.isFull || update.members != nil { fullPasses += 1 }
            let whole = wholeState(authority)
            let steps = planner.steps(applying: update)
            let expected = reference.steps(to: whole)
            XCTAssertEqual(steps, expected, "step \(step)")
            XCTAssertEqual(planner.state, whole, "step \(step)")
            XCTAssertEqual(planner.sas.mapValues(\.holders), reference.sas.mapValues(\.holders), "step \(step)")
            XCTAssertEqual(planner.targets.mapValues(\.mark), reference.targets.mapValues(\.mark), "step \(step)")
            if steps != expected || planner.state != whole { return }
            // The classifier refuses an SA now and then: both planners forget it (and try again).
            for case .addSA(let id) in steps where Int.random(in: 0..<10, using: &generator) == 0 {
                planner.forget(id)
                reference.forget(id)
                forgotten += 1
            }
        }
        XCTAssertGreaterThan(updates, 500)
        XCTAssertGreaterThan(fullPasses, 10, "membership changes and takeovers happened")
        XCTAssertGreaterThan(forgotten, 10)
        XCTAssertGreaterThan(merged, 50, "the worker was behind now and then")
        XCTAssertFalse(planner.sas.isEmpty)
    }

    // MARK: Merging (a worker behind)

    func testMergedUpdatesEqualTheirSequence() {
        func held(_ id: UInt64, _ holders: [NodeID]) -> ClusterStateSnapshot.HeldSA { .init(description: sa(id), holders: Set(holders)) }
        let a = ClusterSAID(1), b = ClusterSAID(2), c = ClusterSAID(3)
        var base = ClusterStateSnapshot(members: [nodes[0]: .v4(10, 9, 0, 1)], inboundSAs: [a: held(1, []), b: held(2, [nodes[0]])])
        let updates = [
            ClusterStateUpdate(upserted: [c: held(3, [])], removed: [a]),
            ClusterStateUpdate(members: [nodes[1]: .v4(10, 9, 0, 2)], upserted: [a: held(1, [nodes[1]])]),
            ClusterStateUpdate(upserted: [c: held(3, [nodes[1]])], removed: [b]),
            ClusterStateUpdate(removed: [c]),
        ]
        var one = updates[0]
        for update in updates.dropFirst() { one.merge(update) }
        var stepwise = base
        for update in updates { update.apply(to: &stepwise) }
        one.apply(to: &base)
        XCTAssertEqual(base, stepwise)
        XCTAssertEqual(Set(base.inboundSAs.keys), [a])
        // A whole state replaces what was pending; changes after it go into it.
        var full = ClusterStateUpdate.full(ClusterStateSnapshot(members: [:], inboundSAs: [b: held(2, [])]))
        var pending = updates[0]
        pending.merge(full)
        XCTAssertEqual(pending, full)
        full.merge(ClusterStateUpdate(removed: [b]))
        XCTAssertTrue(full.isFull)
        XCTAssertEqual(full.upserted, [:])
        XCTAssertEqual(full.removed, [], "a whole state lists what is, not what went")
    }
}
