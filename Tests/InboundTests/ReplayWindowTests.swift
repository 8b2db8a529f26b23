@testable import Inbound
import VipsecTestSupport
import XCTest

/// Claim 9 with RFC 4303 §3.4.3's rule kept: the window moves only on authenticated evidence.
final class ReplayWindowTests: XCTestCase {
    /// Bitmap with bits for `numbers` relative to `top` (bit i = top - i).
    private func bitmap(top: UInt64, _ numbers: [UInt64], size: Int = 4096) -> [UInt64] {
        var words = [UInt64](repeating: 0, count: size / 64)
        for n in numbers where n <= top && top - n < UInt64(size) {
            let i = Int(top - n)
            words[i / 64] |= 1 << UInt64(i % 64)
        }
        return words
    }

    func testForgedFloodFarAheadNeverDropsARealPacket() {
        var window = ReplayWindow(size: 4096)
        var rng = SeededGenerator(seed: 9)
        var realDrops = 0
        for real in UInt32(1)...20_000 {
            // Ten forged packets per real one, 10x ahead and up to 2^31 ahead: they pass (the
            // routing node cannot tell) and must not move anything.
            for _ in 0..<10 {
                let forged = real &* 10 &+ UInt32.random(in: 0...UInt32(1 << 31), using: &rng)
                _ = window.check(forged)
            }
            if case .pass = window.check(real) {} else { realDrops += 1 }
            // Targets report what their kernels authenticated (only real packets), now and then.
            if real % 500 == 0 {
                window.authenticated(top: UInt64(real), bitmap: bitmap(top: UInt64(real), Array(UInt64(real) - 400...UInt64(real))))
            }
        }
        XCTAssertEqual(realDrops, 0)
        XCTAssertEqual(window.top, 20_000, "only evidence moved the top")
    }

    func testReplaysAfterEvidenceAreDroppedOthersPass() {
        var window = ReplayWindow(size: 128)
        window.authenticated(top: 1000, bitmap: bitmap(top: 1000, [1000, 998, 950], size: 128))
        XCTAssertEqual(window.check(1000), .replay)
        XCTAssertEqual(window.check(998), .replay)
        XCTAssertEqual(window.check(950), .replay)
        XCTAssertEqual(window.check(999), .pass(sequenceNumber: 999), "a hole in the window passes")
        XCTAssertEqual(window.check(1001), .pass(sequenceNumber: 1001))
        XCTAssertEqual(window.check(873), .pass(sequenceNumber: 873), "the window's left edge T-W+1")
        XCTAssertEqual(window.check(872), .tooOld)
        XCTAssertEqual(window.check(0), .tooOld, "sequence number 0 is never sent")
    }

    func testEvidenceFromSeveralTargetsIsMerged() {
        var window = ReplayWindow(size: 256)
        // Target A saw 100, 98; target B (ahead) saw 130, 120 and 99; a late report from A: 97.
        window.authenticated(top: 100, bitmap: bitmap(top: 100, [100, 98], size: 256))
        window.authenticated(top: 130, bitmap: bitmap(top: 130, [130, 120, 99], size: 256))
        window.authenticated(top: 97, bitmap: bitmap(top: 97, [97], size: 256))
        XCTAssertEqual(window.top, 130)
        XCTAssertEqual(Set(window.authenticatedNumbers), [130, 120, 100, 99, 98, 97])
        for n: UInt32 in [130, 120, 100, 99, 98, 97] { XCTAssertEqual(window.check(n), .replay, "\(n)") }
        for n: UInt32 in [131, 129, 101, 96] { XCTAssertEqual(window.check(n), .pass(sequenceNumber: UInt64(n)), "\(n)") }
    }

    /// `verified` (the routing node checked the ICV itself) against a set model, mixed with
    /// targets' evidence: every verified number in the window is marked, T only moves forward.
    func testVerifiedNumbersAgreeWithASetModel() {
        var rng = SeededGenerator(seed: 7)
        var window = ReplayWindow(size: 256)
        var seen = Set<UInt64>()
        var top: UInt64 = 0
        for step in 0..<2000 {
            let number = UInt64.random(in: 1...(top + 300), using: &rng)
            if step % 50 == 49 {
                window.authenticated(top: number, bitmap: bitmap(top: number, [number], size: 256))
            } else {
                window.verified(number)
            }
            if number > top || top - number < 256 { seen.insert(number) }
            top = max(top, number)
            XCTAssertEqual(window.top, top)
            XCTAssertEqual(Set(window.authenticatedNumbers), Set(seen.filter { top - $0 < 256 }), "step \(step)")
            XCTAssertEqual(window.check(UInt32(number)), top - number < 256 ? .replay : .tooOld)
        }
    }

    func testShiftAcrossWordBoundariesAgreesWithASetModel() {
        var rng = SeededGenerator(seed: 42)
        var window = ReplayWindow(size: 512)
        var seen = Set<UInt64>()
        var top: UInt64 = 0
        for _ in 0..<300 {
            let reportTop = UInt64.random(in: 1...20_000, using: &rng)
            let numbers = (0..<5).map { _ in reportTop - UInt64.random(in: 0...min(reportTop - 1, 600), using: &rng) }
            window.authenticated(top: reportTop, bitmap: bitmap(top: reportTop, numbers, size: 512))
            seen.formUnion(numbers.filter { reportTop - $0 < 512 })
            top = max(top, reportTop)
            let model = Set(seen.filter { $0 <= top && top - $0 < 512 })
            XCTAssertEqual(Set(window.authenticatedNumbers), model)
        }
    }

    func testESNReconstructionFollowsRFC4303AppendixA() {
        var window = ReplayWindow(size: 1024, extended: true)
        // Case A: T = 2^32 + 5000; W = 1024.
        window.authenticated(top: 1 << 32 | 5000, bitmap: bitmap(top: 1 << 32 | 5000, [], size: 1024))
        XCTAssertEqual(window.reconstruct(5001), 1 << 32 | 5001)
        XCTAssertEqual(window.reconstruct(4000), 1 << 32 | 4000)
        XCTAssertEqual(window.reconstruct(3000), 2 << 32 | 3000, "below the window: the next subspace")
        // Case B: T = 2^32 + 10 (the window spans subspaces 0 and 1).
        var b = ReplayWindow(size: 1024, extended: true)
        b.authenticated(top: 1 << 32 | 10, bitmap: bitmap(top: 1 << 32 | 10, [], size: 1024))
        XCTAssertEqual(b.reconstruct(20), 1 << 32 | 20)
        XCTAssertEqual(b.reconstruct(UInt32.max - 5), UInt64(UInt32.max - 5), "left of the wrap: previous subspace")
        XCTAssertEqual(b.check(UInt32.max - 5), .pass(sequenceNumber: UInt64(UInt32.max - 5)))
        XCTAssertEqual(b.check(UInt32.max - 2000), .pass(sequenceNumber: 1 << 32 | UInt64(UInt32.max - 2000)),
                       "outside the window's wrap range: read as far ahead, like the kernel does")
        // A forged flood 2^31 ahead in ESN does not move T either.
        _ = b.check(UInt32(1 << 31))
        XCTAssertEqual(b.top, 1 << 32 | 10)
    }
}
