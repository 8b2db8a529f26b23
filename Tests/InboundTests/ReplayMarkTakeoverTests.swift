import XCTest
import Cluster
import VipsecTestSupport
@testable import Inbound

/// A takeover's replay window (inbound claim 22): the new active's check-only window starts
/// from the recorded mark (ReplayMarks: per block, rounded down) through the real
/// ReplayWindow. It refuses every number the mark covers, and passes every number the peer
/// sends after the takeover, whatever the old active's evidence and the block size.
final class ReplayMarkTakeoverTests: XCTestCase {
    /// The old active's window from evidence up to `top` with holes; the recorded mark; the new window.
    private func takeover(top: UInt64, block: UInt64, generator: inout SeededGenerator) -> (old: ReplayWindow, mark: UInt64, new: ReplayWindow) {
        var old = ReplayWindow(size: 4096)
        var marks = ReplayMarks(blockSize: block)
        var recorded: UInt64 = 0
        var sequence = top > 3000 ? top - 3000 : 1
        while sequence <= top {
            // A holder's kernel report: top = sequence, its bit set (holes where packets were lost).
            if sequence == top || UInt64.random(in: 0..<10, using: &generator) > 0 {
                old.authenticated(top: sequence, bitmap: [1])
                if let mark = marks.evidence(ClusterSAID(1), top: sequence) { recorded = mark }
            }
            sequence += 1
        }
        var new = ReplayWindow(size: 4096)
        if let floor = ReplayMarks.floorEvidence(mark: recorded) { new.authenticated(top: floor.top, bitmap: floor.bitmap) }
        return (old, recorded, new)
    }

    func testTheNewWindowRefusesWhatTheMarkCoversAndPassesEveryLaterPacket() {
        var generator = SeededGenerator(seed: 0x22)
        for _ in 0..<60 {
            let top = UInt64.random(in: 1...200_000, using: &generator)
            let block = [UInt64(64), 1000, 4096].randomElement(using: &generator)!
            let (old, mark, new) = takeover(top: top, block: block, generator: &generator)
            XCTAssertLessThanOrEqual(mark, top)
            XCTAssertGreaterThan(mark + block, top, "the mark lags the evidence by less than a block")
            // Rounding never drops a real packet: the peer's next numbers all pass.
            for next in (top + 1)...(top + 5000) {
                guard case .pass = new.check(UInt32(truncatingIfNeeded: next)) else {
                    return XCTFail("top \(top), block \(block), mark \(mark): the peer's packet \(next) is dropped")
                }
            }
            // What the old active refused at or below the mark, the new one refuses too.
            for covered in stride(from: mark, to: 0, by: -1).prefix(6000) where old.check(UInt32(truncatingIfNeeded: covered)) != ReplayCheck.pass(sequenceNumber: covered) {
                XCTAssertNotEqual(new.check(UInt32(truncatingIfNeeded: covered)), ReplayCheck.pass(sequenceNumber: covered))
            }
            // Every number the mark covers is refused (a replay the old active's evidence covered).
            for covered in stride(from: mark, to: 0, by: -1).prefix(6000) {
                XCTAssertNotEqual(new.check(UInt32(truncatingIfNeeded: covered)), ReplayCheck.pass(sequenceNumber: covered),
                                  "top \(top), mark \(mark): a replay of \(covered) passes")
            }
        }
    }

    func testRoundingUpWouldHaveDroppedTheNextRealPacket() {
        // The mutation the rule guards against: a mark rounded up to the end of its block.
        let top: UInt64 = 10_000, block: UInt64 = 4096
        XCTAssertEqual(ReplayMarks.mark(top: top, blockSize: block), 8192)
        var roundedUp = ReplayWindow(size: 4096)
        let up = (top + block - 1) / block * block   // 12288
        let floor = ReplayMarks.floorEvidence(mark: up)!
        roundedUp.authenticated(top: floor.top, bitmap: floor.bitmap)
        XCTAssertEqual(roundedUp.check(UInt32(top + 1)), .replay, "rounded up, the peer's next packet would be dropped")
    }
}
