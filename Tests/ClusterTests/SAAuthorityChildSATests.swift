import XCTest
@testable import Cluster

/// The authority's own decisions about a negotiated CHILD_SA (SAAuthority+ChildSA.swift):
/// fresh SA ids, the outbound owner, and the held-back outbound SA of a rekey's responder.
final class SAAuthorityChildSATests: XCTestCase {
    private let t1 = Fixture.node("t1"), t2 = Fixture.node("t2")
    private let start = ClusterInstant(nanoseconds: 1_000_000_000)

    private func authority(_ nodes: [NodeID], mode: OutboundMode = .perTarget) -> SAAuthority {
        var authority = SAAuthority(epoch: Fixture.epoch, configuration: .init(
            membership: .init(heartbeatInterval: .milliseconds(500), failureTimeout: .seconds(3)), outboundMode: mode))
        for node in nodes {
            _ = authority.receivedHello(.init(nodeID: node, clusterAddress: .v4(10, 9, 0, 1), capabilities: [.extendedSequenceNumbers],
                                              maximumReplayWindow: 4096, incarnation: 1, heldEpoch: .none), now: start)
        }
        return authority
    }

    /// The CHILD_SA's two SAs as the IKE side describes them with the authority's choices.
    private func describe(_ ids: [ClusterSAID], _ owner: NodeID?, _ mode: OutboundMode) -> [SADescription] {
        let sequencing: SequencingMode
        switch mode {
        case .perTarget: sequencing = owner.map { .perTarget(owner: $0) } ?? .notApplicable
        case .shared(let blockSize, _): sequencing = .shared(blockSize: blockSize)
        }
        return [Fixture.sa(ids[0].rawValue), Fixture.sa(ids[1].rawValue, direction: .outbound, sequencing: sequencing)]
    }

    private func sentIDs(_ actions: [AuthorityAction], to node: NodeID) -> [ClusterSAID] {
        actions.compactMap { if case .send(.installSA(let install), node) = $0 { return install.sa.saID }; return nil }
    }

    func testTheAuthorityChoosesFreshIDsAndAnOwnerWithoutOne() throws {
        var authority = authority([t1, t2])
        let first = try authority.childSANegotiated(reqid: 7, keepingOwner: nil, deferringOutbound: false, describe: describe,
                                                    response: IKEResponseToken(1), replacing: [], now: start)
        XCTAssertEqual(first.placed.ids, [ClusterSAID(1), ClusterSAID(2)])
        XCTAssertEqual(first.placed.owner, t1)
        XCTAssertEqual(sentIDs(first.actions, to: t1), [ClusterSAID(1), ClusterSAID(2)], "the owner gets both")
        XCTAssertEqual(sentIDs(first.actions, to: t2), [ClusterSAID(1)], "the other target only the inbound SA")
        // An SA id a caller chose itself (a tool) is never handed out again.
        _ = authority.childSANegotiated([Fixture.sa(10)], response: nil, now: start)
        let second = try authority.childSANegotiated(reqid: 7, keepingOwner: nil, deferringOutbound: false, describe: describe,
                                                     response: IKEResponseToken(2), replacing: [], now: start)
        XCTAssertEqual(second.placed.ids, [ClusterSAID(11), ClusterSAID(12)])
        XCTAssertEqual(second.placed.owner, t2, "t1 has an outbound SA of the line already")
    }

    func testARekeyKeepsItsOwnerAndItsResponderHoldsTheOutboundSA() throws {
        var authority = authority([t1, t2])
        let rekey = try authority.childSANegotiated(reqid: 7, keepingOwner: t2, deferringOutbound: true, describe: describe,
                                                    response: IKEResponseToken(1), replacing: [], now: start)
        XCTAssertEqual(rekey.placed.owner, t2)
        XCTAssertEqual(rekey.placed.heldOutbound?.saID, rekey.placed.ids[1])
        XCTAssertEqual(sentIDs(rekey.actions, to: t2), [rekey.placed.ids[0]], "only the inbound SA goes now")
    }

    func testSharedModeHasNoOwnerAndADescriptionThatIsNotTwoSAsIsRefused() throws {
        var shared = authority([t1], mode: .shared(blockSize: 1024, peerReplayWindow: 4096))
        let placed = try shared.childSANegotiated(reqid: 7, keepingOwner: nil, deferringOutbound: false, describe: describe,
                                                  response: nil, replacing: [], now: start)
        XCTAssertNil(placed.placed.owner)
        XCTAssertThrowsError(try shared.childSANegotiated(reqid: 7, keepingOwner: nil, deferringOutbound: false,
                                                          describe: { ids, _, _ in [Fixture.sa(ids[0].rawValue)] },
                                                          response: nil, replacing: [], now: start)) { error in
            XCTAssertEqual(error as? SAAuthorityError, .notAChildSA(1))
        }
    }
}
