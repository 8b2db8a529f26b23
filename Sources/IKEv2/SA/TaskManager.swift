// The one sequencer of an IKE_SA (RFC 7296 2.1-2.3): message IDs, retransmission of our
// requests, the response cache for the peer's retransmitted requests.
//
// Pure: it never touches a socket or a clock. The caller passes `now` in, sends the bytes
// it is told to, and schedules the returned `RetransmissionTimer` values; when one fires it
// calls `retransmissionTimerFired`. A timer for a request that was answered meanwhile is
// recognised as stale and does nothing, so timers never need cancelling.
//
// Window size 1 (RFC 7296 2.3): at most one request of ours in flight, and the peer's
// requests are expected strictly in order. Our requests and the peer's are independent, so
// an exchange collision (both sides sending a request at once) is simply both requests
// being processed; which of two colliding exchanges wins is the exchanges' business
// (RFC 7296 2.8.1), asked through `outstandingContext`.

/// A timer the shell schedules: at `deadline`, call `retransmissionTimerFired(messageID:now:)`.
public struct RetransmissionTimer: Sendable, Equatable {
    /// The message ID of the request the timer guards.
    public var messageID: UInt32
    /// When it fires, on the clock the caller uses for `now`.
    public var deadline: Double

    public init(messageID: UInt32, deadline: Double) {
        self.messageID = messageID
        self.deadline = deadline
    }
}

/// One IKE message as it goes on the wire: a single datagram, or its RFC 7383 fragments
/// (each a datagram of its own, sent and retransmitted together).
public typealias IKEDatagrams = [[UInt8]]

/// What to do with a request that arrived from the peer.
public enum IncomingRequestVerdict: Equatable, Sendable {
    /// A new request, in order: process it, then report the response with `responseSent`.
    case process
    /// A retransmission of the request just answered: send these cached datagrams again, unchanged.
    case resendCachedResponse(IKEDatagrams)
    /// Out of window (old or from the future): drop silently (counted).
    case drop
}

/// What to do when a retransmission timer fires.
public enum RetransmissionAction: Equatable, Sendable {
    /// The request was answered or replaced meanwhile: nothing to do.
    case none
    /// Send these datagrams again and schedule `next`.
    case retransmit(IKEDatagrams, next: RetransmissionTimer)
    /// Every try timed out: the IKE_SA is dead (RFC 7296 2.4).
    case giveUp
}

/// Counters of the sequencer (for `vipsec status` and tests).
public struct TaskManagerCounters: Sendable, Equatable {
    /// Our requests retransmitted.
    public var retransmissionsSent = 0
    /// Peer retransmissions answered from the response cache.
    public var cachedResponsesResent = 0
    /// Peer requests dropped because their message ID was old or ahead of the window.
    public var requestsDroppedOutOfWindow = 0
    /// Peer requests that reused the message ID of the request just answered but are not
    /// its retransmission (different bytes, RFC 7296 2.1): dropped, not answered from the cache.
    public var requestsDroppedNotRetransmission = 0
    /// Responses dropped because no request of ours with that message ID was in flight.
    public var responsesDroppedUnexpected = 0
    public init() {}
}

/// The sequencer of one IKE_SA. `Context` is what the IKE_SA keeps with a request in flight
/// (typically the initiator state of the exchange), handed back when the response arrives.
public struct TaskManager<Context> {
    /// The retransmission policy.
    public let policy: RetransmissionPolicy
    /// The message ID our next request will carry.
    public private(set) var nextRequestMessageID: UInt32 = 0
    /// The message ID the peer's next request must carry.
    public private(set) var expectedRequestMessageID: UInt32 = 0
    public private(set) var counters = TaskManagerCounters()

    private struct Outstanding {
        var messageID: UInt32
        var datagrams: IKEDatagrams
        var context: Context
        var retransmissions: Int
        var deadline: Double
    }
    private var outstanding: Outstanding?
    /// The last response, with the message ID and digest of the request it answered. The
    /// cache is per IKE_SA (one task manager each), so the key is (IKE_SA, message ID, digest).
    private var cachedResponse: (messageID: UInt32, requestDigest: [UInt8], datagrams: IKEDatagrams)?

    public init(policy: RetransmissionPolicy = .strongSwanDefault) {
        self.policy = policy
    }

    /// A sequencer continuing another's (a restored IKE_SA, IKESA+Snapshot.swift): the
    /// message IDs and the cached response carry over; nothing is in flight (re-send a
    /// request that was with `requestSent`).
    public init(policy: RetransmissionPolicy, nextRequestMessageID: UInt32, expectedRequestMessageID: UInt32,
                cachedResponse: (messageID: UInt32, requestDigest: [UInt8], datagrams: IKEDatagrams)?) {
        self.policy = policy
        self.nextRequestMessageID = nextRequestMessageID
        self.expectedRequestMessageID = expectedRequestMessageID
        self.cachedResponse = cachedResponse
    }

    /// The last response with the digest of the request it answered (for a snapshot).
    public var cachedResponseWithDigest: (messageID: UInt32, requestDigest: [UInt8], datagrams: IKEDatagrams)? {
        cachedResponse
    }

    /// The datagrams of our request in flight, if any (for a snapshot).
    public var outstandingDatagrams: IKEDatagrams? { outstanding?.datagrams }

    // MARK: Our requests

    /// Whether a new request may be sent now (window size 1, message IDs not exhausted).
    public var canSendRequest: Bool { outstanding == nil && nextRequestMessageID < UInt32.max }

    /// The context of our request in flight, if any (to detect exchange collisions).
    public var outstandingContext: Context? { outstanding?.context }

    /// The message ID of our request in flight, if any.
    public var outstandingMessageID: UInt32? { outstanding?.messageID }

    /// Records that `datagrams` (a request carrying `nextRequestMessageID`) is being sent now.
    /// Returns the timer to schedule, or nil when the window is full (nothing recorded).
    public mutating func requestSent(_ datagrams: IKEDatagrams, context: Context, now: Double) -> RetransmissionTimer? {
        guard canSendRequest else { return nil }
        let deadline = now + policy.delay(afterRetransmissions: 0)
        outstanding = Outstanding(messageID: nextRequestMessageID, datagrams: datagrams, context: context,
                                  retransmissions: 0, deadline: deadline)
        return RetransmissionTimer(messageID: nextRequestMessageID, deadline: deadline)
    }

    /// Replaces the request in flight with a new one under the same message ID, as the
    /// initiator does when IKE_SA_INIT is answered with COOKIE or INVALID_KE_PAYLOAD
    /// (RFC 7296 2.6, 1.2). The backoff starts over. Returns nil if nothing is in flight.
    public mutating func requestReplaced(_ datagrams: IKEDatagrams, context: Context, now: Double) -> RetransmissionTimer? {
        guard var current = outstanding else { return nil }
        current.datagrams = datagrams
        current.context = context
        current.retransmissions = 0
        current.deadline = now + policy.delay(afterRetransmissions: 0)
        outstanding = current
        return RetransmissionTimer(messageID: current.messageID, deadline: current.deadline)
    }

    /// A response arrived with `messageID`. Returns the context of the request it answers
    /// (and frees the window), or nil when it answers nothing in flight: drop it (counted).
    public mutating func responseReceived(messageID: UInt32) -> Context? {
        guard let current = outstanding, current.messageID == messageID else {
            counters.responsesDroppedUnexpected += 1
            return nil
        }
        outstanding = nil
        nextRequestMessageID = messageID &+ 1
        return current.context
    }

    /// A retransmission timer fired.
    public mutating func retransmissionTimerFired(messageID: UInt32, now: Double) -> RetransmissionAction {
        guard var current = outstanding, current.messageID == messageID, now >= current.deadline else {
            return .none
        }
        guard current.retransmissions < policy.tries else {
            outstanding = nil
            return .giveUp
        }
        current.retransmissions += 1
        current.deadline = now + policy.delay(afterRetransmissions: current.retransmissions)
        outstanding = current
        counters.retransmissionsSent += 1
        return .retransmit(current.datagrams, next: RetransmissionTimer(messageID: messageID, deadline: current.deadline))
    }

    /// Abandons the request in flight (the IKE_SA is being torn down), returning its context.
    public mutating func abandonOutstanding() -> Context? {
        defer { outstanding = nil }
        return outstanding?.context
    }

    // MARK: The peer's requests

    /// A request arrived with `messageID`: process it, answer it from the cache, or drop it.
    /// `requestDigest` (a hash of the request's bytes) tells a retransmission, which is
    /// bitwise identical (RFC 7296 2.1), from another request reusing the message ID.
    public mutating func requestReceived(messageID: UInt32, requestDigest: [UInt8] = []) -> IncomingRequestVerdict {
        if messageID == expectedRequestMessageID { return .process }
        if let cached = cachedResponse, cached.messageID == messageID {
            guard cached.requestDigest == requestDigest else {
                counters.requestsDroppedNotRetransmission += 1
                return .drop
            }
            counters.cachedResponsesResent += 1
            return .resendCachedResponse(cached.datagrams)
        }
        counters.requestsDroppedOutOfWindow += 1
        return .drop
    }

    /// A fragment of the request just answered arrived (RFC 7383 2.6.1): the first one
    /// (Fragment Number 1) of a retransmission gets the cached response again; any other
    /// fragment of it, nothing. The caller has verified the fragment's ICV: a fragmented
    /// request may be retransmitted fragmented differently, so its bytes prove nothing.
    public mutating func requestFragmentReceived(messageID: UInt32, fragmentNumber: UInt16) -> IKEDatagrams? {
        guard let cached = cachedResponse, cached.messageID == messageID, fragmentNumber == 1 else { return nil }
        counters.cachedResponsesResent += 1
        return cached.datagrams
    }

    /// The IKE_SA withheld the cached response `requestReceived` offered (it waits for an
    /// install): not counted as resent.
    public mutating func cachedResponseWithheld() { counters.cachedResponsesResent -= 1 }

    /// The response last recorded with `responseSent`, and the message ID it answers.
    public var lastResponse: (messageID: UInt32, datagrams: IKEDatagrams)? {
        cachedResponse.map { ($0.messageID, $0.datagrams) }
    }

    /// Records the response sent to the request `messageID` (which must be the expected
    /// one), caching its datagrams for retransmitted requests and advancing the window.
    /// Returns false (nothing recorded) for any other message ID.
    @discardableResult
    public mutating func responseSent(_ datagrams: IKEDatagrams, messageID: UInt32, requestDigest: [UInt8] = []) -> Bool {
        guard messageID == expectedRequestMessageID else { return false }
        cachedResponse = (messageID, requestDigest, datagrams)
        expectedRequestMessageID = messageID &+ 1
        return true
    }
}

extension TaskManager: Sendable where Context: Sendable {}
