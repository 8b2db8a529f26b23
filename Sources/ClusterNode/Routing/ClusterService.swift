import Cluster
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// Why `ClusterService.install` did not succeed.
public enum ClusterInstallError: Error, Equatable, CustomStringConvertible {
    /// No live target installed one of the SAs (every target refused, timed out, or there
    /// is no target): the IKE daemon must not make the CHILD_SA usable.
    case notInstalled(String)
    /// The service stopped before the targets answered.
    case shutDown

    public var description: String {
        switch self {
        case .notInstalled(let reason): return "SA not installed on any target: \(reason)"
        case .shutDown: return "the cluster service stopped"
        }
    }
}

/// The routing node's side of the cluster: accepts agents over TLS, runs `SAAuthority`
/// (membership, distribution, sequence blocks, lifesize) with the real clock, carries out its
/// actions on the connections, and serves the status.
///
/// For the IKE daemon: `install(_:replacing:)` distributes a negotiated CHILD_SA's SAs and
/// returns once every live target acknowledged them. Timeout rule (bounded by the
/// authority's install timeout): a target that has not answered by then is dropped from
/// the membership (it rejoins and resynchronises); the call succeeds if at least one target
/// holds every SA, and throws `ClusterInstallError.notInstalled` if one SA is held nowhere.
/// `delete(_:)` removes an SA from every target. The authority's requests to the IKE side
/// (negotiate a per-target SA, rekey, delete with the peer) arrive through `Hooks`.
///
/// All state lives on one event loop; every public method is safe from any thread.
public final class ClusterService: @unchecked Sendable {
    /// Configuration of the routing node's cluster side.
    public struct Configuration: Sendable {
        public var nodeID: NodeID
        public var listenHost: String
        public var listenPort: Int
        public var authority: SAAuthority.Configuration
        /// Unix socket for `vipsec status` (nil: none).
        public var statusSocketPath: String?
        /// How often the authority's timers are checked.
        public var tickInterval: Duration

        public init(nodeID: NodeID, listenHost: String = "0.0.0.0", listenPort: Int = 4501,
                    authority: SAAuthority.Configuration = .init(), statusSocketPath: String? = nil,
                    tickInterval: Duration = .milliseconds(50)) {
            self.nodeID = nodeID
            self.listenHost = listenHost
            self.listenPort = listenPort
            self.authority = authority
            self.statusSocketPath = statusSocketPath
            self.tickInterval = tickInterval
        }
    }

    /// What the authority asks of the IKE daemon. Called on the service's event loop.
    public struct Hooks: Sendable {
        /// Negotiate (CREATE_CHILD_SA) an outbound SA for `owner` in the CHILD_SA line `reqid`.
        public var negotiatePerTargetSA: @Sendable (_ owner: NodeID, _ reqid: UInt32) -> Void
        /// Rekey this SA (its lifesize or sequence space is near the limit).
        public var rekey: @Sendable (ClusterSAID) -> Void
        /// Delete this SA with the peer (its owner left).
        public var deleteChildSA: @Sendable (ClusterSAID) -> Void

        public init(negotiatePerTargetSA: @escaping @Sendable (NodeID, UInt32) -> Void = { _, _ in },
                    rekey: @escaping @Sendable (ClusterSAID) -> Void = { _ in },
                    deleteChildSA: @escaping @Sendable (ClusterSAID) -> Void = { _ in }) {
            self.negotiatePerTargetSA = negotiatePerTargetSA
            self.rekey = rekey
            self.deleteChildSA = deleteChildSA
        }
    }

    public let configuration: Configuration
    public let drops = ClusterDropCounters()
    let loop: EventLoop
    let group: EventLoopGroup
    let credentials: ClusterCredentials
    let logger: Logger
    var hooks: Hooks
    var authority: SAAuthority
    var connections: [NodeID: Channel] = [:]
    /// Messages are written at once and flushed at the end of the loop's turn (one TLS record).
    let flusher: FlushAtEndOfTurn
    var waiters: [IKEResponseToken: EventLoopPromise<Void>] = [:]
    var nextToken: UInt64 = 0
    var heartbeatCounter: UInt64 = 0
    var lastHeartbeat = ClusterInstant.zero
    var events: [String] = []
    var serverChannel: Channel?
    var statusServer: StatusSocketServer?
    var ticker: RepeatedTask?
    var stopped = false
    /// A stop signal arrived: installs fail at once (ClusterService+Lifecycle.swift).
    var installsRefused = false
    /// Completed by a second stop signal: the stop no longer waits on the targets.
    var hurriedOnce = false
    /// The stop's waits on the targets, each ended by `hurry()` (ClusterService+Lifecycle.swift).
    var hurryWaiters: [EventLoopPromise<Void>] = []
    /// The inbound distributor's feed and status (ClusterService+Inbound.swift; nil: none).
    var stateObserver: (@Sendable (ClusterStateUpdate) -> Void)?
    var stateFeed = InboundStateFeed()
    var inboundStatusProvider: (@Sendable () -> InboundStatus?)?
    var replayObserver: (@Sendable (AuthenticatedReplay) -> Void)?
    var flowEndObserver: (@Sendable (TargetFlowEnds) -> Void)?
    var heldFlowObserver: (@Sendable (TargetHeldFlows) -> Void)?
    /// HA (issue 19): whether this node may accept agents now (the elected active). Nil:
    /// always. A connection arriving while it says no is closed at once (`standby` drop).
    /// Set before `start`.
    public var admission: (@Sendable () -> Bool)?
    /// HA: the term of this node's election (nil: no `ha { }`). Read when a connection is
    /// admitted; every frame written on it carries that term (`ClusterFrame` version 2), so
    /// agents can refuse a deposed node. A step-down closes every connection, so a connection
    /// never outlives its term. Set before `start`.
    public var term: (@Sendable () -> ClusterTerm)?
    /// HA: the election's status for `vipsec status` (nil: no `ha { }`). Set before `start`.
    public var haStatusProvider: (@Sendable () -> HAStatus)?
    /// HA with a seal key (inbound claim 22): where the inbound replay marks go, per block
    /// and rounded down (`ReplayMarks`), and the SAs whose marks are of no use any more.
    /// Called on the loop; it must only post. Nil: no marks. Set before `start`.
    public var replayMarkRecorder: (@Sendable (ReplayMarkChange) -> Void)?
    var replayMarks = ReplayMarks()
    /// HA: an agent's frame carried a newer leader term than `term` (another node won since):
    /// this node was deposed and must step down (HAController.newerTermSeen). Called on the
    /// loop once per newer term seen; it must only post. Set before `start`.
    public var deposed: (@Sendable (ClusterTerm) -> Void)?
    /// The newest term an agent showed that deposed this node (reported once).
    var deposedSeen: ClusterTerm = .none

    /// A service for a fresh epoch (every routing-node start gets a new one).
    public init(configuration: Configuration, credentials: ClusterCredentials,
                group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                hooks: Hooks = Hooks(), logger: Logger = Logger(label: "vipsec.cluster")) throws {
        try credentials.checkIdentity(configuration.nodeID)
        var generator = SystemRandomNumberGenerator()
        self.configuration = configuration
        self.credentials = credentials
        self.group = group
        self.loop = group.next()
        flusher = FlushAtEndOfTurn(loop: loop)
        self.hooks = hooks
        self.logger = logger
        authority = SAAuthority(epoch: .fresh(using: &generator), configuration: configuration.authority)
        authority.trackInboundRemovals()   // replay marks are forgotten from these
    }

    /// The epoch of this routing-node incarnation.
    public var epoch: ClusterEpoch { authority.membership.epoch }

    /// The clock.
    static func now() -> ClusterInstant { ClusterInstant(nanoseconds: NIODeadline.now().uptimeNanoseconds) }

    /// Binds the cluster port (and the status socket); returns the bound port.
    public func start() async throws -> Int {
        let sslContext = try NIOSSLContext(configuration: credentials.serverConfiguration())
        let channel = try await ServerBootstrap(group: loop)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                if let admission, !admission() {
                    drops.count("standby")
                    return channel.close()
                }
                let term = term?() ?? .none
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(NIOSSLServerHandler(context: sslContext))
                    try sync.addClusterCodec(drops: drops, term: term)
                    try sync.addHandler(RoutingConnectionHandler(service: self))
                }
            }
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .bind(host: configuration.listenHost, port: configuration.listenPort).get()
        if let path = configuration.statusSocketPath {
            statusServer = try await StatusSocketServer.start(path: path, group: loop, stream: { [self] in statusStream() }).get()
        }
        try await loop.submit { [self] in
            serverChannel = channel
            ticker = loop.scheduleRepeatedTask(initialDelay: .nanoseconds(Int64(configuration.tickInterval.nanoseconds)),
                                               delay: .nanoseconds(Int64(configuration.tickInterval.nanoseconds))) { [self] _ in
                tick()
            }
            note("routing node \(configuration.nodeID) started in \(epoch)")
        }.get()
        return channel.localAddress?.port ?? configuration.listenPort
    }


    /// Replaces the hooks (e.g. once the IKE daemon is up).
    public func setHooks(_ hooks: Hooks) {
        loop.execute { self.hooks = hooks }
    }

    // MARK: The IKE daemon's side

    /// A fresh SA id for this epoch (chosen by the SA authority). Throws when the service's
    /// event loop is gone.
    public func makeSAID() async throws -> ClusterSAID {
        try await loop.submit { [self] in authority.makeSAID() }.get()
    }

    /// Distributes `sas` (e.g. a CHILD_SA's inbound and outbound SA) to every live target
    /// meant to have them and waits for the answers (see the type's timeout rule).
    /// `replacing` names the SAs these rekey.
    public func install(_ sas: [SADescription], replacing: [ClusterSAID] = []) async throws {
        let future: EventLoopFuture<Void> = loop.flatSubmit { [self] in
            guard !stopped, !installsRefused else { return loop.makeFailedFuture(ClusterInstallError.shutDown) }
            let token = nextResponseToken()
            execute(authority.childSANegotiated(sas, response: token.token, replacing: replacing, now: Self.now()))
            return token.answered
        }
        try await future.get()
    }

    /// On the loop: a token for the authority's answer on an install, and its future.
    func nextResponseToken() -> (token: IKEResponseToken, answered: EventLoopFuture<Void>) {
        nextToken += 1
        let token = IKEResponseToken(nextToken)
        let promise = loop.makePromise(of: Void.self)
        waiters[token] = promise
        return (token, promise.futureResult)
    }

    /// Installs a negotiated CHILD_SA of the line `reqid` with one call onto the service's
    /// loop: the SA authority chooses its SA ids and outbound owner and distributes it
    /// (`SAAuthority.childSANegotiated(reqid:...)`, where `describe` is explained); the call
    /// returns by `install`'s timeout rule, with what the authority chose.
    public func installChildSA(reqid: UInt32, keepingOwner: NodeID?, deferringOutbound: Bool, replacing: [ClusterSAID],
                               describe: @escaping @Sendable ([ClusterSAID], NodeID?, OutboundMode) throws -> [SADescription])
        async throws -> PlacedChildSA {
        let future: EventLoopFuture<PlacedChildSA> = loop.flatSubmit { [self] in
            guard !stopped, !installsRefused else { return loop.makeFailedFuture(ClusterInstallError.shutDown) }
            let token = nextResponseToken()
            do {
                let (placed, actions) = try authority.childSANegotiated(
                    reqid: reqid, keepingOwner: keepingOwner, deferringOutbound: deferringOutbound, describe: describe,
                    response: token.token, replacing: replacing, now: Self.now())
                execute(actions)
                return token.answered.map { placed }
            } catch {   // not described (e.g. no live target to own the outbound SA): nothing sent
                waiters.removeValue(forKey: token.token)?.fail(error)
                return loop.makeFailedFuture(error)
            }
        }
        return try await future.get()
    }

    /// Removes the SA from every target (rekeyed away, expired, or deleted by the peer).
    public func delete(_ saID: ClusterSAID) async {
        _ = try? await loop.submit { [self] in
            execute(authority.childSADeleted(saID, now: Self.now()))
        }.get()
    }

    /// The live members, by name.
    public func liveMembers() async -> [NodeID] {
        (try? await loop.submit { self.authority.membership.liveMembers }.get()) ?? []
    }

    // MARK: Connections (called by RoutingConnectionHandler, on any loop)

    func accept(_ hello: ClusterMessage.Hello, term frameTerm: ClusterTerm = .none, on channel: Channel) {
        loop.execute { [self] in
            guard !deposedBy(frameTerm, node: hello.nodeID, channel: channel) else { return }
            guard !stopped else { channel.close(promise: nil); return }
            let node = hello.nodeID
            if let old = connections[node], old !== channel {
                note("\(node) connected again; closing its previous connection")
                old.close(promise: nil)
            }
            connections[node] = channel
            let known = authority.membership.members[node]
            let kind = known == nil ? "joined" : (known?.incarnation == hello.incarnation ? "reconnected" : "restarted")
            note("\(node) \(kind) from \(hello.clusterAddress) (incarnation \(String(hello.incarnation, radix: 16)), holds \(hello.heldEpoch))")
            execute(authority.receivedHello(hello, now: Self.now()))
        }
    }

    func received(_ message: ClusterMessage, term frameTerm: ClusterTerm = .none, from node: NodeID, on channel: Channel) {
        loop.execute { [self] in
            guard connections[node] === channel else {
                drops.count("stale-connection")
                return
            }
            guard !deposedBy(frameTerm, node: node, channel: channel) else { return }
            let actions = authority.received(message, from: node, now: Self.now())
            // A replay report (one per advance of a target's window) moves only the inbound
            // high-water mark, and a flow-end report nothing of the authority's: the published
            // state carries neither, no update for them.
            switch message {
            case .replayReport, .flowEndReport, .flowReport: execute(actions, publishing: false)
            default: execute(actions)
            }
        }
    }

    func closed(_ node: NodeID, channel: Channel) {
        loop.execute { [self] in
            guard connections[node] === channel else { return }
            connections[node] = nil
            note("\(node) disconnected")
            execute(authority.connectionClosed(node, now: Self.now()))
        }
    }

    func refused(_ what: String) {
        loop.execute { self.note(what) }
    }

    // MARK: Internals (on loop)

    func tick() {
        let now = Self.now()
        execute(authority.tick(now: now))
        let interval = configuration.authority.membership.heartbeatInterval
        guard lastHeartbeat + interval <= now else { return }
        lastHeartbeat = now
        heartbeatCounter += 1
        let beat = ClusterMessage.heartbeat(.init(epoch: epoch, counter: heartbeatCounter))
        for node in authority.membership.liveMembers {
            connections[node]?.writeAndFlush(beat, promise: nil)
        }
    }

    func execute(_ actions: [AuthorityAction], publishing: Bool = true) {
        // The distributor hears of a change before the IKE responses it releases can reach
        // the peer: the peer's first packet on a new SA must find the SA with all its holders
        // (with a holder missing, the classifier re-places the SA's flows on another target,
        // which answers with a reset; seen in a loaded lab VM). An update carries only what
        // changed, so publishing per call costs no more than per turn.
        if publishing { publishState() }
        for action in actions {
            switch action {
            case .send(let message, let node):
                if case .sequenceBlockGrant(let grant) = message {
                    // One line per grant: the lab checks that blocks are disjoint and that every
                    // captured ESP packet lies in a block granted to its sender.
                    logger.debug("sequence-grant node=\(node) sa=\(grant.saID.rawValue) first=\(grant.block.first) last=\(grant.block.last)")
                }
                if let connection = connections[node] { flusher.write(message, on: connection) }
            case .releaseIKEResponse(let token):
                waiters.removeValue(forKey: token)?.succeed(())
            case .failIKEResponse(let token, let reason):
                waiters.removeValue(forKey: token)?.fail(ClusterInstallError.notInstalled(reason))
            case .dropMember(let node, let reason):
                note("dropped \(node): \(reason)")
                connections.removeValue(forKey: node)?.close(promise: nil)
            case .negotiatePerTargetSA(let owner, let reqid):
                hooks.negotiatePerTargetSA(owner, reqid)
            case .deleteChildSA(let saID):
                hooks.deleteChildSA(saID)
            case .rekey(let saID):
                let queued = authority.lifesize.queueDepth(of: saID)
                note("rekey requested for \(saID)" + (queued > 0 ? " (\(queued) rekeys queued ahead on its line: wider margin)" : ""))
                hooks.rekey(saID)
            case .rekeyJudged(let saID, let timing, let percent):
                // One line per completed rekey: how early it came by the lifesize estimate and
                // what N, the reporting percentage, became (outbound claim 13, inbound 18).
                note("lifesize: rekey of \(saID) came \(timing); reporting percentage N = \(String(format: "%.3f", percent)) %")
            case .authenticatedReplay(let report, let sa):
                replayObserver?(AuthenticatedReplay(saID: report.saID, destination: sa.destination, spi: sa.spi,
                                                    top: report.top, bitmap: report.bitmap))
                if let replayMarkRecorder, let mark = replayMarks.evidence(report.saID, top: report.top) {
                    replayMarkRecorder(.record(report.saID, mark: mark))
                }
            case .flowsEnded(let flows, let node):
                flowEndObserver?(TargetFlowEnds(target: node, flows: flows))
            case .flowsReported(let flows, let node):
                logger.info("\(node) holds \(flows.count) connections of inbound SAs (conntrack, reported after its Welcome)")
                heldFlowObserver?(TargetHeldFlows(target: node, flows: flows.map {
                    TargetHeldFlows.Flow(saID: $0.sa.saID, destination: $0.sa.destination, spi: $0.sa.spi, flow: $0.flow)
                }))
            }
        }
        // After the actions: a mark recorded in them for an SA this step removed goes too.
        forgetRemovedReplayMarks()
    }

    func note(_ event: String) {
        logger.info("\(event)")
        let stamp = ISO8601DateFormatter().string(from: Date())
        events.append("\(stamp) \(event)")
        if events.count > 50 { events.removeFirst(events.count - 50) }
    }
}

extension EventLoopFuture where Value == Void {
    /// This future, or a success after `timeout` if it has not completed by then.
    func completedOrTimedOut(after timeout: TimeAmount, on loop: EventLoop) -> EventLoopFuture<Void> {
        let promise = loop.makePromise(of: Void.self)
        var done = false
        let finish = { if !done { done = true; promise.succeed(()) } }
        let timer = loop.scheduleTask(in: timeout) { finish() }
        hop(to: loop).whenComplete { _ in timer.cancel(); finish() }
        return promise.futureResult
    }
}
