import XCTest
@testable import IKEv2

/// The sequencer: message IDs, backoff, the response cache (RFC 7296 2.1-2.3).
final class TaskManagerTests: XCTestCase {
    func testBackoffFollowsStrongSwanDefaultsAndGivesUp() {
        var manager = TaskManager<String>()
        guard let first = manager.requestSent([[1, 2, 3]], context: "init", now: 100) else { return XCTFail() }
        XCTAssertEqual(first, RetransmissionTimer(messageID: 0, deadline: 104))
        XCTAssertFalse(manager.canSendRequest, "window size 1")
        XCTAssertNil(manager.requestSent([[9]], context: "second", now: 100))

        // A timer that fires early (or a stale one) does nothing.
        XCTAssertEqual(manager.retransmissionTimerFired(messageID: 0, now: 103), RetransmissionAction.none)

        var now = first.deadline
        var delays: [Double] = []
        var timer = first
        while case .retransmit(let bytes, let next) = manager.retransmissionTimerFired(messageID: 0, now: now) {
            XCTAssertEqual(bytes, [[1, 2, 3]], "a retransmission is byte-identical")
            delays.append(next.deadline - now)
            timer = next
            now = next.deadline
        }
        XCTAssertEqual(delays.count, 5)
        for (delay, expected) in zip(delays, [7.2, 12.96, 23.328, 41.9904, 75.58272]) {
            XCTAssertEqual(delay, expected, accuracy: 1e-9)
        }
        XCTAssertEqual(timer.deadline - 100, 165.06112, accuracy: 1e-6)
        XCTAssertEqual(RetransmissionPolicy.strongSwanDefault.totalTime, 165.06112, accuracy: 1e-6)
        XCTAssertEqual(manager.counters.retransmissionsSent, 5)
        // The last fire gave up; the window is free again but the ID was not consumed.
        XCTAssertTrue(manager.canSendRequest)
        XCTAssertEqual(manager.nextRequestMessageID, 0)
        XCTAssertEqual(manager.retransmissionTimerFired(messageID: 0, now: now + 500), RetransmissionAction.none)
    }

    func testResponseFreesTheWindowAndAdvancesTheMessageID() {
        var manager = TaskManager<String>()
        _ = manager.requestSent([[1]], context: "auth", now: 0)
        XCTAssertNil(manager.responseReceived(messageID: 1), "answers nothing in flight")
        XCTAssertEqual(manager.counters.responsesDroppedUnexpected, 1)
        XCTAssertEqual(manager.responseReceived(messageID: 0), "auth")
        XCTAssertEqual(manager.nextRequestMessageID, 1)
        XCTAssertTrue(manager.canSendRequest)
        XCTAssertNil(manager.responseReceived(messageID: 0), "a duplicate response is dropped")
        XCTAssertEqual(manager.counters.responsesDroppedUnexpected, 2)
        // The timer of the answered request is stale now.
        XCTAssertEqual(manager.retransmissionTimerFired(messageID: 0, now: 1000), RetransmissionAction.none)
        let timer = manager.requestSent([[2]], context: "info", now: 10)
        XCTAssertEqual(timer?.messageID, 1)
    }

    func testReplacedRequestKeepsTheMessageIDAndRestartsBackoff() {
        // RFC 7296 2.6: the initiator repeats IKE_SA_INIT with the COOKIE, message ID still 0.
        var manager = TaskManager<Int>()
        _ = manager.requestSent([[1]], context: 1, now: 0)
        _ = manager.retransmissionTimerFired(messageID: 0, now: 4)
        let timer = manager.requestReplaced([[1, 0xC0]], context: 2, now: 5)
        XCTAssertEqual(timer, RetransmissionTimer(messageID: 0, deadline: 9))
        XCTAssertEqual(manager.outstandingContext, 2)
        XCTAssertEqual(manager.retransmissionTimerFired(messageID: 0, now: 9), .retransmit([[1, 0xC0]], next: RetransmissionTimer(messageID: 0, deadline: 16.2)))
        XCTAssertEqual(manager.responseReceived(messageID: 0), 2)
        var idle = TaskManager<Int>()
        XCTAssertNil(idle.requestReplaced([[1]], context: 1, now: 0), "nothing in flight to replace")
    }

    func testRetransmittedRequestGetsTheCachedResponseByteIdentical() {
        var responder = TaskManager<Void>()
        XCTAssertEqual(responder.requestReceived(messageID: 0), .process)
        XCTAssertTrue(responder.responseSent([[0xAA, 0xBB]], messageID: 0))
        XCTAssertEqual(responder.expectedRequestMessageID, 1)
        XCTAssertEqual(responder.requestReceived(messageID: 0), .resendCachedResponse([[0xAA, 0xBB]]))
        XCTAssertEqual(responder.requestReceived(messageID: 0), .resendCachedResponse([[0xAA, 0xBB]]))
        XCTAssertEqual(responder.counters.cachedResponsesResent, 2)
        XCTAssertEqual(responder.requestReceived(messageID: 1), .process)
        XCTAssertTrue(responder.responseSent([[0xCC]], messageID: 1))
        // Only the last response is cached; older requests are out of window.
        XCTAssertEqual(responder.requestReceived(messageID: 0), .drop)
        XCTAssertEqual(responder.requestReceived(messageID: 5), .drop, "ahead of the window")
        XCTAssertEqual(responder.counters.requestsDroppedOutOfWindow, 2)
        XCTAssertFalse(responder.responseSent([[0xDD]], messageID: 7), "not the expected request")
        XCTAssertEqual(responder.expectedRequestMessageID, 2)
    }

    /// RFC 7296 2.1: the cache answers a retransmission (bitwise identical: same digest),
    /// not another request reusing the message ID; that one is dropped and counted.
    func testResponseCacheIsKeyedByMessageIDAndRequestDigest() {
        var responder = TaskManager<Void>()
        XCTAssertEqual(responder.requestReceived(messageID: 0, requestDigest: [1, 1]), .process)
        XCTAssertTrue(responder.responseSent([[0xAA]], messageID: 0, requestDigest: [1, 1]))
        XCTAssertEqual(responder.requestReceived(messageID: 0, requestDigest: [1, 1]), .resendCachedResponse([[0xAA]]))
        XCTAssertEqual(responder.requestReceived(messageID: 0, requestDigest: [1, 2]), .drop)
        XCTAssertEqual(responder.requestReceived(messageID: 0, requestDigest: []), .drop)
        XCTAssertEqual(responder.counters.requestsDroppedNotRetransmission, 2)
        XCTAssertEqual(responder.counters.cachedResponsesResent, 1)
        XCTAssertEqual(responder.counters.requestsDroppedOutOfWindow, 0)
        XCTAssertEqual(responder.requestReceived(messageID: 1, requestDigest: [1, 2]), .process, "the next ID is processed")
    }

    func testBothDirectionsAreIndependent() {
        // An exchange collision: each side has a request in flight and receives the other's.
        var manager = TaskManager<String>()
        _ = manager.requestSent([[1]], context: "rekey", now: 0)
        XCTAssertEqual(manager.requestReceived(messageID: 0), .process)
        XCTAssertEqual(manager.outstandingContext, "rekey", "the collision is visible to the exchange")
        XCTAssertTrue(manager.responseSent([[2]], messageID: 0))
        XCTAssertEqual(manager.responseReceived(messageID: 0), "rekey")
        XCTAssertEqual(manager.nextRequestMessageID, 1)
        XCTAssertEqual(manager.expectedRequestMessageID, 1)
    }

    func testMessageIDsAreNeverReused() {
        var manager = TaskManager<Int>()
        for id in 0..<50 {
            XCTAssertEqual(manager.requestSent([[UInt8(id)]], context: id, now: Double(id))?.messageID, UInt32(id))
            XCTAssertEqual(manager.responseReceived(messageID: UInt32(id)), id)
        }
        XCTAssertEqual(manager.abandonOutstanding(), nil)
        _ = manager.requestSent([[0]], context: 99, now: 0)
        XCTAssertEqual(manager.abandonOutstanding(), 99)
        XCTAssertTrue(manager.canSendRequest)
    }
}
