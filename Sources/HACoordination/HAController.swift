// The I/O shell around LeaderElection (HAElection): it does what the machine's actions say
// against etcd (EtcdClient) and reports each outcome back as an event; the local actions
// (serve, stop serving, refresh the DVIPA's lifetime) go to the hooks `vipsec routing` gives.
//
// Keys under `prefix` (docs/takeover.md section 2):
//   leader   the node id, under the node's lease; its create_revision is the holder's term
//   term     "<term> <node>", written by each new active, guarded by its leader compare
import Cluster
import HAElection
import Logging
import NIOConcurrencyHelpers
import NIOCore

public final class HAController: Sendable {
    /// What `vipsec routing` does on the machine's local actions. Called in order, one at a
    /// time, with the machine's lock held: keep them short (netlink calls, flags).
    public struct Hooks: Sendable {
        public var becomeActive: @Sendable (_ term: Int64) -> Void
        public var stopServing: @Sendable (_ term: Int64, _ reason: StepDownReason) -> Void
        public var refreshAddressLifetime: @Sendable (_ seconds: UInt32) -> Void

        public init(becomeActive: @escaping @Sendable (Int64) -> Void,
                    stopServing: @escaping @Sendable (Int64, StepDownReason) -> Void,
                    refreshAddressLifetime: @escaping @Sendable (UInt32) -> Void) {
            self.becomeActive = becomeActive
            self.stopServing = stopServing
            self.refreshAddressLifetime = refreshAddressLifetime
        }
    }

    /// What `vipsec status` shows.
    public struct Status: Sendable, Equatable {
        public var node: String
        public var role: ElectionRole
        public var term: Int64?
        public var leader: String?
        public var leaderTerm: Int64?
        public var etcdReachable: Bool
        /// Milliseconds left before this node must stop serving (active only).
        public var servingMillisecondsLeft: Int64?
        public var stepDowns: [String: Int]
        /// When the role last changed (CLOCK_MONOTONIC, ms).
        public var roleSinceMonotonicMilliseconds: Int64
    }

    private let election: NIOLockedValueBox<LeaderElection>
    private let client: EtcdClient
    private let hooks: Hooks
    private let logger: Logger
    private let leaderKey: String
    private let termKey: String
    private let stopped = NIOLockedValueBox(false)
    /// When the role last changed (written under the election's lock).
    private let roleSince = NIOLockedValueBox(HAController.now)

    public init(node: String, prefix: String, client: EtcdClient, configuration: ElectionConfiguration,
                hooks: Hooks, logger: Logger) {
        election = NIOLockedValueBox(LeaderElection(node: node, configuration: configuration))
        self.client = client
        self.hooks = hooks
        self.logger = logger
        leaderKey = prefix + "leader"
        termKey = prefix + "term"
    }

    /// A monotonic clock (CLOCK_MONOTONIC, as NIO's deadlines).
    public static var now: ClusterInstant { ClusterInstant(nanoseconds: NIODeadline.now().uptimeNanoseconds) }

    /// Whether this node may answer IKE, accept agents and hold the DVIPA right now.
    public func maySend() -> Bool {
        election.withLockedValue { $0.maySend(now: Self.now) }
    }

    public var status: Status {
        let now = Self.now
        return election.withLockedValue { machine in
            Status(node: machine.node, role: machine.role, term: machine.term, leader: machine.leader?.node,
                   leaderTerm: machine.leader?.term, etcdReachable: machine.etcdReachable,
                   servingMillisecondsLeft: machine.role == .active
                       ? machine.servingDeadline.map { Int64(($0 - now).components.seconds * 1000 + ($0 - now).components.attoseconds / 1_000_000_000_000_000) }
                       : nil,
                   stepDowns: Dictionary(uniqueKeysWithValues: machine.stepDowns.map { ($0.key.rawValue, $0.value) }),
                   roleSinceMonotonicMilliseconds: Int64(roleSince.withLockedValue { $0 }.nanoseconds / 1_000_000))
        }
    }

    /// An agent showed a newer leader term than this node's (ClusterService.deposed): step
    /// down now if active (reason `deposed`).
    public func newerTermSeen(_ term: Int64) {
        feed { $0.newerTermSeen(term, now: Self.now) }
    }

    /// Runs the election until `stop`. Ticks at the machine's next deadline (at most 50 ms
    /// apart, so a late wake-up never costs more than that beyond the deadline).
    public func run() async {
        feed { $0.start(now: Self.now) }
        while !stopped.withLockedValue({ $0 }) {
            let now = Self.now
            let next = election.withLockedValue { $0.nextDeadline }
            var wait = Duration.milliseconds(50)
            if let next { wait = min(wait, max(.zero, next - now)) }
            if wait > .zero { try? await Task.sleep(for: wait) }
            feed { $0.tick(now: Self.now) }
        }
    }

    /// SIGTERM: stop serving now and revoke the lease (a standby wins at once), waiting at
    /// most `bound` for etcd.
    public func stop(bound: Duration = .seconds(1)) async {
        stopped.withLockedValue { $0 = true }
        let actions = election.withLockedValue { machine -> [ElectionAction] in
            let actions = machine.stop(now: Self.now)
            roleSince.withLockedValue { $0 = Self.now }
            performLocal(actions)
            return actions
        }
        for case .revokeLease(let lease) in actions {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await self.client.leaseRevoke(lease) }
                group.addTask { try? await Task.sleep(for: bound) }
                await group.next()
                group.cancelAll()
            }
        }
    }

    // MARK: Driving the machine

    /// Applies one event under the lock, performs its local actions there, and starts its
    /// etcd actions.
    private func feed(_ event: (inout LeaderElection) -> [ElectionAction]) {
        let actions = election.withLockedValue { machine -> [ElectionAction] in
            let before = (machine.role, machine.term)
            let actions = event(&machine)
            performLocal(actions)
            if before.0 != machine.role {
                roleSince.withLockedValue { $0 = Self.now }
                logger.info("HA: \(before.0.rawValue) → \(machine.role.rawValue)\(machine.term.map { " (term \($0))" } ?? "")")
            }
            return actions
        }
        for action in actions { startRemote(action) }
    }

    private func performLocal(_ actions: [ElectionAction]) {
        for action in actions {
            switch action {
            case .becomeActive(let term):
                logger.notice("HA: active, term \(term): taking the DVIPA")
                hooks.becomeActive(term)
            case .stopServing(let term, let reason):
                logger.warning("HA: stepping down from term \(term): \(reason.rawValue)")
                hooks.stopServing(term, reason)
            case .refreshAddressLifetime(let seconds):
                hooks.refreshAddressLifetime(seconds)
            case .grantLease, .keepAlive, .readLeader, .campaign, .revokeLease:
                break
            }
        }
    }

    private func startRemote(_ action: ElectionAction) {
        switch action {
        case .grantLease(let ttl):
            let sentAt = Self.now
            Task {
                do {
                    let (lease, granted) = try await client.leaseGrant(ttlSeconds: max(1, ttl.components.seconds))
                    feed { $0.leaseGranted(lease, ttl: .seconds(granted), sentAt: sentAt, now: Self.now) }
                } catch {
                    logger.warning("HA: lease grant failed: \(error)")
                    feed { $0.leaseGrantFailed(now: Self.now) }
                }
            }
        case .keepAlive(let lease):
            let sentAt = Self.now
            Task {
                do {
                    let ttl = try await client.leaseKeepAlive(lease)
                    feed { $0.keepAliveAnswered(lease: lease, ttl: .seconds(ttl), sentAt: sentAt, now: Self.now) }
                } catch {
                    logger.warning("HA: keepalive failed: \(error)")
                    feed { $0.keepAliveFailed(now: Self.now) }
                }
            }
        case .readLeader:
            Task {
                do {
                    let record = try await client.range(leaderKey).keyValues.first.map(Self.leaderRecord)
                    feed { $0.leaderRead(record, now: Self.now) }
                } catch {
                    logger.debug("HA: reading the leader failed: \(error)")
                    feed { $0.leaderReadFailed(now: Self.now) }
                }
            }
        case .campaign(let lease):
            let node = election.withLockedValue { $0.node }
            Task {
                do {
                    let result = try await client.txn(compare: [EtcdCompare(key: leaderKey, .createRevision(0))],
                                                      success: [.put(key: leaderKey, value: Array(node.utf8), lease: lease)],
                                                      failure: [.range(key: leaderKey)])
                    if result.succeeded {
                        feed { $0.campaignWon(term: result.revision, now: Self.now) }
                        await recordTerm(result.revision, node: node)
                    } else {
                        let holder = result.ranges.first?.first.map(Self.leaderRecord)
                        feed { $0.campaignLost(holder: holder, now: Self.now) }
                    }
                } catch {
                    logger.warning("HA: campaign failed: \(error)")
                    feed { $0.campaignFailed(now: Self.now) }
                }
            }
        case .revokeLease(let lease):
            Task { try? await client.leaseRevoke(lease) }
        case .becomeActive, .stopServing, .refreshAddressLifetime:
            break
        }
    }

    /// The new active's first write, guarded like every write of the active: `term`.
    private func recordTerm(_ term: Int64, node: String) async {
        guard election.withLockedValue({ $0.role == .active && $0.term == term }) else { return }
        do {
            let result = try await client.guardedPut(termKey, value: Array("\(term) \(node)".utf8), leaderKey: leaderKey, term: term)
            if !result.succeeded {
                logger.warning("HA: write of term \(term) fenced: another node holds the leader key")
                feed { $0.writeFenced(now: Self.now) }
            }
        } catch {
            logger.warning("HA: write of term \(term) failed: \(error)")
        }
    }

    static func leaderRecord(_ kv: EtcdKeyValue) -> LeaderRecord {
        LeaderRecord(node: String(decoding: kv.value, as: UTF8.self), term: kv.createRevision, lease: kv.lease)
    }
}
