import XCTest
@testable import IKEv2
import VipsecTestSupport

/// The bounds of RFC 7383 reassembly: what a peer can make us hold.
final class FragmentReassemblyTests: XCTestCase {
    func testFragmentsInAnyOrderMakeTheMessageOnce() {
        var reassembly = FragmentReassembly()
        XCTAssertEqual(reassembly.add(messageID: 1, number: 3, total: 3, firstPayload: .noNextPayload, plaintext: [5, 6], now: 0), .incomplete)
        XCTAssertEqual(reassembly.add(messageID: 1, number: 1, total: 3, firstPayload: .identificationInitiator, plaintext: [1, 2], now: 0), .incomplete)
        XCTAssertEqual(reassembly.add(messageID: 1, number: 1, total: 3, firstPayload: .identificationInitiator, plaintext: [9, 9], now: 0),
                       .incomplete, "a duplicate is ignored, not stored twice")
        XCTAssertEqual(reassembly.add(messageID: 1, number: 2, total: 3, firstPayload: .noNextPayload, plaintext: [3, 4], now: 0),
                       .complete(firstPayload: .identificationInitiator, plaintext: [1, 2, 3, 4, 5, 6]))
        XCTAssertEqual(reassembly.heldOctets, 0, "nothing kept after completion")
    }

    func testTooManyFragmentsAreRefusedUpFront() {
        var reassembly = FragmentReassembly(limits: .init(maximumFragments: 4))
        XCTAssertEqual(reassembly.add(messageID: 1, number: 1, total: 5, firstPayload: .notify, plaintext: [1], now: 0),
                       .dropped(.tooManyFragments))
        XCTAssertEqual(reassembly.heldOctets, 0)
    }

    func testAMessageBeyondTheLengthBoundIsDroppedWhole() {
        var reassembly = FragmentReassembly(limits: .init(maximumMessageLength: 100))
        XCTAssertEqual(reassembly.add(messageID: 1, number: 1, total: 3, firstPayload: .notify, plaintext: Array(repeating: 1, count: 60), now: 0), .incomplete)
        XCTAssertEqual(reassembly.add(messageID: 1, number: 2, total: 3, firstPayload: .noNextPayload, plaintext: Array(repeating: 2, count: 60), now: 0),
                       .dropped(.tooLong))
        XCTAssertEqual(reassembly.heldOctets, 0, "what was gathered is gone too")
        XCTAssertEqual(reassembly.add(messageID: 1, number: 3, total: 3, firstPayload: .noNextPayload, plaintext: [3], now: 0), .incomplete,
                       "a late fragment starts over, it does not complete a message with a hole")
    }

    func testALargerTotalStartsOverAndASmallerOneIsStale() {
        // RFC 7383 2.6.2: the sender fragmented again with a smaller size after a timeout.
        var reassembly = FragmentReassembly()
        XCTAssertEqual(reassembly.add(messageID: 2, number: 1, total: 2, firstPayload: .notify, plaintext: [1, 1], now: 0), .incomplete)
        XCTAssertEqual(reassembly.add(messageID: 2, number: 1, total: 3, firstPayload: .notify, plaintext: [1], now: 1), .incomplete)
        XCTAssertEqual(reassembly.heldOctets, 1, "the old fragmentation was forgotten")
        XCTAssertEqual(reassembly.add(messageID: 2, number: 2, total: 2, firstPayload: .noNextPayload, plaintext: [2, 2], now: 1),
                       .dropped(.staleTotal))
        XCTAssertEqual(reassembly.add(messageID: 2, number: 2, total: 3, firstPayload: .noNextPayload, plaintext: [2], now: 1), .incomplete)
        XCTAssertEqual(reassembly.add(messageID: 2, number: 3, total: 3, firstPayload: .noNextPayload, plaintext: [3], now: 1),
                       .complete(firstPayload: .notify, plaintext: [1, 2, 3]))
    }

    func testAnOldPartialMessageTimesOutAndAnotherMessageReplacesIt() {
        var reassembly = FragmentReassembly(limits: .init(timeout: 30))
        _ = reassembly.add(messageID: 3, number: 1, total: 2, firstPayload: .notify, plaintext: [1], now: 0)
        XCTAssertEqual(reassembly.add(messageID: 3, number: 2, total: 2, firstPayload: .noNextPayload, plaintext: [2], now: 31), .incomplete,
                       "fragment 1 was too old to be joined")
        _ = reassembly.add(messageID: 4, number: 1, total: 2, firstPayload: .notify, plaintext: [7, 7, 7], now: 32)
        XCTAssertEqual(reassembly.heldOctets, 3, "one message at a time: message 3's piece is gone")
    }

    func testAFloodOfIncompleteSetsHoldsAtMostOneMessage() {
        // Fragments of ever new messages, never complete: what is held never exceeds the bound.
        let limits = FragmentReassembly.Limits(maximumFragments: 64, maximumMessageLength: 4096)
        var reassembly = FragmentReassembly(limits: limits)
        var generator = SeededGenerator(seed: 7383)
        var most = 0
        for round in 0..<10_000 {
            let total = UInt16.random(in: 2...64, using: &generator)
            let number = UInt16.random(in: 1...total, using: &generator)
            _ = reassembly.add(messageID: UInt32(round % 7), number: number, total: total, firstPayload: .notify,
                               plaintext: Array(repeating: 0xAB, count: Int.random(in: 1...1200, using: &generator)), now: Double(round) / 100)
            most = max(most, reassembly.heldOctets)
        }
        XCTAssertLessThanOrEqual(most, limits.maximumMessageLength)
        XCTAssertGreaterThan(most, 0, "the flood was stored in part, so the bound was what held it")
    }
}
