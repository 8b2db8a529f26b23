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

        public init(nodeID: NodeID, routingHost: String, routingPort: Int, clusterAddress: IPAddress,
                    dvipa: IPAddress? = nil, grace: Duration = .seconds(30), statusSocketPath: String? = nil,
                    minimumBackoff: Duration = .milliseconds(200), maximumBackoff: Duration = .seconds(5),
                    counterInterval: Duration = .milliseconds(500),
                    capabilities: KernelCapabilities = [.extendedSequenceNumbers, .udpEncapsulation],
                    maximumReplayWindow: UInt32 = 4096, watchExpireEvents: Bool = true) {
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
    var welcome: ClusterMessage.Welcome?
    var lastHeard = ClusterInstant.zero
    var lastHeartbeat = ClusterInstant.zero
    var lastCounterRead = ClusterInstant.zero
    var lastTick = ClusterInstant.zero
    var heartbeatCounter: UInt64 = 0
    var backoff: Duration
    var reconnects = 0
    var kernelErrors: [String] = []
    var stopped = false
    var ticker: RepeatedTask?
    var statusServer: StatusSocketServer?
    var watcher: XFRMExpireWatcher?
    var connectedOnce: EventLoopPromise<Void>
    /// A counter read is on the kernel thread (the next tick does not queue another).
    var countersInFlight = false

    public init(configuration: Configuration, credentials: ClusterCredentials, kernel: AgentKernel,
                group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "vipsec.agent")) throws {
        try credentials.checkIdentity(configuration.nodeID)
        self.configuration = configuration
        self.credentials = credentials
        self.kernel = kernel
        self.loop = group.next()
        worker = KernelWorker(loop: loop)
        self.logger = logger
        var generator = SystemRandomNumberGenerator()
        incarnation = generator.next()
        cache = AgentShadowCache(grace: configuration.grace)
        backoff = configuration.minimumBackoff
        connectedOnce = loop.makePromise()
    }

    static func now() -> ClusterInstant { ClusterInstant(nanoseconds: NIODeadline.now().uptimeNanoseconds) }

    /// Takes out leftovers of an earlier run, starts the status socket, the timers and the
    /// first connection attempt.
    public func start() async throws {
        let sslContext = try NIOSSLContext(configuration: credentials.clientConfiguration())
        if let dvipa = configuration.dvipa {
            do {
                try LoopbackAddress.ensure(dvipa)
            } catch {
                throw AgentStartError(description: "cannot put the DVIPA \(dvipa) on lo: \(error)")
            }
        }
        if configuration.watchExpireEvents { watcher = try XFRMExpireWatcher(agent: self) }
        if let path = configuration.statusSocketPath {
            statusServer = try await StatusSocketServer.start(path: path, group: loop) { [self] in status() }.get()
        }
        let leftovers = try await worker.run { [self] in kernel.removeLeftovers() }.get()
        if leftovers > 0 { logger.info("removed \(leftovers) SAs left by an earlier run") }
        try await loop.submit { [self] in
            let interval = TimeAmount.milliseconds(100)
            ticker = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in tick() }
            connect(sslContext)
        }.get()
    }

    /// Resolves once the agent was welcomed for the first time.
    public var welcomed: EventLoopFuture<Void> { connectedOnce.futureResult }

    /// Closes the connection and stops; SAs stay in the kernel until `removeAllSAs()` or the
    /// next start (a graceful `vipsec target` shutdown removes them).
    public func stop(removingSAs: Bool) async {
        // The removals run on the kernel thread and report over the channel: close it after.
        let removals: [EventLoopFuture<Void>] = (try? await loop.submit { [self] () -> [EventLoopFuture<Void>] in
            stopped = true
            ticker?.cancel()
            watcher?.stop()
            guard removingSAs else { return [] }
            return cache.sas.values.map { performRemoval($0, reason: "agent stopping", ackDelete: false) }
        }.get()) ?? []
        for removal in removals { _ = try? await removal.get() }
        let futures: [EventLoopFuture<Void>] = (try? await loop.submit { [self] () -> [EventLoopFuture<Void>] in
            var futures: [EventLoopFuture<Void>] = []
            if let channel { futures.append(channel.close()) }
            if let statusServer { futures.append(statusServer.close()) }
            connectedOnce.fail(ChannelError.alreadyClosed)
            return futures
        }.get()) ?? []
        for future in futures { _ = try? await future.get() }
        await worker.shutdown()
    }

    // MARK: Connection

    func connect(_ sslContext: NIOSSLContext) {
        guard !stopped else { return }
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.seconds(3))
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(try NIOSSLClientHandler(context: sslContext, serverHostname: nil))
                    try sync.addHandler(ByteToMessageHandler(ClusterMessageDecoder(counters: drops)))
                    try sync.addHandler(MessageToByteHandler(ClusterMessageEncoder()))
                    try sync.addHandler(AgentConnectionHandler(agent: self))
                }
            }
        bootstrap.connect(host: configuration.routingHost, port: configuration.routingPort).whenComplete { [self] result in
            switch result {
            case .success(let channel):
                self.channel = channel
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
                logger.debug("cannot reach the routing node: \(error)")
                scheduleReconnect(sslContext)
            }
        }
    }

    func disconnected(_ closed: Channel, _ sslContext: NIOSSLContext) {
        guard channel === closed else { return }
        channel = nil
        if welcome != nil, !cache.sas.isEmpty {
            logger.warning("lost the routing node; keeping \(cache.sas.count) SAs for \(configuration.grace)")
        }
        welcome = nil
        scheduleReconnect(sslContext)
    }

    func scheduleReconnect(_ sslContext: NIOSSLContext) {
        guard !stopped else { return }
        let delay = backoff
        backoff = min(backoff * 2, configuration.maximumBackoff)
        reconnects += 1
        // Up to 25 % jitter so restarted agents do not reconnect in lockstep.
        let jitter = Double.random(in: 0...0.25)
        loop.scheduleTask(in: .nanoseconds(Int64(Double(delay.nanoseconds) * (1 + jitter)))) { [self] in
            connect(sslContext)
        }
    }

    // MARK: Timers

    func tick() {
        let now = Self.now()
        defer { lastTick = now }
        if lastTick != .zero, now - lastTick > .seconds(1) {
            // The loop was stalled (a slow kernel call: the first SA of an algorithm loads
            // crypto modules). Whatever the routing node sent meanwhile waits in the socket;
            // do not call it silent before reading it.
            lastHeard = max(lastHeard, now)
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
