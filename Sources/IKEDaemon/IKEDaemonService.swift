// `vipsec routing`'s IKE daemon: it starts the workers (IKEWorkerSet.swift: one DaemonCore
// per event loop, Workers/), binds the UDP sockets on 500 and 4500 (Sockets/), initiates
// the configured connections, and runs until SIGTERM or SIGINT (DaemonSignals.swift), then
// stops in order (DaemonShutdown.swift). What the IKE core's actions do is in
// Workers/DaemonCore+Actions.swift.
import Foundation
import IKEv2
import IKECrypto
import Logging
import NIOCore
import NIOPosix

/// `vipsec routing`'s IKE daemon.
public final class IKEDaemonService {
    private let config: DaemonConfig
    private let installer: ChildSAInstaller
    private let logger: Logger
    private let control: IKEDaemonControl?
    private let onStopSignal: (@Sendable (Int) -> Void)?
    /// More lines for the SIGUSR1 log (e.g. the inbound distributor's counters); nil: none.
    /// (One signal source per signal: a second source elsewhere would not fire.)
    public var extraStatusLines: (@Sendable () -> [String])?
    /// Called once the sockets are bound and the configured connections initiated (systemd's READY=1).
    public var onRunning: (() -> Void)?
    /// The file `config` was read from: `vipsec reload` and SIGHUP read it again (nil: no reload).
    public var configPath: String?
    /// The process's SIGHUP (installed by the command before anything else, so that an early
    /// one is ignored); `run` sets its reload handler once running. Nil: `run` makes one.
    public var hangups: HangupSignal?
    /// A reload changed `vipsec.cluster.inbound.verify` (ReloadPlan.inboundVerify).
    public var onInboundVerify: (@Sendable (InboundSettings.Verify) -> Void)?
    /// HA (issue 19): whether this node may answer IKE now (the elected active, before its
    /// serving deadline). Nil: always. While it says no, datagrams are dropped unread and
    /// nothing is sent (each counted in the worker's `standbyDrops`; a start_action = start
    /// initiation on a standby goes nowhere and times out); the sockets bind the listen
    /// addresses with IP_FREEBIND, so they serve the moment the DVIPA is added.
    public var servingGate: (@Sendable () -> Bool)?
    /// HA: where the workers record established IKE_SAs (IKESAPersistence.swift); nil: nowhere.
    public var persistence: IKESAPersistence?

    /// `control`, if given, accepts commands (e.g. from the cluster) while `run` runs.
    /// `onStopSignal(count)` runs on the signal queue at every SIGTERM/SIGINT (1 for the
    /// first), before the workers are asked to stop: the cluster fails the installs still
    /// pending, so that their IKE_SAs can be deleted at once.
    public init(config: DaemonConfig, installer: ChildSAInstaller, logger: Logger, control: IKEDaemonControl? = nil,
                onStopSignal: (@Sendable (Int) -> Void)? = nil) {
        self.config = config
        self.installer = installer
        self.logger = logger
        self.control = control
        self.onStopSignal = onStopSignal
    }

    /// Binds the sockets, initiates `start_action = start` connections, and runs until
    /// SIGTERM or SIGINT; then deletes its IKE_SAs and CHILD_SAs and returns. Nothing in it
    /// blocks a thread: the event loops' work is awaited.
    public func run() async throws {
        let workerCount = IKEShardRouting.workerCount(configured: config.settings.workers,
                                                      cpus: System.coreCount)
        // The sending descriptors close after every worker has stopped (DatagramSender.swift).
        let sockets = IKESockets()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: workerCount)
        do {
            try await serve(on: group, workerCount: workerCount, sockets: sockets)
        } catch {
            try? await group.shutdownGracefully()
            sockets.closeSenders()
            throw error
        }
        try? await group.shutdownGracefully()
        sockets.closeSenders()
    }

    private func serve(on group: MultiThreadedEventLoopGroup, workerCount: Int, sockets: IKESockets) async throws {
        let workers = try makeWorkers(on: group, count: workerCount)
        let loop = workers.first.loop
        control?.attach(workers)
        defer { control?.attach(nil) }
        try await sockets.bind(config.settings, workers: workers, on: loop, freeBind: servingGate != nil, logger: logger)
        let channels = sockets.channels
        let senders = sockets.sendersByAddress
        let gate = servingGate
        let persistence = self.persistence
        _ = try await workers.collect { core in
            core.servingGate = gate
            core.persistence = persistence
            core.channels = channels
            core.senders = senders
        }.get()
        logger.info("\(workerCount) IKE worker(s)")
        // Standalone: the kernel's soft/hard expires (rekey_bytes, life_bytes, ...) drive rekeys
        // and deletes, on the worker that holds the CHILD_SA.
        var expiryWatcher: ChildSAExpiryWatcher?
        if installer.installsIntoLocalKernel {
            do { expiryWatcher = try ChildSAExpiryWatcher(workers: workers) } catch {
                logger.warning("no XFRM expire events (\(error)): CHILD_SAs rekey by time only")
            }
        }
        defer { expiryWatcher?.stop() }
        try await loop.submit { workers.first.initiateConfigured() }.get()
        for core in workers.cores { core.scheduleNATKeepalives() }

        let stopped = loop.makePromise(of: Void.self)
        let signals = DaemonSignals(workers: workers, channels: channels, stopped: stopped, onStopSignal: onStopSignal,
                                    extraStatusLines: extraStatusLines, logger: logger)
        onRunning?()
        // SIGHUP: reload the configuration file, as `vipsec reload` (ConfigReload.swift logs the
        // outcome); until now (and again once stopping) it was ignored (HangupSignal.swift).
        let hangups = self.hangups ?? HangupSignal(ignoredWhile: "while starting", logger: logger)
        hangups.handle { [logger] in
            logger.info("signal \(SIGHUP): reloading the configuration")
            _ = ConfigReload.run(workers, timeout: Self.reloadTimeout, on: loop)
        }
        defer { hangups.ignore() }
        try await stopped.futureResult.get()
        // `signals` must live until here (an optimised build may release a local after its
        // last use: cancelled sources and SIG_IGN would leave the daemon deaf to SIGTERM).
        withExtendedLifetime(signals) { signals.cancel() }
        logger.info("stopped")
    }

    /// One DaemonCore per event loop of `group`, sharing the reqids; the half-open limits
    /// shared out among them (IKEWorkerSet.workerSettings).
    private func makeWorkers(on group: EventLoopGroup, count: Int) throws -> IKEWorkerSet {
        var workerConfig = config
        workerConfig.settings = IKEWorkerSet.workerSettings(config.settings, workers: count)
        let reqids = ReqidAllocator()
        let cores = try group.makeIterator().map { loop in
            try DaemonCore(config: workerConfig, installer: installer, logger: logger, loop: loop, reqids: reqids)
        }
        let workers = IKEWorkerSet(cores: cores, configPath: configPath)
        workers.onInboundVerify = onInboundVerify
        for core in cores { core.gateway.soleWorker = cores.count == 1 }
        return workers
    }

    /// Seconds a SIGHUP reload waits for the deleted IKE_SAs before initiating (`vipsec reload --timeout`'s default).
    static let reloadTimeout = 30.0
}
