import XCTest
@testable import Cluster

/// A new active's SA authority after a takeover (SAAuthority+Restore.swift): the cluster's
/// epoch and the SAs the previous active distributed, exactly as sent.
final class SAAuthorityRestoreTests: XCTestCase {
    private let t1 = Fixture.node("t1"), t2 = Fixture.node("t2")
    private let start = ClusterInstant(nanoseconds: 1_000_000_000)

    /// What the previous active distributed: one inbound SA for all, an outbound SA owned by t1
    /// and one owned by t2, and a shared outbound SA.
    private var previous: [SADescription] {
        [Fixture.sa(1), Fixture.sa(2, direction: .outbound, sequencing: .perTarget(owner: t1)),
         Fixture.sa(3, direction: .outbound, sequencing: .perTarget(owner: t2)),
         Fixture.sa(4, direction: .outbound, sequencing: .shared(blockSize: 1024))].map {
            var sa = $0
            sa.epoch = Fixture.epoch
            return sa
        }
    }

    private func hello(_ node: NodeID, held: ClusterEpoch) -> ClusterMessage.Hello {
        .init(nodeID: node, clusterAddress: .v4(10, 9, 0, 1), capabilities: [.extendedSequenceNumbers],
              maximumReplayWindow: 4096, incarnation: 7, heldEpoch: held)
    }

    private func installs(_ actions: [AuthorityAction], to node: NodeID) -> [SADescription] {
        actions.compactMap { if case .send(.installSA(let install), node) = $0 { return install.sa }; return nil }
    }

    func testAnAgentOfTheEpochIsResyncedWithTheVeryDescriptionsItHolds() {
        var authority = SAAuthority(restoring: Fixture.epoch, sas: previous)
        XCTAssertEqual(authority.membership.epoch, Fixture.epoch)
        XCTAssertEqual(authority.currentSAs.map(\.saID), [ClusterSAID(1), ClusterSAID(2), ClusterSAID(3)],
                       "the shared SA is not continued")
        let actions = authority.receivedHello(hello(t1, held: Fixture.epoch), now: start)
        XCTAssertTrue(actions.contains { if case .send(.welcome(let welcome), t1) = $0 { return welcome.epoch == Fixture.epoch }; return false })
        XCTAssertEqual(installs(actions, to: t1), Array(previous.prefix(2)), "byte-identical: the agent's kernel is not touched")
        XCTAssertFalse(actions.contains { if case .negotiatePerTargetSA = $0 { return true }; return false },
                       "t1 keeps its outbound SA: no new one is negotiated")
        XCTAssertFalse(actions.contains { if case .deleteChildSA = $0 { return true }; return false })
        // New SA ids continue after the restored ones.
        XCTAssertEqual(authority.makeSAID(), ClusterSAID(4))
    }

    func testAnOwnerThatLostTheEpochMeanwhileHasItsOutboundSAsDeletedWithThePeer() {
        var authority = SAAuthority(restoring: Fixture.epoch, sas: previous)
        // t2's agent restarted during the takeover: it holds no epoch, its kernel is empty.
        let actions = authority.receivedHello(hello(t2, held: .none), now: start)
        XCTAssertTrue(actions.contains { if case .deleteChildSA(ClusterSAID(3)) = $0 { return true }; return false },
                      "its outbound SA would count from 1 again under the same key: deleted with the peer, \(actions)")
        XCTAssertFalse(installs(actions, to: t2).contains { $0.saID == ClusterSAID(3) })
    }
}
