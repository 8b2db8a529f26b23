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
        XCTAssertEqual(marks.forget([ClusterSAID(2), ClusterSAID(1)], keeping: { $0 == ClusterSAID(1) }), [ClusterSAID(2)],
                       "a removal of an SA that is current again (re-added under its id) forgets nothing")
        XCTAssertEqual(marks.forget([ClusterSAID(2), ClusterSAID(3)], keeping: { _ in false }), [], "forgotten once; no mark: nothing")
        XCTAssertEqual(marks.marks, [ClusterSAID(1): 12_288])
    }

    /// The marks of deleted SAs are forgotten from the deletions themselves (the authority's
    /// journal of inbound removals), not from a periodic visit of every mark: one deletion
    /// costs one look-up with 100,000 marked SAs as with 1,000 (issue 20).
    func testADeletedSAsMarkCostsOneLookUpAt100000SAsAsAt1000() {
        func work(holding count: Int) -> Int {
            let sas = (1...UInt64(count)).map { Fixture.sa($0) }
            var authority = SAAuthority(restoring: Fixture.epoch, sas: sas)
            var marks = ReplayMarks(restored: Dictionary(uniqueKeysWithValues: sas.map { ($0.saID, UInt64(4096)) }))
            authority.trackInboundRemovals()
            XCTAssertEqual(authority.takeInboundRemovals(), [], "nothing removed yet")
            let victim = ClusterSAID(UInt64(count / 2))
            _ = authority.childSADeleted(victim, now: ClusterInstant(nanoseconds: 1_000_000_000))
            let before = marks.visits
            let removed = authority.takeInboundRemovals()
            XCTAssertEqual(removed, [victim])
            XCTAssertEqual(marks.forget(removed, keeping: { authority.distributedSA($0) != nil }), [victim])
            XCTAssertEqual(marks.marks.count, count - 1)
            XCTAssertNil(marks.marks[victim])
            XCTAssertEqual(authority.takeInboundRemovals(), [], "taken once")
            return marks.visits - before
        }
        let small = work(holding: 1_000), large = work(holding: 100_000)
        XCTAssertEqual(small, large, "marks visited per deletion: \(small) at 1,000, \(large) at 100,000")
        XCTAssertEqual(large, 1)
    }

    /// Removals are journaled only while tracked; an outbound SA's removal is not journaled.
    func testOnlyInboundRemovalsAreJournaledAndOnlyWhileTracked() {
        let sas = [Fixture.sa(1), Fixture.sa(2), Fixture.sa(3, direction: .outbound, sequencing: .perTarget(owner: Fixture.node("t1")))]
        var authority = SAAuthority(restoring: Fixture.epoch, sas: sas)
        let now = ClusterInstant(nanoseconds: 1_000_000_000)
        _ = authority.childSADeleted(ClusterSAID(1), now: now)
        XCTAssertEqual(authority.takeInboundRemovals(), [], "not tracked: nothing kept")
        authority.trackInboundRemovals()
        _ = authority.childSADeleted(ClusterSAID(3), now: now)
        _ = authority.childSADeleted(ClusterSAID(2), now: now)
        _ = authority.childSADeleted(ClusterSAID(2), now: now)
        XCTAssertEqual(authority.takeInboundRemovals(), [ClusterSAID(2)], "the inbound one, once")
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
