// The agent's connection to the routing node as pure logic: which phase it is in, when the
// next attempt goes out, which failures are worth a log line, and what a stop has to undo.
//
// The shell (ClusterNode's ClusterAgent) feeds it events with the time (`now:`, the injected
// clock) and carries out what it answers. Nothing here reads a clock or touches I/O, so every
// shutdown path is testable without sockets.

/// The phases of an agent's connection, and its stop.
public struct AgentConnectionMachine: Sendable {
    public enum Phase: Equatable, Sendable {
        /// Not started yet (start-up checks, status socket, leftovers).
        case starting
        /// A TCP connect is under way.
        case connecting(since: ClusterInstant)
        /// TCP is up; TLS handshake and Hello/Welcome not done yet.
        case handshaking(since: ClusterInstant)
        /// Welcomed by the routing node.
        case joined
        /// Waiting before the next attempt.
        case backingOff(retryAt: ClusterInstant)
        /// A stop was asked: nothing new starts; `deadline` bounds the waits on the network.
        case stopping(deadline: ClusterInstant, hurried: Bool)
        case stopped
    }

    /// What the shell must do to leave the current phase at a stop.
    public struct StopPlan: Equatable, Sendable {
        /// A retry is scheduled: cancel it.
        public var cancelRetry = false
        /// A channel is connecting or in its TLS handshake: close it (no waiting for TLS).
        public var abortConnection = false
        /// A joined channel: close it once the SA removals were reported.
        public var closeJoinedChannel = false
        /// Bound on the waits on the network (the channel close); local cleaning always runs.
        public var deadline: ClusterInstant
    }

    /// A failed attempt: when to try again and whether to say so.
    public struct Retry: Equatable, Sendable {
        public var delay: Duration
        /// Log this failure (first one, each doubling of the count, and at least once a minute).
        public var log: Bool
        /// Failures not logged since the last line.
        public var suppressed: Int
        public var attempt: Int
    }

    public let minimumBackoff: Duration
    public let maximumBackoff: Duration
    /// How long TCP may be up without a Welcome (a listener that never speaks TLS).
    public let handshakeTimeout: Duration
    /// How often a failure is logged at least while they keep coming.
    public let logInterval: Duration
    public private(set) var phase: Phase = .starting
    public private(set) var backoff: Duration
    /// Consecutive failed attempts (reset by a Welcome).
    public private(set) var failures = 0
    private var lastLog: ClusterInstant?
    private var suppressed = 0
    /// HA (issue 19): the highest leader term accepted from any routing node, kept across
    /// reconnects (`.none` until a routing node with `ha { }` welcomed this agent).
    public private(set) var term: ClusterTerm = .none

    public init(minimumBackoff: Duration, maximumBackoff: Duration, handshakeTimeout: Duration = .seconds(10),
                logInterval: Duration = .seconds(60)) {
        self.minimumBackoff = minimumBackoff
        self.maximumBackoff = max(maximumBackoff, minimumBackoff)
        self.handshakeTimeout = handshakeTimeout
        self.logInterval = logInterval
        backoff = minimumBackoff
    }

    public var isStopping: Bool {
        switch phase {
        case .stopping, .stopped: return true
        default: return false
        }
    }

    /// An attempt may start (false once stopping).
    public mutating func connectStarted(now: ClusterInstant) -> Bool {
        guard !isStopping else { return false }
        phase = .connecting(since: now)
        return true
    }

    /// TCP is up. False once stopping: the shell closes the channel at once.
    public mutating func connected(now: ClusterInstant) -> Bool {
        guard !isStopping else { return false }
        phase = .handshaking(since: now)
        return true
    }

    /// Welcomed: backoff and failure count start over.
    public mutating func welcomed() {
        guard !isStopping else { return }
        phase = .joined
        backoff = minimumBackoff
        failures = 0
        suppressed = 0
        lastLog = nil
    }

    /// A connect failed or a channel closed: the next attempt, or nil once stopping.
    /// `jitter` in 0...0.25 spreads restarted agents.
    public mutating func failed(now: ClusterInstant, jitter: Double = 0) -> Retry? {
        guard !isStopping else { return nil }
        failures += 1
        let delay = Duration.nanoseconds(Int64(Double(backoff.clusterNanoseconds) * (1 + min(max(jitter, 0), 0.25))))
        backoff = min(backoff * 2, maximumBackoff)
        phase = .backingOff(retryAt: now + delay)
        let log = failures & (failures - 1) == 0 || lastLog.map { now - $0 >= logInterval } ?? true
        let retry = Retry(delay: delay, log: log, suppressed: log ? suppressed : 0, attempt: failures)
        if log {
            lastLog = now
            suppressed = 0
        } else {
            suppressed += 1
        }
        return retry
    }

    /// True when the handshake has run longer than `handshakeTimeout` (the shell closes the
    /// channel; its close then counts as a failure).
    public func handshakeExpired(now: ClusterInstant) -> Bool {
        if case .handshaking(let since) = phase { return now - since >= handshakeTimeout }
        return false
    }

    /// The first stop signal: what to undo. A second call only returns the plan again with
    /// the earlier deadline (stopping is idempotent).
    public mutating func stop(now: ClusterInstant, bound: Duration) -> StopPlan {
        var plan = StopPlan(deadline: now + bound)
        switch phase {
        case .starting, .stopped:
            break
        case .connecting, .handshaking:
            plan.abortConnection = true
        case .joined:
            plan.closeJoinedChannel = true
        case .backingOff:
            plan.cancelRetry = true
        case .stopping(let deadline, let hurried):
            plan.deadline = deadline
            phase = .stopping(deadline: deadline, hurried: hurried)
            return plan
        }
        phase = .stopping(deadline: plan.deadline, hurried: false)
        return plan
    }

    /// A second signal (or the bound ran out): stop waiting on the network.
    public mutating func hurry() {
        if case .stopping(let deadline, _) = phase { phase = .stopping(deadline: deadline, hurried: true) }
    }

    /// Whether the stop may still wait on the network at `now`.
    public func mayWaitOnNetwork(now: ClusterInstant) -> Bool {
        if case .stopping(let deadline, let hurried) = phase { return !hurried && now < deadline }
        return !isStopping
    }

    public mutating func finished() {
        phase = .stopped
    }

    // MARK: Leader terms (no split brain)

    /// What to do with a frame from the routing node, by the term it carries.
    public enum TermVerdict: Equatable, Sendable {
        /// Its term is the agent's current one or newer: process it.
        case accept
        /// Older than a term already accepted (a deposed routing node): drop it, count
        /// `stale-term` and change nothing; a Welcome's connection is closed (the agent moves on
        /// to the next routing node), its SAs untouched.
        case stale(current: ClusterTerm)
    }

    /// Judges a frame carrying `term` (`.none`: no HA). A term never goes back: an older one is
    /// refused, an equal one accepted, a newer one (a takeover) accepted and kept as the
    /// agent's term from then on. Call before the frame touches any state.
    public mutating func received(term frameTerm: ClusterTerm) -> TermVerdict {
        guard frameTerm >= term else { return .stale(current: term) }
        term = frameTerm
        return .accept
    }
}
