import Cluster
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// The agent on a target host (`vipsec target`): keeps the shadow SA cache
/// (`AgentShadowCache`) mirrored into the local kernel, answers the routing node, reports
/// lifesize, and keeps its connection up.
///
/// - Connects over TLS 1.3 with the node's certificate; says Hello; on every (re)connect the
///   routing node resends every SA meant for it, then a FullState (full resync).
/// - Reconnects with exponential backoff (`minimumBackoff` doubling up to `maximumBackoff`).
/// - Treats the routing node as lost when it has not heard from it for the failure timeout
///   given in the Welcome, and drops every SA once it has been lost for `grace`.
/// - Reports an SA's kernel counters each time they cross the SA's lifesize report step.
///
/// All state lives on one event loop; kernel calls run on a thread of their own
/// (`KernelWorker`) so a slow install never holds up heartbeats. Public methods are safe
/// from any thread.
public final class ClusterAgent: @unchecked Sendable {
    /// Configuration of a target host's agent.
    public struct Configuration: Sendable {
        public var nodeID: NodeID
        public var routingHost: String
        public var routingPort: Int
        /// The address the routing node reaches this target at (announced in Hello).
        public var clusterAddress: IPAddress
        /// The DVIPA, put on loopback at start (nil: leave loopback alone).
        public var dvipa: IPAddress?
        /// How long SAs survive the loss of the routing node.
        public var grace: Duration
        public var statusSocketPath: String?
        public var minimumBackoff: Duration
        public var maximumBackoff: Duration
        /// How often kernel counters are read for lifesize reports.
        public var counterInterval: Duration
        /// What Hello announces.
        public var capabilities: KernelCapabilities
        public var maximumReplayWindow: UInt32
        /// Watch the kernel's XFRM expire events (off for an in-memory kernel).
        public var watchExpireEvents: Bool
        /// How long a stop may wait on the network (a second signal ends the wait at once).
        public var stopTimeout: Duration
        /// A file recording that this agent put the DVIPA on lo (nil: no record, and a DVIPA
        /// found on lo at start is left there at stop).
        public var dvipaRecordPath: String?
        /// How long TCP may be up without a Welcome before the agent gives up on it.
        public var handshakeTimeout: Duration
        /// HA: further routing-capable nodes, tried in turn after `routingHost` when a connect
        /// fails or a connection closes (only the elected active accepts agents).
        public var otherRoutingNodes: [RoutingEndpoint] = []

        /// Every routing node, `routingHost:routingPort` first.
        var routingNodes: [RoutingEndpoint] { [RoutingEndpoint(host: routingHost, port: routingPort)] + otherRoutingNodes }

        public init(nodeID: NodeID, routingHost: String, routingPort: Int, clusterAddress: IPAddress,
                    dvipa: IPAddress? = nil, grace: Duration = .seconds(30), statusSocketPath: String? = nil,
                    minimumBackoff: Duration = .milliseconds(200), maximumBackoff: Duration = .seconds(5),
                    counterInterval: Duration = .milliseconds(500),
                    capabilities: KernelCapabilities = [.extendedSequenceNumbers, .udpEncapsulation],
                    maximumReplayWindow: UInt32 = 4096, watchExpireEvents: Bool = true,
                    stopTimeout: Duration = .seconds(2), dvipaRecordPath: String? = nil,
                    handshakeTimeout: Duration = .seconds(10)) {
            self.nodeID = nodeID
            self.routingHost = routingHost
            self.routingPort = routingPort
            self.clusterAddress = clusterAddress
            self.dvipa = dvipa
            self.grace = grace
            self.statusSocketPath = statusSocketPath
            self.minimumBackoff = minimumBackoff
            self.maximumBackoff = maximumBackoff
            self.counterInterval = counterInterval
            self.capabilities = capabilities
            self.maximumReplayWindow = maximumReplayWindow
            self.watchExpireEvents = watchExpireEvents
            self.stopTimeout = stopTimeout
            self.dvipaRecordPath = dvipaRecordPath
            self.handshakeTimeout = handshakeTimeout
        }
    }

    public let configuration: Configuration
    public let drops = ClusterDropCounters()
    let loop: EventLoop
    let kernel: AgentKernel
    /// The thread every `kernel` call runs on (never the loop: netlink calls block).
    let worker: KernelWorker
    let credentials: ClusterCredentials
    let logger: Logger
    /// New on every agent start (the routing node tells a restart from a reconnect).
    let incarnation: UInt64
    var cache: AgentShadowCache
    /// SAs the kernel holds now (a shared SA waits for its first block).
    var inKernel: Set<ClusterSAID> = []
    /// SAs whose install was acknowledged (a shared SA is re-added at every late block).
    var acknowledged: Set<ClusterSAID> = []
    var channel: Channel?
    /// Messages are written at once and flushed at the end of the loop's turn (one TLS record).
    let flusher: FlushAtEndOfTurn
    var welcome: ClusterMessage.Welcome?
    var lastHeard = ClusterInstant.zero
    var lastHeartbeat = ClusterInstant.zero
    var lastCounterRead = ClusterInstant.zero
    var lastTick = ClusterInstant.zero
    var heartbeatCounter: UInt64 = 0
    /// Connection phases, backoff, failure logging, stop plan (pure logic, Cluster module).
    var machine: AgentConnectionMachine
    /// The next attempt, while backing off.
    var retryTask: Scheduled<Void>?
    /// A channel connecting or in its TLS handshake (not yet `channel`).
    var pendingChannel: Channel?
    /// This agent put the DVIPA on lo (and takes it off at stop).
    var ownsDVIPA = false
    /// The stop's wait on the network, ended by a second signal or when the bound runs out.
    var hurryWaiter: EventLoopPromise<Void>?
    /// Completed with the report when the first stop is done.
    var stopFinished: EventLoopPromise<StopReport>?
    var reconnects = 0
    /// Which of `configuration.routingNodes` the agent connects to (HA: rotates on failure).
    var routingIndex = 0
    var currentRouting: RoutingEndpoint {
        let nodes = configuration.routingNodes
        return nodes[routingIndex % nodes.count]
    }
    var kernelErrors: [String] = []
    /// Installs, removals, latencies and reports for the metrics (ClusterAgent+Metrics.swift).
    var metricCounters = AgentMetricCounters()
    var ticker: RepeatedTask?
    var statusServer: StatusSocketServer?
    var watcher: XFRMExpireWatcher?
    /// Conntrack ends of inbound cluster traffic (ConntrackWatcher.swift); nil: not followed.
    var conntrack: ConntrackWatcher?
    var flowEnds: FlowEndBatcher?
    var conntrackMalformed = 0
    /// A Welcome came: the end of its resync (the FullState) reports the kernel's inbound
    /// replay states and held connections (ClusterAgent+HeldState.swift).
    var reportsHeldStateAfterResync = false
    var conntrackOverruns = 0
    var connectedOnce: EventLoopPromise<Void>
    /// A counter read is on the kernel thread (the next tick does not queue another).
    var countersInFlight = false
    /// Inbound encapsulated mode: the routing node whose GRE this host decapsulates (set when
    /// a Welcome names it; nil: none set up). On the loop.
    var decapsulating: IPAddress?

    public init(configuration: Configuration, credentials: ClusterCredentials, kernel: AgentKernel,
                group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "vipsec.agent")) throws {
        try credentials.checkIdentity(configuration.nodeID)
        self.configuration = configuration
        self.credentials = credentials
        self.kernel = kernel
        self.loop = group.next()
        flusher = FlushAtEndOfTurn(loop: loop)
        worker = KernelWorker(loop: loop)
        self.logger = logger
        var generator = SystemRandomNumberGenerator()
        incarnation = generator.next()
        cache = AgentShadowCache(grace: configuration.grace)
        machine = AgentConnectionMachine(minimumBackoff: configuration.minimumBackoff,
                                         maximumBackoff: configuration.maximumBackoff,
                                         handshakeTimeout: configuration.handshakeTimeout)
        connectedOnce = loop.makePromise()
    }

    static func now() -> ClusterInstant { ClusterInstant(nanoseconds: NIODeadline.now().uptimeNanoseconds) }

    /// Takes out leftovers of an earlier run, starts the status socket, the timers and the
    /// first connection attempt. Whatever it set up before a failure is undone.
    public func start() async throws {
        let sslContext = try NIOSSLContext(configuration: credentials.clientConfiguration())
        guard try await !loop.submit({ [self] in machine.isStopping }).get() else {
            throw AgentStartError(description: "the agent was stopped before it started")
        }
        do {
            try await startUp(sslContext)
        } catch {
            await stop(removingSAs: true)
            throw error
        }
    }

    private func startUp(_ sslContext: NIOSSLContext) async throws {
        if let dvipa = configuration.dvipa {
            do {
                ownsDVIPA = try LoopbackAddress.claim(dvipa, recordPath: configuration.dvipaRecordPath)
            } catch {
                throw AgentStartError(description: "--dvipa \(dvipa): \(error)")
            }
            if dvipa.isIPv4 {
                for change in try ReversePathFilter.loosen(forClusterAddress: configuration.clusterAddress) {
                    logger.notice("rp_filter \(change): the routing node forwards the peer's ESP to the cluster interface")
                }
            }
        }
        if configuration.watchExpireEvents { watcher = try XFRMExpireWatcher(agent: self) }
        if configuration.watchExpireEvents, let dvipa = configuration.dvipa { await startFollowingConnections(dvipa: dvipa) }
        if let path = configuration.statusSocketPath {
            do {
                statusServer = try await StatusSocketServer.start(path: path, group: loop, stream: { [self] in statusStream() }).get()
            } catch {
                throw AgentStartError(description: "--status-socket \(path): \(error)")
            }
        }
        let leftovers = try await worker.run { [self] in kernel.removeLeftovers() }.get()
        if leftovers > 0 { logger.info("removed \(leftovers) SAs left by an earlier run") }
        try await loop.submit { [self] in
            guard !machine.isStopping else { return }
            let interval = TimeAmount.milliseconds(100)
            ticker = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in tick() }
            connect(sslContext)
        }.get()
    }

    /// Resolves once the agent was welcomed for the first time.
    public var welcomed: EventLoopFuture<Void> { connectedOnce.futureResult }

    // MARK: Connection

    func connect(_ sslContext: NIOSSLContext) {
        retryTask = nil
        guard machine.connectStarted(now: Self.now()) else { return }
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.seconds(3))
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    // Known before the connect completes, so that a stop can abort it.
                    pendingChannel = channel
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(try NIOSSLClientHandler(context: sslContext, serverHostname: nil))
                    // Every frame (the Hello first) carries the highest leader term this agent
                    // follows, so that a deposed routing node learns it was deposed (none
                    // without HA: version 1 frames, as before).
                    try sync.addClusterCodec(drops: drops, currentTerm: { [weak self] in self?.machine.term ?? .none })
                    try sync.addHandler(AgentConnectionHandler(agent: self))
                }
            }
        let routing = currentRouting
        bootstrap.connect(host: routing.host, port: routing.port).whenComplete { [self] result in
            switch result {
            case .success(let channel):
                guard machine.connected(now: Self.now()) else {
                    channel.close(promise: nil)
                    return
                }
                self.channel = channel
                pendingChannel = channel
                lastHeard = Self.now()
                let hello = ClusterMessage.Hello(
                    nodeID: configuration.nodeID, clusterAddress: configuration.clusterAddress,
                    capabilities: configuration.capabilities, maximumReplayWindow: configuration.maximumReplayWindow,
                    incarnation: incarnation, heldEpoch: cache.sas.isEmpty ? .none : cache.epoch)
                channel.writeAndFlush(ClusterMessage.hello(hello), promise: nil)
                channel.closeFuture.whenComplete { [self] _ in
                    loop.execute { self.disconnected(channel, sslContext) }
                }
            case .failure(let error):
                pendingChannel = nil
                scheduleReconnect(sslContext, after: "\(error)")
            }
        }
    }

    func disconnected(_ closed: Channel, _ sslContext: NIOSSLContext) {
        guard channel === closed else { return }
        channel = nil
        pendingChannel = nil
        let wasWelcomed = welcome != nil
        if wasWelcomed, !cache.sas.isEmpty {
            logger.warning("lost the routing node; keeping \(cache.sas.count) SAs for \(configuration.grace)")
        }
        welcome = nil
        scheduleReconnect(sslContext, after: wasWelcomed ? "connection closed" : "closed before the Welcome")
    }

    /// Backs off (doubling up to `maximumBackoff`, up to 25 % jitter so restarted agents do
    /// not reconnect in lockstep) and says so, without flooding the log.
    func scheduleReconnect(_ sslContext: NIOSSLContext, after error: String) {
        guard let retry = machine.failed(now: Self.now(), jitter: Double.random(in: 0...0.25)) else { return }
        reconnects += 1
        let failed = currentRouting
        routingIndex = (routingIndex + 1) % configuration.routingNodes.count
        if retry.log {
            let skipped = retry.suppressed > 0 ? " (\(retry.suppressed) more failures not logged)" : ""
            let seconds = Double(retry.delay.milliseconds) / 1000
            let next = configuration.routingNodes.count > 1 ? " at \(currentRouting.host):\(currentRouting.port)" : ""
            logger.warning("cannot reach the routing node \(failed.host):\(failed.port): \(error); attempt \(retry.attempt), next in \(seconds) s\(next)\(skipped)")
        }
        retryTask = loop.scheduleTask(in: .nanoseconds(retry.delay.nanoseconds)) { [self] in
            connect(sslContext)
        }
    }

    // MARK: Timers

    func tick() {
        let now = Self.now()
        defer { lastTick = now }
        if lastTick != .zero, now - lastTick > .seconds(1) {
            // The loop was stalled (the whole host was, e.g. under emulation: kernel calls
            // run on `worker`, not here). Whatever the routing node sent meanwhile waits in
            // the socket; do not call it silent before reading it.
            lastHeard = max(lastHeard, now)
        }
        if machine.handshakeExpired(now: now), let stuck = pendingChannel {
            logger.warning("routing node \(currentRouting.host):\(currentRouting.port) accepted TCP but sent no Welcome within \(configuration.handshakeTimeout); closing")
            stuck.close(promise: nil)
        }
        if let channel, let welcome {
            let failure = Duration.milliseconds(Int(welcome.failureTimeoutMilliseconds))
            if lastHeard + failure <= now {
                logger.warning("routing node silent for \(failure); reconnecting")
                channel.close(promise: nil)
            } else if lastHeartbeat + .milliseconds(Int(welcome.heartbeatIntervalMilliseconds)) <= now {
                lastHeartbeat = now
                heartbeatCounter += 1
                channel.writeAndFlush(ClusterMessage.heartbeat(.init(epoch: cache.epoch, counter: heartbeatCounter)),
                                      promise: nil)
            }
        }
        sendFlowEnds(now: now)
        if welcome == nil {
            let effects = cache.checkContact(now: now)
            if !effects.isEmpty { logger.warning("routing node lost for longer than the grace: removing \(effects.count) SAs") }
            perform(effects, ackDeletes: false)
        }
        if lastCounterRead + configuration.counterInterval <= now {
            lastCounterRead = now
            readCounters()
        }
    }
}

/// Why the agent could not start.
public struct AgentStartError: Error, CustomStringConvertible {
    public var description: String
}

/// A routing node's cluster address (`vipsec target --routing HOST:PORT[,HOST:PORT...]`).
public struct RoutingEndpoint: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}
