import XCTest
@testable import Cluster

/// The SA authority's indexes (SAAuthority+Index.swift): always what a recomputation from
/// its SAs says, and a CHILD_SA, its answers and a tick cost the same work with 50,000 SAs
/// held as with 1,000 (issue 20: nothing per event that grows with N).
final class SAAuthorityIndexTests: XCTestCase {
    private let nodes = ["t1", "t2", "t3"].map(Fixture.node)
    private let start = ClusterInstant(nanoseconds: 1_000_000_000)

    private func authority() -> SAAuthority {
        var authority = SAAuthority(epoch: Fixture.epoch, configuration: .init(
            membership: .init(heartbeatInterval: .milliseconds(500), failureTimeout: .seconds(3)), installTimeout: .seconds(2)))
        for node in nodes { _ = authority.receivedHello(hello(node), now: start) }
        return authority
    }

    private func hello(_ node: NodeID, incarnation: UInt64 = 1) -> ClusterMessage.Hello {
        .init(nodeID: node, clusterAddress: .v4(10, 9, 0, 1), capabilities: [.extendedSequenceNumbers],
              maximumReplayWindow: 4096, incarnation: incarnation, heldEpoch: .none)
    }

    private func describe(reqid: UInt32) -> ([ClusterSAID], NodeID?, OutboundMode) throws -> [SADescription] {
        { ids, owner, _ in
            var inbound = Fixture.sa(ids[0].rawValue), outbound = Fixture.sa(ids[1].rawValue, direction: .outbound,
                                                                             sequencing: owner.map { .perTarget(owner: $0) } ?? .notApplicable)
            inbound.reqid = reqid
            outbound.reqid = reqid
            return [inbound, outbound]
        }
    }

    /// Negotiates a CHILD_SA of line `reqid` and has every target acknowledge both halves.
    private func childSA(_ authority: inout SAAuthority, reqid: UInt32, token: UInt64, now: ClusterInstant) throws -> [AuthorityAction] {
        let (placed, sent) = try authority.childSANegotiated(reqid: reqid, keepingOwner: nil, deferringOutbound: false,
                                                             describe: describe(reqid: reqid), response: IKEResponseToken(token),
                                                             replacing: [], now: now)
        var actions = sent
        for case .send(.installSA(let install), let node) in sent {
            actions += authority.received(.ack(.init(saID: install.sa.saID, operation: .installSA)), from: node, now: now)
        }
        XCTAssertTrue(actions.contains(.releaseIKEResponse(IKEResponseToken(token))), "\(placed.ids) released")
        return actions
    }

    func testTheIndexesStayWhatARecomputationSaysThroughARandomRun() throws {
        var authority = authority()
        var generator = SeededGenerator(seed: 20261207)
        var now = start, token: UInt64 = 0
        var live: [ClusterSAID] = []
        for step in 0..<3000 {
            now = now + .milliseconds(Int64.random(in: 1...40, using: &generator))
            let node = nodes.randomElement(using: &generator)!
            switch Int.random(in: 0..<100, using: &generator) {
            case 0..<35:   // a CHILD_SA, answered in part only
                token += 1
                let reqid = UInt32.random(in: 1...20, using: &generator)
                let (placed, sent) = try authority.childSANegotiated(reqid: reqid, keepingOwner: nil, deferringOutbound: Bool.random(using: &generator),
                                                                     describe: describe(reqid: reqid), response: IKEResponseToken(token),
                                                                     replacing: [], now: now)
                live += placed.ids
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
            case 75..<80:  // a target leaves, reconnects or restarts
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: _ = authority.connectionClosed(node, now: now); _ = authority.receivedHello(hello(node), now: now)
                case 1: _ = authority.receivedHello(hello(node), now: now)
                default: _ = authority.receivedHello(hello(node, incarnation: UInt64(step) + 2), now: now)
                }
            case 80..<85:
                _ = authority.received(.resyncRequest(.init(heldEpoch: Fixture.epoch)), from: node, now: now)
            default:       // time passes: heartbeats, and ticks that drop laggards
                for member in nodes { _ = authority.received(.heartbeat(.init(epoch: Fixture.epoch, counter: 1)), from: member, now: now) }
                _ = authority.tick(now: now)
            }
            XCTAssertEqual(authority.index, authority.recomputedIndex(), "step \(step)")
            if authority.index != authority.recomputedIndex() { return }
        }
        XCTAssertFalse(authority.index.perTargetByLine.isEmpty, "the run made per-target SAs")
        XCTAssertFalse(authority.index.inboundByLine.isEmpty)
    }

    /// The work (SAs, responses visited) of one CHILD_SA with its answers, and of a tick,
    /// with 1,000 SAs held and with 50,000: the same. (`nextDeadline` visits the pending SAs
    /// only, by construction; it is not counted.)
    func testOneCHILDSAAndATickCostTheSameWorkAtFiftyThousandSAsAsAtOneThousand() throws {
        func work(holding count: Int) throws -> [Int] {
            var authority = authority()
            var token: UInt64 = 0
            for i in 0..<(count / 2) {
                token += 1
                _ = try childSA(&authority, reqid: UInt32(i % 500 + 1), token: token, now: start)
            }
            XCTAssertEqual(authority.currentSAs.count, count)
            var costs: [Int] = []
            var before = authority.examined
            _ = try childSA(&authority, reqid: 7, token: token + 1, now: start)
            costs.append(authority.examined - before)
            before = authority.examined
            _ = authority.tick(now: start + .milliseconds(100))
            costs.append(authority.examined - before)
            return costs
        }
        let small = try work(holding: 1_000), large = try work(holding: 50_000)
        XCTAssertEqual(small, large, "work of a CHILD_SA and of a tick: \(small) at 1,000 SAs, \(large) at 50,000")
        XCTAssertGreaterThan(small[0], 0, "the counter counts")
    }

    /// An IKE_SA's takeover record looks its CHILD_SAs up by SPI (`distributedSAs(spis:)`,
    /// issue 20): the same work with 100,000 SAs as with 1,000, and the same SAs, in the same
    /// order, as a filter of every SA (a twin SPI of another peer's outbound SA included).
    func testLookingSAsUpBySPICostsTheSameAt100000SAsAsAt1000() {
        func work(holding count: Int) -> Int {
            var sas = (1...UInt64(count)).map { Fixture.sa($0) }
            var twin = Fixture.sa(UInt64(count) + 1, direction: .outbound, sequencing: .perTarget(owner: nodes[0]))
            twin.spi = sas[9].spi
            sas.append(twin)
            var authority = SAAuthority(restoring: Fixture.epoch, sas: sas)
            let wanted: Set<UInt32> = [sas[9].spi, sas[count / 2].spi, 0x1234]
            let before = authority.examined
            let found = authority.distributedSAs(spis: wanted)
            let cost = authority.examined - before
            XCTAssertEqual(found, authority.currentSAs.filter { wanted.contains($0.spi) }, "what a filter of every SA says")
            XCTAssertEqual(found.map(\.saID), [ClusterSAID(10), ClusterSAID(UInt64(count / 2 + 1)), ClusterSAID(UInt64(count) + 1)])
            _ = authority.childSADeleted(ClusterSAID(10), now: start)
            XCTAssertEqual(authority.distributedSAs(spis: wanted).map(\.saID), [ClusterSAID(UInt64(count / 2 + 1)), ClusterSAID(UInt64(count) + 1)],
                           "a deleted SA is no longer found; its SPI twin is")
            XCTAssertEqual(authority.index, authority.recomputedIndex())
            return cost
        }
        let small = work(holding: 1_000), large = work(holding: 100_000)
        XCTAssertEqual(small, large, "SPIs looked up: \(small) at 1,000 SAs, \(large) at 100,000")
        XCTAssertEqual(large, 3, "one look-up per SPI asked for")
    }
}
