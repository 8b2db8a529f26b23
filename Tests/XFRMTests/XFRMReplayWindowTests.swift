import VipsecTestSupport
import XCTest
@testable import XFRM

/// `XFRMReplayState.authenticatedWindow`: the kernel's two replay layouts, as NEWAE carries
/// them, read as "top, bit i = top - i". The kernel side is a transcription of
/// net/xfrm/xfrm_replay.c (`xfrm_replay_advance` for the 32-bit bitmap,
/// `xfrm_replay_advance_bmp` for the ring), fed the same numbers.
final class XFRMReplayWindowTests: XCTestCase {
    /// xfrm_replay_advance_bmp (window W, numbers below 2^32).
    struct KernelRing {
        let window: UInt32
        var seq: UInt32 = 0
        var bmp: [UInt32]
        init(window: UInt32) { self.window = window; bmp = Array(repeating: 0, count: Int((window + 31) / 32)) }
        /// xfrm_replay_check_bmp + advance: false when the kernel would drop it.
        mutating func receive(_ s: UInt32) -> Bool {
            guard s != 0 else { return false }
            if s <= seq {
                let diff = seq - s
                if diff >= window { return false }
                let pos = (seq &- 1) % window
                let bit = pos >= diff ? (pos - diff) % window : window - (diff - pos)
                if bmp[Int(bit >> 5)] & (1 << (bit & 31)) != 0 { return false }
                bmp[Int(bit >> 5)] |= 1 << (bit & 31)
                return true
            }
            let pos = (seq &- 1) % window
            let diff = s - seq
            if diff < window {
                for i in 1..<diff {
                    let bit = (pos &+ i) % window
                    bmp[Int(bit >> 5)] &= ~(1 << (bit & 31))
                }
            } else {
                for i in bmp.indices { bmp[i] = 0 }
            }
            let bit = (pos &+ diff) % window
            bmp[Int(bit >> 5)] |= 1 << (bit & 31)
            seq = s
            return true
        }
    }

    func testRingLayoutReadsAsNumbersBelowTheTop() {
        var generator = SeededGenerator(seed: 0x7669_7073_6563)
        for window: UInt32 in [64, 128, 4096] {
            var kernel = KernelRing(window: window)
            var received: Set<UInt64> = []
            // Mostly in order with gaps (other targets' numbers), some late arrivals, one jump.
            var next: UInt32 = 1
            for step in 0..<3000 {
                if step == 1500 { next += window * 3 }
                let s: UInt32
                if step % 7 == 3, next > window { s = next - UInt32.random(in: 1...(window / 2), using: &generator) } else {
                    next += UInt32.random(in: 1...3, using: &generator); s = next
                }
                if kernel.receive(s) { received.insert(UInt64(s)) }
            }
            let state = XFRMReplayState(window: window, sequence: UInt64(kernel.seq), bitmap: kernel.bmp)
            let (top, bitmap) = state.authenticatedWindow(ringFormat: true)
            XCTAssertEqual(top, UInt64(kernel.seq))
            var seen: Set<UInt64> = []
            for i in 0..<(bitmap.count * 64) where bitmap[i >> 6] & (1 << UInt64(i & 63)) != 0 { seen.insert(top - UInt64(i)) }
            let expected = received.filter { $0 + UInt64(window) > top && $0 <= top }
            XCTAssertEqual(seen, expected, "window \(window)")
            XCTAssertTrue(seen.contains(top))
        }
    }

    func testRingLayoutNearTheStartNamesNoNumberBeforeOne() {
        var kernel = KernelRing(window: 128)
        for s: UInt32 in [1, 2, 5, 9] { XCTAssertTrue(kernel.receive(s)) }
        XCTAssertFalse(kernel.receive(5), "the kernel's replay check")
        let (top, bitmap) = XFRMReplayState(window: 128, sequence: 9, bitmap: kernel.bmp).authenticatedWindow(ringFormat: true)
        XCTAssertEqual(top, 9)
        XCTAssertEqual(bitmap, [1 << 0 | 1 << 4 | 1 << 7 | 1 << 8], "9, 5, 2, 1 at bits 0, 4, 7, 8; nothing past 8")
    }

    func testThirtyTwoBitLayoutIsAlreadyAlignedAtTheTop() {
        // xfrm_replay_advance: bitmap = (bitmap << diff) | 1; bit i = seq - i.
        let (top, bitmap) = XFRMReplayState(window: 32, sequence: 100, bitmap: [0b1011]).authenticatedWindow(ringFormat: false)
        XCTAssertEqual(top, 100)
        XCTAssertEqual(bitmap, [0b1011], "100, 99 and 97")
        let early = XFRMReplayState(window: 32, sequence: 3, bitmap: [0xffff_ffff]).authenticatedWindow(ringFormat: false)
        XCTAssertEqual(early.bitmap, [0b111], "only 3, 2, 1 exist")
    }

    func testNoPacketYetIsNoEvidence() {
        XCTAssertEqual(XFRMReplayState(window: 128).authenticatedWindow(ringFormat: true).top, 0)
        XCTAssertEqual(XFRMReplayState(window: 32).authenticatedWindow(ringFormat: false).bitmap, [])
    }

    func testESNRingAcrossTheWrapUsesTheLow32Bits() {
        // ESN: the kernel indexes by the low 32 bits; numbers 2^32 - 1 and 2^32 + 1.
        let window: UInt32 = 64
        var bmp = [UInt32](repeating: 0, count: 2)
        for s: UInt64 in [(1 << 32) - 1, (1 << 32) + 1] {
            let bit = (UInt32(truncatingIfNeeded: s) &- 1) % window
            bmp[Int(bit >> 5)] |= 1 << (bit & 31)
        }
        let state = XFRMReplayState(window: window, extendedSequenceNumbers: true, sequence: (1 << 32) + 1, bitmap: bmp)
        let (top, bitmap) = state.authenticatedWindow(ringFormat: true)
        XCTAssertEqual(top, (1 << 32) + 1)
        XCTAssertEqual(bitmap, [0b101])
    }
}
