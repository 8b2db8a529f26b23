import ArgumentParser
import Cluster
import ClusterNode
import Dispatch
import Foundation
import IKEDaemon
import Logging
import NIOPosix
import OperatorMetrics
import Systemd

/// `vipsec target`: the agent on a target host.
struct TargetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "target",
        abstract: "Run the agent of a target host: mirror the cluster's SAs into this kernel.",
        discussion: """
            Connects to the routing node over the cluster channel (TLS 1.3, certificates from \
            scripts/cluster-ca), keeps every SA it is given in the kernel (ip xfrm state / policy), \
            puts the DVIPA on lo, reports lifesize, and removes the SAs when told, when they \
            expire, and when the routing node is lost for longer than the grace. SIGTERM or \
            SIGINT removes this agent's SAs and policies, the DVIPA it put on lo, its status \
            socket and its journal, and stops within --stop-timeout; a second signal stops \
            without waiting for the routing node.

            A --config file holds `key = value` lines with the long option names \
            (node-id, routing, cert, key, ca, dvipa, cluster-address, grace, status-socket, \
            state-dir, stop-timeout, log-level, user, group, metrics); options on the command line win. The file must not be writable by \
            group or others.
            """)

    @Option(help: "A configuration file (key = value lines).") var config: String?
    @Option(name: .customLong("node-id"), help: "This target's node id (its certificate must name it).") var nodeID: String?
    @Option(help: "The routing node's cluster address, ADDR:PORT; with HA several, comma-separated (tried in turn).") var routing: String?
    @Option(help: "This node's certificate (PEM).") var cert: String?
    @Option(help: "This node's private key (PEM, mode 0600).") var key: String?
    @Option(help: "The cluster CA certificate (PEM).") var ca: String?
    @Option(help: "The DVIPA; put on lo at start.") var dvipa: String?
    @Option(name: .customLong("cluster-address"), help: "This node's address on the cluster link (announced in Hello).") var clusterAddress: String?
    @Option(help: "Seconds the SAs survive the loss of the routing node [30].") var grace: Double?
    @Option(name: .customLong("status-socket"), help: "Unix socket for `vipsec status` [/run/vipsec/status.sock].") var statusSocket: String?
    @Option(name: .customLong("state-dir"), help: "Where the agent's journal of installed SAs lives [/run/vipsec].") var stateDir: String?
    @Option(name: .customLong("stop-timeout"), help: "Seconds a stop may wait for the routing node [2].") var stopTimeout: Double?
    @Option(name: .customLong("log-level"), help: "Log level: trace, debug, info, notice, warning, error, critical [info].") var logLevel: String?
    @Option(help: "Run as this user once started (status socket bound, DVIPA on lo), keeping CAP_NET_ADMIN [root].") var user: String?
    @Option(help: "Run as this group once started [the user's].") var group: String?
    @Option(help: "Serve Prometheus metrics on GET http://ADDRESS:PORT/metrics [off].") var metrics: String?

    func run() async throws {
        // Before anything: without glibc's thread caches, so that every freed block is
        // overwritten (BoringSSL frees each decrypted record unzeroed: Systemd/Hardening.swift).
        // Returns at once when the process already started so.
        if let failure = Hardening.reexecWithoutThreadCaches() {
            FileHandle.standardError.write(Data("vipsec \(Self.configuration.commandName ?? ""): \(failure)\n".utf8))
        }
        // The agent has nothing to reload, and SIGHUP's default action would end it.
        let hangups = HangupSignal(ignoredWhile: "(the agent has nothing to reload)", logger: Logger(label: "vipsec.target"))
        defer { withExtendedLifetime(hangups) {} }
        // Before any key is read: no core dump, no ptrace/proc access by others, freed heap
        // blocks overwritten (Systemd/Hardening.swift).
        for step in [Hardening.disableCoreDumps, Hardening.wipeFreedMemory] {
            do { try step() } catch { FileHandle.standardError.write(Data("vipsec \(Self.configuration.commandName ?? ""): \(error)\n".utf8)) }
        }
        let (file, lines) = try config.map(TargetConfigFile.readWithLines) ?? ([:], [:])
        func value(_ flag: String?, _ name: String) -> String? { flag ?? file[name] }
        func required(_ flag: String?, _ name: String) throws -> String {
            guard let text = value(flag, name) else { throw ValidationError("missing --\(name) (or `\(name) =` in the config file)") }
            return text
        }
        // Looked up first: an unknown user or group is refused before anything else is tried.
        let runAs: RunAs
        do {
            runAs = try RunAs(user: value(user, "user"), group: value(group, "group"))
        } catch let error as RunAsError {
            let fromFlag = error.key == "user" ? user != nil : group != nil
            throw ValidationError(fromFlag || config == nil
                ? "--\(error.key): \(error.message)" : "\(config ?? ""):\(lines[error.key] ?? 0): \(error.key): \(error.message)")
        }
        // Checked before anything is tried, like the user.
        let metricsSettings: MetricsSettings?
        do {
            metricsSettings = try value(metrics, "metrics").map(MetricsSettings.init(listen:))
        } catch {
            throw ValidationError(metrics != nil || config == nil
                ? "--metrics: \(error)" : "\(config ?? ""):\(lines["metrics"] ?? 0): metrics: \(error)")
        }
        let node = try NodeID(try required(nodeID, "node-id"))
        // One routing node, or several (HA: the agent tries them in turn until one accepts).
        var routingNodes: [RoutingEndpoint] = []
        for routingText in try required(routing, "routing").split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard let colon = routingText.lastIndex(of: ":"), let port = Int(routingText[routingText.index(after: colon)...]) else {
                throw ValidationError("--routing '\(routingText)' is not ADDR:PORT")
            }
            var host = String(routingText[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            try StartupChecks.routeExists(host: host, port: port, option: "--routing")
            routingNodes.append(RoutingEndpoint(host: host, port: port))
        }
        guard let primary = routingNodes.first else { throw ValidationError("--routing: no ADDR:PORT") }
        let host = primary.host, port = primary.port
        let certPath = try required(cert, "cert"), keyPath = try required(key, "key"), caPath = try required(ca, "ca")
        let credentials: ClusterCredentials
        do {
            credentials = try ClusterCredentials(certificatePath: certPath, keyPath: keyPath, caPath: caPath)
        } catch let error as ClusterCredentialError {
            let option = [certPath: "--cert", keyPath: "--key", caPath: "--ca"][error.path] ?? "credentials"
            throw StartupError("\(option): \(error)")
        }
        try StartupChecks.credentials(cert: certPath, key: keyPath, ca: caPath, options: ("--cert", "--key", "--ca"))
        let dvipaAddress = try value(dvipa, "dvipa").map { try Self.address($0, "dvipa") }
        if let dvipaAddress {
            do { try ClusterAgent.checkDVIPAFree(dvipaAddress) } catch { throw StartupError("--dvipa \(dvipaAddress): \(error)") }
        }
        let clusterAddressValue = try Self.address(value(clusterAddress, "cluster-address") ?? "0.0.0.0", "cluster-address")
        let graceSeconds = try grace ?? file["grace"].map { text -> Double in
            guard let seconds = Double(text), seconds >= 0 else { throw ValidationError("grace '\(text)' is not a number of seconds") }
            return seconds
        } ?? 30
        let stopSeconds = try stopTimeout ?? file["stop-timeout"].map { text -> Double in
            guard let seconds = Double(text), seconds > 0, seconds < 3600 else {
                throw ValidationError("stop-timeout '\(text)' is not a number of seconds")
            }
            return seconds
        } ?? 2
        guard stopSeconds > 0, stopSeconds < 3600 else { throw StartupError("--stop-timeout \(stopSeconds) is out of range") }
        let stateDirectory = value(stateDir, "state-dir") ?? "/run/vipsec"
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        let socketPath = value(statusSocket, "status-socket") ?? "/run/vipsec/status.sock"
        try StartupChecks.socketFree(socketPath, option: "--status-socket")

        LogClock.pinLocalTimeZone()
        let levelText = value(logLevel, "log-level") ?? "info"
        let level = try parseLogLevel(levelText)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let kernel = try XFRMAgentKernel(journalPath: stateDirectory + "/agent-\(node.name).journal")
        var agentConfiguration = ClusterAgent.Configuration(nodeID: node, routingHost: host, routingPort: port, clusterAddress: clusterAddressValue,
                                 dvipa: dvipaAddress, grace: .milliseconds(Int(graceSeconds * 1000)), statusSocketPath: socketPath,
                                 stopTimeout: .milliseconds(Int(stopSeconds * 1000)),
                                 dvipaRecordPath: stateDirectory + "/agent-\(node.name).dvipa")
        agentConfiguration.otherRoutingNodes = Array(routingNodes.dropFirst())
        let agent = try ClusterAgent(configuration: agentConfiguration, credentials: credentials, kernel: kernel)
        let systemd = TargetNotifications()
        let logger = Logger(label: "vipsec.target")
        let metricsServer = LockedBox<MetricsHTTPServer?>(nil)
        try await runUntilSignal(start: {
                               try await agent.start()
                               if let settings = metricsSettings {
                                   do {
                                       metricsServer.value = try await MetricsHTTPServer.start(
                                           host: settings.host, port: settings.port, metrics: AgentMetrics(),
                                           group: MultiThreadedEventLoopGroup.singleton) { agent.metricsSnapshot() }
                                       logger.info("metrics on http://\(settings.host):\(settings.port)/metrics")
                                   } catch {
                                       logger.critical("metrics on \(settings.host):\(settings.port): \(error): stopping")
                                       await agent.stop(removingSAs: true)
                                       throw StartupError("--metrics \(settings.host):\(settings.port): \(error)")
                                   }
                               }
                               // Sockets bound, DVIPA on lo, journal open: CAP_NET_ADMIN is all it needs now.
                               do {
                                   try DaemonHardening.dropPrivileges(runAs, logger: logger)
                               } catch {
                                   logger.critical("\(error): stopping")
                                   await agent.stop(removingSAs: true)
                                   throw StartupError("\(error)")
                               }
                               systemd.started(agent)
                           },
                           stop: {
                               systemd.stopping()
                               await metricsServer.value?.close()
                               await agent.stop(removingSAs: true)
                           },
                           hurry: { agent.hurry() })
    }

    static func address(_ text: String, _ what: String) throws -> IPAddress {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return try IPAddress(bytes: withUnsafeBytes(of: v4) { Array($0) }) }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return try IPAddress(bytes: withUnsafeBytes(of: v6) { Array($0) }) }
        throw ValidationError("--\(what) '\(text)' is not an IP address")
    }
}

/// `key = value` lines; `#` starts a comment. Refused when group or others may write it.
enum TargetConfigFile {
    /// The values and the line each key is on.
    static func readWithLines(_ path: String) throws -> (values: [String: String], lines: [String: Int]) {
        var info = stat()
        guard stat(path, &info) == 0 else { throw ValidationError("cannot read \(path): \(String(cString: strerror(errno)))") }
        guard info.st_mode & 0o022 == 0 else {
            throw ValidationError("refusing \(path): mode \(String(info.st_mode & 0o777, radix: 8)) lets group or others write it")
        }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var values: [String: String] = [:], lines: [String: Int] = [:]
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty else {
                throw ValidationError("\(path):\(number + 1): expected `key = value`")
            }
            let known = ["node-id", "routing", "cert", "key", "ca", "dvipa", "cluster-address", "grace", "status-socket", "state-dir",
                         "stop-timeout", "log-level", "user", "group", "metrics"]
            guard known.contains(parts[0]) else {
                throw ValidationError("\(path):\(number + 1): unknown key '\(parts[0])' (known: \(known.joined(separator: ", ")))")
            }
            values[parts[0]] = parts[1]
            lines[parts[0]] = number + 1
        }
        return (values, lines)
    }
}
