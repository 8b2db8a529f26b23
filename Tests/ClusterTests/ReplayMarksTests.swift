import XCTest
@testable import Cluster

/// Inbound replay marks for HA (ReplayMarks.swift, inbound claim 22): per block, rounded
/// down, never backwards; a restored authority starts each inbound SA's high-water there.
final class ReplayMarksTests: XCTestCase {
    func testAMarkIsAskedForOncePerBlockRoundedDown() {
        var marks = ReplayMarks(blockSize: 4096)
        var asked: [UInt64] = []
        for top in UInt64(1)...100_000 {
            if let mark = marks.evidence(ClusterSAID(1), top: top) { asked.append(mark) }
        }
        XCTAssertEqual(asked, (1...24).map { UInt64($0) * 4096 }, "one write per 4096 packets, at each boundary")
        XCTAssertNil(marks.evidence(ClusterSAID(1), top: 100_000), "the same evidence again asks nothing")
        // Evidence jumping several blocks asks for the block it reached, once.
        XCTAssertEqual(marks.evidence(ClusterSAID(1), top: 500_000), 499_712)
    }

    func testAMarkNeverGoesBackwardsAndNeverPassesItsEvidence() {
        var generator = SeededGenerator(seed: 22)
        for _ in 0..<200 {
            let block = UInt64.random(in: 1...10_000, using: &generator)
            var marks = ReplayMarks(blockSize: block)
            var highestTop: UInt64 = 0, last: UInt64 = 0
            for _ in 0..<200 {
                // Reports of several holders arrive in any order: tops go up and down.
                let top = UInt64.random(in: 1...5_000_000, using: &generator)
                highestTop = max(highestTop, top)
                if let mark = marks.evidence(ClusterSAID(7), top: top) {
                    XCTAssertGreaterThan(mark, last, "a mark never goes backwards")
                    XCTAssertLessThanOrEqual(mark, top, "rounded down: never above the evidence")
                    XCTAssertEqual(mark % block, 0)
                    last = mark
                }
            }
            XCTAssertGreaterThan(last + block, highestTop, "the mark is within one block of the highest evidence")
        }
    }

    func testRestoredMarksAreNotAskedForAgainAndGoneSAsAreForgotten() {
        var marks = ReplayMarks(blockSize: 4096, restored: [ClusterSAID(1): 8192, ClusterSAID(2): 4096])
        XCTAssertNil(marks.evidence(ClusterSAID(1), top: 8200), "etcd holds 8192 already")
        XCTAssertEqual(marks.evidence(ClusterSAID(1), top: 12_288), 12_288)
        XCTAssertEqual(marks.forget(keeping: { $0 == ClusterSAID(1) }), [ClusterSAID(2)])
        XCTAssertEqual(marks.forget(keeping: { $0 == ClusterSAID(1) }), [], "forgotten once")
        XCTAssertEqual(marks.marks, [ClusterSAID(1): 12_288])
    }

    func testFloorEvidenceCoversEveryNumberUpToTheMarkAndNoneBelowOne() throws {
        let floor = try XCTUnwrap(ReplayMarks.floorEvidence(mark: 8192))
        XCTAssertEqual(floor.top, 8192)
        XCTAssertEqual(floor.bitmap, [UInt64](repeating: .max, count: 64))
        let small = try XCTUnwrap(ReplayMarks.floorEvidence(mark: 100))
        XCTAssertEqual(small.bitmap[0], .max)
        XCTAssertEqual(small.bitmap[1], (1 << 36) - 1, "bits 64...99 = numbers 36...1")
        XCTAssertTrue(small.bitmap[2...].allSatisfy { $0 == 0 })
        XCTAssertNil(ReplayMarks.floorEvidence(mark: 0))
    }

    func testARestoredAuthorityStartsEachInboundSAsHighWaterAtItsMark() {
        let sas = [Fixture.sa(1), Fixture.sa(2), Fixture.sa(3, direction: .outbound, sequencing: .perTarget(owner: Fixture.node("t1")))]
            .map { sa -> SADescription in
                var sa = sa
                sa.epoch = Fixture.epoch
                return sa
            }
        let authority = SAAuthority(restoring: Fixture.epoch, sas: sas,
                                    replayMarks: [ClusterSAID(1): 40_960, ClusterSAID(3): 4096, ClusterSAID(9): 4096])
        XCTAssertEqual(authority.inboundHighWater(of: ClusterSAID(1)), 40_960)
        XCTAssertEqual(authority.inboundHighWater(of: ClusterSAID(2)), 0, "no mark recorded: no evidence yet")
        XCTAssertEqual(authority.inboundHighWater(of: ClusterSAID(3)), 0, "outbound SAs have no replay mark")
    }
}
