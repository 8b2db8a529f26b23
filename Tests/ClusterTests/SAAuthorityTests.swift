import Foundation
import XCTest
@testable import Cluster

final class SAAuthorityTests: XCTestCase {
    private let t1 = Fixture.node("t1"), t2 = Fixture.node("t2"), t3 = Fixture.node("t3"), t4 = Fixture.node("t4")
    private let start = ClusterInstant(nanoseconds: 1_000_000_000)
    private let token = IKEResponseToken(1)

    private func hello(_ node: NodeID, incarnation: UInt64 = 1, held: ClusterEpoch = .none) -> ClusterMessage.Hello {
        .init(nodeID: node, clusterAddress: .v4(10, 9, 0, 1), capabilities: [.extendedSequenceNumbers],
              maximumReplayWindow: 4096, incarnation: incarnation, heldEpoch: held)
    }

    private func authority(_ nodes: [NodeID], mode: OutboundMode = .shared(blockSize: 1024, peerReplayWindow: 4096),
                           installTimeout: Duration = .seconds(2)) -> SAAuthority {
        var authority = SAAuthority(epoch: Fixture.epoch, configuration: .init(
            membership: .init(heartbeatInterval: .milliseconds(500), failureTimeout: .seconds(3)),
            installTimeout: installTimeout, outboundMode: mode))
        for node in nodes { _ = authority.receivedHello(hello(node), now: start) }
        return authority
    }

    private func installs(_ actions: [AuthorityAction]) -> [NodeID: [SADescription]] {
        var result: [NodeID: [SADescription]] = [:]
        for case .send(.installSA(let install), let node) in actions { result[node, default: []].append(install.sa) }
        return result
    }

    private func ack(_ id: UInt64) -> ClusterMessage { .ack(.init(saID: ClusterSAID(id), operation: .installSA)) }

    func testInstallGoesToEveryLiveTargetAndTheResponseWaitsForAllAcks() {
        var authority = authority([t1, t2, t3])
        var sa = Fixture.sa(1)
        sa.epoch = ClusterEpoch(rawValue: 99)  // the authority stamps its own epoch
        let actions = authority.childSANegotiated([sa], response: token, now: start)
        let sent = installs(actions)
        XCTAssertEqual(Set(sent.keys), [t1, t2, t3])
        XCTAssertEqual(sent[t1]?.first?.epoch, Fixture.epoch)
        XCTAssertEqual(sent[t1]?.first?.lifesizeReportStep, 16_666, "5 % of the 1 MB hard byte limit, shared by its 3 targets")
        XCTAssertFalse(actions.contains(.releaseIKEResponse(token)))
        XCTAssertEqual(authority.received(ack(1), from: t1, now: start), [])
        XCTAssertEqual(authority.received(ack(1), from: t2, now: start), [])
        XCTAssertEqual(authority.received(ack(1), from: t3, now: start), [.releaseIKEResponse(token)])
        XCTAssertEqual(authority.holders(of: ClusterSAID(1)), [t1, t2, t3])
        XCTAssertEqual(authority.heldResponses, [])
        // A duplicate ack changes nothing and is counted.
        XCTAssertEqual(authority.received(ack(1), from: t3, now: start), [])
        XCTAssertEqual(authority.counters.unknownSA, 1)
    }

    func testResponseWaitsForEverySAOfTheExchange() {
        var authority = authority([t1])
        _ = authority.childSANegotiated([Fixture.sa(1), Fixture.sa(2, direction: .outbound, sequencing: .shared(blockSize: 1024))],
                                        response: token, now: start)
        XCTAssertEqual(authority.received(ack(2), from: t1, now: start), [])
        XCTAssertEqual(authority.received(ack(1), from: t1, now: start), [.releaseIKEResponse(token)])
    }

    func testNackedTargetDoesNotHoldTheSAButTheResponseIsReleased() {
        var authority = authority([t1, t2])
        _ = authority.childSANegotiated([Fixture.sa(1)], response: token, now: start)
        let nack = ClusterMessage.nack(.init(saID: ClusterSAID(1), operation: .installSA, reason: .unsupported, detail: "no gcm"))
        XCTAssertEqual(authority.received(nack, from: t2, now: start), [])
        XCTAssertEqual(authority.received(ack(1), from: t1, now: start), [.releaseIKEResponse(token)])
        XCTAssertEqual(authority.holders(of: ClusterSAID(1)), [t1])
        XCTAssertEqual(authority.refusals(of: ClusterSAID(1)), [t2: .unsupported])
        XCTAssertTrue(authority.membership.isLive(t2))
    }

    func testResponseFailsWhenNoTargetInstalls() {
        var authority = authority([t1])
        _ = authority.childSANegotiated([Fixture.sa(1)], response: token, now: start)
        let nack = ClusterMessage.nack(.init(saID: ClusterSAID(1), operation: .installSA, reason: .kernelRejected))
        XCTAssertEqual(authority.received(nack, from: t1, now: start),
                       [.failIKEResponse(token, reason: "sa#1 is installed on no target")])
        var empty = self.authority([])
        XCTAssertEqual(empty.childSANegotiated([Fixture.sa(1)], response: token, now: start),
                       [.failIKEResponse(token, reason: "sa#1 is installed on no target")])
    }

    func testInvalidSAIsNotDistributedAndFailsTheResponse() {
        var authority = authority([t1])
        var bad = Fixture.sa(1)
        bad.algorithms.append(SAAlgorithm(kind: .integrity, name: "hmac(sha256)", key: Fixture.key(32), bits: 128))
        var huge = Fixture.sa(2)
        huge.algorithms = [SAAlgorithm(kind: .aead, name: "rfc4106(gcm(aes))", key: Fixture.key(70_000), bits: 128)]
        for sa in [bad, huge] {
            let actions = authority.childSANegotiated([sa], response: token, now: start)
            XCTAssertEqual(installs(actions), [:])
            guard case .failIKEResponse(token, let reason)? = actions.first else { return XCTFail("\(actions)") }
            XCTAssertFalse(reason.contains("a5a5"), reason)
        }
        XCTAssertEqual(authority.currentSAs, [])
    }

    func testInstallTimeoutDropsTheLaggardAndReleasesWithTheOthers() {
        var authority = authority([t1, t2, t3])
        _ = authority.childSANegotiated([Fixture.sa(1)], response: token, now: start)
        _ = authority.received(ack(1), from: t1, now: start)
        _ = authority.received(ack(1), from: t2, now: start)
        XCTAssertEqual(authority.nextDeadline, start + .seconds(2))
        XCTAssertEqual(authority.tick(now: start + .seconds(2) + .nanoseconds(-1)), [])
        XCTAssertEqual(authority.tick(now: start + .seconds(2)),
                       [.dropMember(t3, reason: .installTimeout(ClusterSAID(1))), .releaseIKEResponse(token)])
        XCTAssertFalse(authority.membership.isLive(t3))
        XCTAssertEqual(authority.holders(of: ClusterSAID(1)), [t1, t2])
        // Its late ack is from a non-member now: counted, ignored.
        XCTAssertEqual(authority.received(ack(1), from: t3, now: start + .seconds(3)), [])
        XCTAssertEqual(authority.counters.fromNonMembers, 1)
    }

    func testInstallTimeoutWithNoAckFailsTheResponse() {
        var authority = authority([t1])
        _ = authority.childSANegotiated([Fixture.sa(1)], response: token, now: start)
        XCTAssertEqual(authority.tick(now: start + .seconds(2)),
                       [.dropMember(t1, reason: .installTimeout(ClusterSAID(1))),
                        .failIKEResponse(token, reason: "sa#1 is installed on no target")])
    }

    func testLateJoinerGetsEveryCurrentSAThenFullState() {
        var authority = authority([t1])
        _ = authority.childSANegotiated([Fixture.sa(1), Fixture.sa(2, direction: .outbound, sequencing: .shared(blockSize: 1024))],
                                        response: nil, now: start)
        _ = authority.childSANegotiated([Fixture.sa(3, direction: .outbound, sequencing: .perTarget(owner: t1))],
                                        response: nil, now: start)
        let actions = authority.receivedHello(hello(t4), now: start)
        guard case .send(.welcome(let welcome), t4)? = actions.first else { return XCTFail("\(actions)") }
        XCTAssertEqual(welcome.epoch, Fixture.epoch)
        XCTAssertEqual(welcome.failureTimeoutMilliseconds, 3000)
        XCTAssertEqual(installs(actions)[t4]?.map(\.saID), [ClusterSAID(1), ClusterSAID(2)], "not t1's own outbound SA")
        XCTAssertEqual(actions.last, .send(.fullState(.init(epoch: Fixture.epoch, saIDs: [ClusterSAID(1), ClusterSAID(2)])), to: t4))
        XCTAssertEqual(authority.pendingTargets(of: ClusterSAID(1)), [t1, t4])
        _ = authority.received(ack(1), from: t4, now: start)
        XCTAssertTrue(authority.holders(of: ClusterSAID(1)).contains(t4))
    }

    func testSilentMemberIsDroppedAndReleasesWhatWaitedForIt() {
        // A long install timeout, so the 3 s failure timeout is what drops t2.
        var slow = self.authority([t1, t2], installTimeout: .seconds(60))
        _ = slow.childSANegotiated([Fixture.sa(1)], response: token, now: start)
        _ = slow.received(ack(1), from: t1, now: start + .seconds(1))
        _ = slow.received(.heartbeat(.init(epoch: Fixture.epoch, counter: 1)), from: t1, now: start + .seconds(2))
        XCTAssertEqual(slow.tick(now: start + .seconds(3)), [.dropMember(t2, reason: .silent), .releaseIKEResponse(token)])
        XCTAssertEqual(slow.membership.liveMembers, [t1])
        XCTAssertEqual(slow.tick(now: start + .seconds(4)), [])
        XCTAssertEqual(slow.tick(now: start + .seconds(5)), [.dropMember(t1, reason: .silent)])
    }

    func testDeletedSAIsRemovedFromItsHoldersAndFailsAResponseWaitingOnIt() {
        var authority = authority([t1, t2])
        _ = authority.childSANegotiated([Fixture.sa(1)], response: token, now: start)
        _ = authority.received(ack(1), from: t1, now: start)
        let actions = authority.childSADeleted(ClusterSAID(1), now: start)
        XCTAssertEqual(actions, [.send(.deleteSA(.init(saID: ClusterSAID(1), epoch: Fixture.epoch)), to: t1),
                                 .send(.deleteSA(.init(saID: ClusterSAID(1), epoch: Fixture.epoch)), to: t2),
                                 .failIKEResponse(token, reason: "sa#1 was deleted")])
        XCTAssertEqual(authority.currentSAs, [])
        XCTAssertEqual(authority.received(ack(1), from: t2, now: start), [])
    }

    func testPerTargetModeNegotiatesOneOutboundSAPerTargetAndDeletesADeadOwnersSA() {
        var authority = authority([t1, t2], mode: .perTarget)
        let first = authority.childSANegotiated([Fixture.sa(1)], response: token, now: start)
        XCTAssertTrue(first.contains(.negotiatePerTargetSA(owner: t1, reqid: 7)))
        XCTAssertTrue(first.contains(.negotiatePerTargetSA(owner: t2, reqid: 7)))
        let own = authority.childSANegotiated([Fixture.sa(11, direction: .outbound, sequencing: .perTarget(owner: t1))],
                                              response: nil, now: start)
        XCTAssertEqual(Set(installs(own).keys), [t1], "a per-target SA goes to its owner only")
        // t3 joins: only t3 lacks an outbound SA and a pending request.
        let join = authority.receivedHello(hello(t3), now: start)
        XCTAssertEqual(join.filter { if case .negotiatePerTargetSA = $0 { return true } else { return false } },
                       [.negotiatePerTargetSA(owner: t3, reqid: 7)])
        // The peer deletes t1's outbound SA: t1 gets a new one negotiated.
        let own2 = authority.childSANegotiated([Fixture.sa(12, direction: .outbound, sequencing: .perTarget(owner: t2))],
                                               response: nil, now: start)
        XCTAssertEqual(Set(installs(own2).keys), [t2])
        let deleted = authority.childSADeleted(ClusterSAID(12), now: start)
        XCTAssertTrue(deleted.contains(.negotiatePerTargetSA(owner: t2, reqid: 7)), "\(deleted)")
        // The negotiation failed: asked again only once allowed again.
        XCTAssertEqual(authority.receivedHello(hello(t2), now: start).filter { if case .negotiatePerTargetSA = $0 { return true } else { return false } }, [])
        authority.perTargetNegotiationFailed(owner: t2, reqid: 7)
        XCTAssertTrue(authority.receivedHello(hello(t2), now: start).contains(.negotiatePerTargetSA(owner: t2, reqid: 7)))
        // t1 leaves: its outbound SA is deleted with the peer.
        XCTAssertEqual(authority.connectionClosed(t1, now: start), [.deleteChildSA(ClusterSAID(11))])
        XCTAssertEqual(authority.connectionClosed(t1, now: start), [], "only once")
    }

    /// A restarted agent (new incarnation, rejoining before its old session was noticed gone)
    /// starts with an empty kernel: its per-target outbound SA must not be installed again
    /// (sequence numbers from 1 under the same SPI and key, a GCM nonce reuse); it is deleted
    /// with the peer and a new one negotiated. A reconnect of the same process keeps it.
    func testRestartedOwnerGetsANewPerTargetSANeverItsOldOne() {
        var authority = authority([t1, t2], mode: .perTarget)
        _ = authority.childSANegotiated([Fixture.sa(1)], response: token, now: start)
        _ = authority.childSANegotiated([Fixture.sa(11, direction: .outbound, sequencing: .perTarget(owner: t1))],
                                        response: nil, now: start)
        let reconnect = authority.receivedHello(hello(t1, incarnation: 1), now: start)
        XCTAssertTrue(installs(reconnect)[t1]?.contains { $0.saID == ClusterSAID(11) } ?? false, "same process: resent")
        XCTAssertFalse(reconnect.contains(.deleteChildSA(ClusterSAID(11))))
        XCTAssertFalse(reconnect.contains(.negotiatePerTargetSA(owner: t1, reqid: 7)))

        let restart = authority.receivedHello(hello(t1, incarnation: 2), now: start)
        XCTAssertTrue(restart.contains(.deleteChildSA(ClusterSAID(11))), "\(restart)")
        XCTAssertTrue(restart.contains(.negotiatePerTargetSA(owner: t1, reqid: 7)), "\(restart)")
        XCTAssertFalse(installs(restart)[t1]?.contains { $0.saID == ClusterSAID(11) } ?? false,
                       "the old outbound SA never goes to the new process")
        XCTAssertTrue(installs(restart)[t1]?.contains { $0.saID == ClusterSAID(1) } ?? false, "the shared inbound SA does")
    }

    func testSharedSAGetsTheFenceAndGrantsBlocks() {
        var authority = authority([t1, t2])
        let actions = authority.childSANegotiated([Fixture.sa(2, direction: .outbound, sequencing: .shared(blockSize: 1024))],
                                                  response: nil, now: start)
        let sa = installs(actions)[t1]?.first
        XCTAssertEqual(sa?.lifetimes.hardPacketLimit, 1024, "the fence: the kernel sends at most one block")
        XCTAssertEqual(sa?.lifetimes.softPacketLimit, 512)
        _ = authority.received(ack(2), from: t1, now: start)
        let request = ClusterMessage.sequenceBlockRequest(.init(saID: ClusterSAID(2), currentBlockFirst: 0))
        guard case .send(.sequenceBlockGrant(let grant), t1)? = authority.received(request, from: t1, now: start).first else {
            return XCTFail("no grant")
        }
        XCTAssertEqual(grant.block, try SequenceBlock(first: 1, last: 1024))
        XCTAssertEqual(grant.hardPacketLimit, 1024)
        // t2 has not acked yet but is pending: it may ask.
        guard case .send(.sequenceBlockGrant(let second), t2)? = authority.received(request, from: t2, now: start).first else {
            return XCTFail("no grant for t2")
        }
        XCTAssertEqual(second.block.first, 1025)
        // The window (4096) holds four blocks of 1024: 1...4096 while t1 still uses 1...1024.
        _ = authority.received(.sequenceBlockRequest(.init(saID: ClusterSAID(2), currentBlockFirst: 1)), from: t1, now: start)
        guard case .send(.sequenceBlockGrant(let third), t2)? = authority.received(
            .sequenceBlockRequest(.init(saID: ClusterSAID(2), currentBlockFirst: 1025)), from: t2, now: start).first else {
            return XCTFail("no third grant")
        }
        XCTAssertEqual(third.block, try SequenceBlock(first: 3073, last: 4096))
        // t2 moves to 3073 and asks again: 4097...5120 would not fit beside t1's 1...1024.
        XCTAssertEqual(authority.received(.sequenceBlockRequest(.init(saID: ClusterSAID(2), currentBlockFirst: 3073)), from: t2, now: start),
                       [.send(.nack(.init(saID: ClusterSAID(2), operation: .sequenceBlockRequest, reason: .windowFull)), to: t2)])
        // t1 restarts (new incarnation): its blocks are abandoned and it gets a fresh one.
        _ = authority.receivedHello(hello(t1, incarnation: 2), now: start)
        _ = authority.received(ack(2), from: t1, now: start)
        guard case .send(.sequenceBlockGrant(let fresh), t1)? = authority.received(request, from: t1, now: start).first else {
            return XCTFail("no grant after restart")
        }
        XCTAssertEqual(fresh.block.first, 4097, "beyond the high-water mark, never an old block")
        // An SA the node does not hold, or that is not shared: refused.
        let unknown = ClusterMessage.sequenceBlockRequest(.init(saID: ClusterSAID(9), currentBlockFirst: 0))
        XCTAssertEqual(authority.received(unknown, from: t1, now: start),
                       [.send(.nack(.init(saID: ClusterSAID(9), operation: .sequenceBlockRequest, reason: .unknownSA)), to: t1)])
    }

    func testATargetDroppedWaitingForItsFirstSequenceBlockIsToldApart() {
        // A window of two blocks, both held by t1 and t2 (idle: they never use them up):
        // t3 joins later and can get no first block, so it cannot add the SA.
        var authority = authority([t1, t2], mode: .shared(blockSize: 16, peerReplayWindow: 32))
        let saID = ClusterSAID(2)
        _ = authority.childSANegotiated([Fixture.sa(2, direction: .outbound, sequencing: .shared(blockSize: 16))],
                                        response: nil, now: start)
        let first = ClusterMessage.sequenceBlockRequest(.init(saID: saID, currentBlockFirst: 0))
        for node in [t1, t2] {
            _ = authority.received(first, from: node, now: start)
            _ = authority.received(ack(2), from: node, now: start)
        }
        _ = authority.receivedHello(hello(t3), now: start)
        let windowFull = AuthorityAction.send(.nack(.init(saID: saID, operation: .sequenceBlockRequest, reason: .windowFull)), to: t3)
        for step in 1...3 {
            XCTAssertEqual(authority.received(first, from: t3, now: start + .milliseconds(50 * step)), [windowFull])
        }
        let dropped = authority.tick(now: start + .seconds(2)).first { if case .dropMember = $0 { return true } else { return false } }
        XCTAssertEqual(dropped, .dropMember(t3, reason: .noFirstSequenceBlock(saID, refusals: 3)))
        XCTAssertEqual(dropped?.description.contains("no sequence block yet (3 requests refused window-full)"), true, "\(String(describing: dropped))")
        // A target that had its block and still did not answer is an ordinary install timeout.
        var other = self.authority([t1, t2], mode: .shared(blockSize: 16, peerReplayWindow: 32))
        _ = other.childSANegotiated([Fixture.sa(2, direction: .outbound, sequencing: .shared(blockSize: 16))], response: nil, now: start)
        _ = other.received(first, from: t1, now: start)
        _ = other.received(ack(2), from: t2, now: start)
        XCTAssertEqual(other.tick(now: start + .seconds(2)).first, .dropMember(t1, reason: .installTimeout(saID)))
    }

    func testLifesizeReportsTriggerOneRekeyAndTheRekeyAdaptsN() {
        var authority = authority([t1, t2])
        _ = authority.childSANegotiated([Fixture.sa(1)], response: nil, now: start)
        _ = authority.received(ack(1), from: t1, now: start)
        _ = authority.received(ack(1), from: t2, now: start)
        let report = { (bytes: UInt64) in ClusterMessage.lifesizeReport(.init(saID: ClusterSAID(1), bytes: bytes, packets: bytes / 1000)) }
        XCTAssertEqual(authority.received(report(400_000), from: t1, now: start), [])
        // Two targets, a step of 25 000 each: 400 000 + 450 000 + 2 * 25 000 = 900 000: rekey.
        XCTAssertEqual(authority.received(report(450_000), from: t2, now: start), [.rekey(ClusterSAID(1))])
        XCTAssertEqual(authority.received(report(575_000), from: t2, now: start), [])
        // The replacement is installed while the estimate (975 000 + 2 * 12 500) is at the limit: late.
        let before = authority.lifesize.percent
        _ = authority.childSANegotiated([Fixture.sa(5)], response: token, replacing: [ClusterSAID(1)], now: start)
        _ = authority.received(ack(5), from: t1, now: start)
        XCTAssertEqual(authority.received(ack(5), from: t2, now: start),
                       [.rekeyJudged(ClusterSAID(1), .late, percent: before / 2), .releaseIKEResponse(token)])
        XCTAssertEqual(authority.lifesize.percent, before / 2, accuracy: 1e-9)
        // A report about an unknown SA, or from a target not holding it, is counted and ignored.
        _ = authority.received(.lifesizeReport(.init(saID: ClusterSAID(77), bytes: 1, packets: 1)), from: t1, now: start)
        XCTAssertEqual(authority.counters.unknownSA, 1)
        _ = authority.receivedHello(hello(t3), now: start)
        _ = authority.received(.nack(.init(saID: ClusterSAID(5), operation: .installSA, reason: .unsupported)), from: t3, now: start)
        XCTAssertEqual(authority.received(.lifesizeReport(.init(saID: ClusterSAID(5), bytes: 2_000_000, packets: 1)), from: t3, now: start), [])
        XCTAssertEqual(authority.counters.unknownSA, 2)
        XCTAssertEqual(authority.lifesize.totals(of: ClusterSAID(5))?.reporters, 0)
    }

    func testNonMembersAndUnexpectedMessagesAreCounted() {
        var authority = authority([t1])
        XCTAssertEqual(authority.received(ack(1), from: t4, now: start), [])
        XCTAssertEqual(authority.counters.fromNonMembers, 1)
        XCTAssertEqual(authority.received(.installSA(.init(sa: Fixture.sa(1))), from: t1, now: start), [])
        XCTAssertEqual(authority.counters.unexpected, 1)
    }

    func testResyncRequestResendsEverythingMeantForTheNode() {
        var authority = authority([t1])
        _ = authority.childSANegotiated([Fixture.sa(1)], response: nil, now: start)
        _ = authority.received(ack(1), from: t1, now: start)
        let actions = authority.received(.resyncRequest(.init(heldEpoch: Fixture.epoch)), from: t1, now: start)
        XCTAssertEqual(installs(actions)[t1]?.map(\.saID), [ClusterSAID(1)])
        XCTAssertEqual(actions.last, .send(.fullState(.init(epoch: Fixture.epoch, saIDs: [ClusterSAID(1)])), to: t1))
        XCTAssertEqual(authority.pendingTargets(of: ClusterSAID(1)), [t1])
    }
    // MARK: Replay evidence (inbound claims 9, 22)

    private func report(_ id: UInt64, top: UInt64, bitmap: [UInt64] = [1]) -> ClusterMessage {
        .replayReport(.init(saID: ClusterSAID(id), top: top, bitmap: bitmap))
    }

    func testReplayReportFromAHolderMovesTheHighWaterMarkAndGoesToTheDistributor() {
        var authority = authority([t1, t2])
        _ = authority.childSANegotiated([Fixture.sa(1)], response: token, now: start)
        _ = authority.received(ack(1), from: t1, now: start)
        _ = authority.received(ack(1), from: t2, now: start)
        XCTAssertEqual(authority.inboundHighWater(of: ClusterSAID(1)), 0)
        let actions = authority.received(report(1, top: 500, bitmap: [0b11]), from: t1, now: start)
        guard case .authenticatedReplay(let passed, let sa)? = actions.first, actions.count == 1 else {
            return XCTFail("\(actions)")
        }
        XCTAssertEqual(passed, .init(saID: ClusterSAID(1), top: 500, bitmap: [0b11]))
        XCTAssertEqual(sa.spi, Fixture.sa(1).spi)
        XCTAssertEqual(authority.inboundHighWater(of: ClusterSAID(1)), 500)
        // Another holder behind: its evidence still goes on (it fills bits), the mark stays.
        XCTAssertEqual(authority.received(report(1, top: 300), from: t2, now: start).count, 1)
        XCTAssertEqual(authority.inboundHighWater(of: ClusterSAID(1)), 500)
        XCTAssertEqual(authority.counters.unknownSA, 0)
    }

    func testReplayReportFromANonHolderOrForAnOutboundSAIsCountedAndIgnored() {
        var authority = authority([t1, t2])
        _ = authority.childSANegotiated([Fixture.sa(1), Fixture.sa(2, direction: .outbound, sequencing: .perTarget(owner: t1))],
                                        response: token, now: start)
        _ = authority.received(ack(1), from: t1, now: start)
        _ = authority.received(.nack(.init(saID: ClusterSAID(1), operation: .installSA, reason: .kernelRejected)),
                               from: t2, now: start)
        _ = authority.received(ack(2), from: t1, now: start)
        // t2 refused SA 1: it holds nothing, its "evidence" would be anyone's word.
        XCTAssertEqual(authority.received(report(1, top: 1 << 40), from: t2, now: start), [])
        // Outbound SAs have no inbound window; unknown SA ids neither.
        XCTAssertEqual(authority.received(report(2, top: 7), from: t1, now: start), [])
        XCTAssertEqual(authority.received(report(99, top: 7), from: t1, now: start), [])
        XCTAssertEqual(authority.counters.unknownSA, 3)
        XCTAssertEqual(authority.inboundHighWater(of: ClusterSAID(1)), 0)
        // From a connection that is no member at all: not even counted as about an SA.
        XCTAssertEqual(authority.received(report(1, top: 9), from: Fixture.node("stranger"), now: start), [])
        XCTAssertEqual(authority.counters.fromNonMembers, 1)
        XCTAssertEqual(authority.inboundHighWater(of: ClusterSAID(1)), 0)
    }
}

final class ClusterStatusTests: XCTestCase {
    func testStatusShowsHoldersBlocksAndTotalsButNoKeys() throws {
        let t1 = Fixture.node("t1"), t2 = Fixture.node("t2")
        let now = ClusterInstant(nanoseconds: 10_000_000_000)
        var authority = SAAuthority(epoch: Fixture.epoch, configuration: .init(outboundMode: .shared(blockSize: 64, peerReplayWindow: 256)))
        for node in [t1, t2] {
            _ = authority.receivedHello(.init(nodeID: node, clusterAddress: .v4(10, 9, 0, 1), capabilities: [.offload],
                                              maximumReplayWindow: 4096, incarnation: 3, heldEpoch: .none), now: now)
        }
        _ = authority.childSANegotiated([Fixture.sa(1), Fixture.sa(2, direction: .outbound, sequencing: .shared(blockSize: 64))],
                                        response: IKEResponseToken(9), now: now)
        _ = authority.received(.ack(.init(saID: ClusterSAID(1), operation: .installSA)), from: t1, now: now)
        _ = authority.received(.sequenceBlockRequest(.init(saID: ClusterSAID(2), currentBlockFirst: 0)), from: t2, now: now)
        _ = authority.received(.lifesizeReport(.init(saID: ClusterSAID(1), bytes: 1234, packets: 5)), from: t1, now: now)
        let status = authority.status(now: now + .milliseconds(250))
        XCTAssertEqual(status.members.map(\.nodeID), ["t1", "t2"])
        XCTAssertEqual(status.members.first?.silentForMilliseconds, 250)
        XCTAssertEqual(status.sas.map(\.saID), [1, 2])
        XCTAssertEqual(status.sas[0].spi, "0xc0000001")
        XCTAssertEqual(status.sas[0].holders, ["t1"])
        XCTAssertEqual(status.sas[0].pending, ["t2"])
        XCTAssertEqual(status.sas[0].lifesize?.reportedBytes, 1234)
        XCTAssertEqual(status.sas[1].sequence?.blocks, ["t2": ["1...64"]])
        XCTAssertEqual(status.heldResponses, [9])
        let json = String(decoding: try JSONEncoder().encode(status), as: UTF8.self)
        XCTAssertFalse(json.contains("\"key"), json)
        XCTAssertFalse(json.lowercased().contains("a5a5"), json)
        XCTAssertFalse(json.contains("165"), "no key byte (0xA5) values")
        XCTAssertEqual(try JSONDecoder().decode(ClusterStatus.self, from: Data(json.utf8)), status)
    }
}
