// `vipsec routing --config FILE`: the routing node. Without `vipsec { cluster { } }` a
// standalone IKEv2 gateway installing CHILD_SAs into this host's kernel; with it, the
// CHILD_SAs go to the cluster's targets (RoutingCommand+Cluster.swift).
import ArgumentParser
import Foundation
import IKEDaemon
import Logging
import Systemd
import XFRM

struct RoutingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routing",
        abstract: "Run the routing node: vipsec's IKEv2 daemon on UDP 500/4500 standalone, or in front of a cluster of target hosts (`vipsec { cluster { } }`).",
        discussion: """
            The config file uses swanctl.conf's syntax (connections, secrets) plus a `vipsec { }` \
            section. A file holding secrets must not be readable by group or others (chmod 600). \
            SIGTERM or SIGINT deletes the IKE_SAs and removes the SAs and policies it installed \
            (in a cluster: tells the targets to delete theirs, waiting at most --stop-timeout); \
            a second signal stops without waiting for the network.
            """
    )

    @Option(name: .long, help: "The configuration file (swanctl.conf syntax).")
    var config: String

    @Flag(name: .long, help: "Check the configuration file and exit.")
    var check = false

    @Flag(name: .long, help: .hidden)   // benchmarks/profiling on a host without ESP: install nothing
    var noKernelInstalls = false

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    @Option(name: .customLong("stop-timeout"), help: "Seconds a stop may wait for the cluster's targets [2].")
    var stopTimeout: Double = 2

    func validate() throws {
        _ = try parseLogLevel(logLevel)
        guard stopTimeout > 0, stopTimeout < 3600 else { throw ValidationError("--stop-timeout \(stopTimeout) is out of range") }
    }

    func run() async throws {
        // First: a SIGHUP while starting would otherwise end the process (reload is ready with the daemon).
        let hangups = HangupSignal(ignoredWhile: "while starting (reload works once the daemon is up)", logger: Logger(label: "vipsec.routing"))
        // Before any key is read: no core dump, no ptrace/proc access by others (Systemd/Hardening.swift).
        do { try Hardening.disableCoreDumps() } catch { FileHandle.standardError.write(Data("vipsec \(Self.configuration.commandName ?? ""): \(error)\n".utf8)) }
        LogClock.pinLocalTimeZone()
        let daemonConfig: DaemonConfig
        do {
            daemonConfig = try DaemonConfig.load(path: config)
        } catch let error as ConfigError {
            throw ValidationError(error.description)
        }
        if check {
            print("\(config): ok (\(daemonConfig.connections.count) connections, \(daemonConfig.secrets.count) secrets)")
            return
        }
        var logger = Logger(label: "vipsec.routing")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        if let cluster = daemonConfig.settings.cluster {
            try await runClustered(daemonConfig, cluster, hangups: hangups, logger: logger)
            return
        }
        let control = IKEDaemonControl()
        let operations = try await RoutingOperations.start(daemonConfig, control: control,
                                                           enrich: noKernelInstalls ? nil : RoutingOperations.kernelCounters(logger: logger),
                                                           cluster: nil, logger: logger)
        try await withCleanup {
            let stopping: @Sendable (Int) -> Void = { count in if count == 1 { operations.stopping() } }
            let installer = noKernelInstalls
                ? ConfinedChildSAInstaller(NullChildSAInstaller())
                // Generous: the first SA of an algorithm may load kernel crypto modules (slow under emulation).
                : ConfinedChildSAInstaller(KernelChildSAInstaller(kernel: try XFRMKernel(timeout: .seconds(30)), logger: logger))
            let daemon = IKEDaemonService(config: daemonConfig, installer: installer, logger: logger, control: control,
                                          onStopSignal: stopping)
            try await serve(daemon, daemonConfig, operations: operations, hangups: hangups, logger: logger)
        } cleanup: {
            await operations.stop()
        }
    }
}

/// `vipsec routing`'s start once the IKE sockets are bound (IKEDaemonService.onRunning):
/// privileges are dropped, and if that fails the daemon
/// stops (SIGTERM to itself, the usual clean stop) and exits with the reason.
final class HardenedStart: @unchecked Sendable {
    private let runAs: RunAs
    private let logger: Logger
    private var failure: Error?

    init(_ runAs: RunAs, logger: Logger) {
        (self.runAs, self.logger) = (runAs, logger)
    }

    /// True when the daemon may announce itself ready.
    func run() -> Bool {
        do {
            try DaemonHardening.dropPrivileges(runAs, logger: logger)
            return true
        } catch {
            logger.critical("\(error): stopping")
            failure = error
            kill(getpid(), SIGTERM)
            return false
        }
    }

    /// After the daemon stopped: the failure, if any.
    func check() throws {
        if let failure { throw StartupError("\(failure)") }
    }
}

extension RoutingCommand {
    /// Runs the IKE daemon until its stop: reload by SIGHUP, and once its sockets are bound the
    /// hardened start (privileges dropped), then ready for systemd (`operations.ready`).
    func serve(_ daemon: IKEDaemonService, _ daemonConfig: DaemonConfig, operations: RoutingOperations,
               hangups: HangupSignal, logger: Logger) async throws {
        daemon.configPath = config
        daemon.hangups = hangups
        let hardened = HardenedStart(daemonConfig.settings.runAs, logger: logger)
        daemon.onRunning = { if hardened.run() { operations.ready() } }
        try await daemon.run()
        try hardened.check()
    }
}
