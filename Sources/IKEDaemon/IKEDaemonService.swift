// The NIO shell around the IKE core: UDP sockets on 500 and 4500, timers, the installer.
//
// IKE work runs on N event loops ("workers", IKEWorkerSet.swift): each has a `DaemonCore`,
// the only object that touches its gateway; the datagram handlers pass each datagram to
// the worker that owns its IKE_SA (IKEShardRouting.swift). On 4500 every
// IKE message carries the four-octet non-ESP marker (RFC 3948 2.2); a lone 0xFF is a NAT
// keepalive; anything else there is ESP, which the kernel handles (dropped here).
import Foundation
import IKEv2
import IKECrypto
import Logging
import NIOCore
import NIOPosix

/// `vipsec routing`'s IKE daemon.
public final class IKEDaemonService {
    /// The largest IKE datagram read whole (a certificate chain in IKE_AUTH without RFC 7383
    /// fragmentation: two RSA-4096 certificates and a signature are about 4 KiB).
    static let largestDatagram = 16_384
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
    /// SIGTERM or SIGINT; then deletes its IKE_SAs and CHILD_SAs and returns.
    public func run() throws {
        let workerCount = IKEShardRouting.workerCount(configured: config.settings.workers,
                                                      cpus: System.coreCount)
        // The sending descriptors close after every worker has stopped (DatagramSender.swift).
        var senders: [ChannelKey: DatagramSender] = [:]
        defer { senders.values.forEach { $0.close() } }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: workerCount)
        defer { try? group.syncShutdownGracefully() }
        var workerConfig = config
        workerConfig.settings = IKEWorkerSet.workerSettings(config.settings, workers: workerCount)
        let reqids = ReqidAllocator()
        let cores = try group.makeIterator().map { loop in
            try DaemonCore(config: workerConfig, installer: installer, logger: logger, loop: loop, reqids: reqids)
        }
        let workers = IKEWorkerSet(cores: cores, configPath: configPath)
        for core in cores { core.gateway.soleWorker = cores.count == 1 }
        let loop = workers.first.loop
        control?.attach(workers)
        defer { control?.attach(nil) }
        var channels: [ChannelKey: Channel] = [:]
        for address in config.settings.listenAddresses {
            for port in [config.settings.ikePort, config.settings.natTraversalPort] {
                // SO_REUSEADDR; on 4500 UDP_ENCAP_ESPINUDP (RFC 3948: the kernel takes ESP-in-UDP
                // off this socket; IKE with the non-ESP marker and NAT keepalives still reach us).
                let sender = try DatagramSender(address: address, port: port, espInUDP: port == config.settings.natTraversalPort,
                                                freeBind: servingGate != nil)
                let channel: Channel
                do {
                    channel = try DatagramBootstrap(group: loop)
                        // NIO reads datagrams into 2048-octet buffers by default, which cut an
                        // IKE_AUTH carrying RSA certificates short (RFC 7296 2: SHOULD accept 3000).
                        .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: Self.largestDatagram))
                        .channelInitializer { channel in
                            channel.pipeline.addHandler(IKEDatagramHandler(workers: workers, localAddress: address, localPort: port))
                        }
                        .withBoundSocket(sender.channelDescriptor).wait()
                } catch {
                    sender.close()
                    throw error
                }
                if let failure = sender.bypassFailure {
                    logger.warning("\(address):\(port): no IPsec bypass policy on the IKE socket (\(failure)): a CHILD_SA covering this address would catch IKE traffic")
                }
                channels[ChannelKey(address: address, port: port)] = channel
                senders[ChannelKey(address: address, port: port)] = sender
                logger.info("listening on \(address):\(port)")
            }
        }
        let allChannels = channels
        let allSenders = senders
        let gate = servingGate
        let persistence = self.persistence
        _ = try workers.collect { core in
            core.servingGate = gate
            core.persistence = persistence
            core.channels = allChannels
            core.senders = allSenders.map { (SenderKey(address: IPPrefix.parseAddress($0.key.address) ?? [], port: $0.key.port), $0.value) }
        }.wait()
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
        try loop.submit { workers.first.initiateConfigured() }.wait()
        for core in cores {
            core.loop.scheduleRepeatedTask(initialDelay: .seconds(natKeepaliveInterval), delay: .seconds(natKeepaliveInterval)) { _ in
                core.sendNATKeepalives()
            }
        }

        let stopped = loop.makePromise(of: Void.self)
        let signalQueue = DispatchQueue(label: "vipsec.signals")
        var sources: [DispatchSourceSignal] = []
        // Touched on `signalQueue` only (serial).
        final class Count: @unchecked Sendable { var value = 0 }
        let signalCount = Count()
        let onStopSignal = self.onStopSignal
        let signalLogger = logger
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: signalQueue)
            source.setEventHandler {
                signalCount.value += 1
                onStopSignal?(signalCount.value)
                if signalCount.value > 1 {
                    signalLogger.info("signal \(signalNumber) again: stopping without waiting for the network")
                } else {
                    signalLogger.info("signal \(signalNumber): stopping")
                }
                Self.shutdown(workers, channels: allChannels, completing: stopped)
            }
            source.resume()
            sources.append(source)
        }
        // SIGUSR1: the counters line into the log (GatewayStatus.swift, summed over workers).
        signal(SIGUSR1, SIG_IGN)
        let status = DispatchSource.makeSignalSource(signal: SIGUSR1, queue: signalQueue)
        let statusLogger = logger
        let extra = extraStatusLines
        status.setEventHandler {
            workers.statusLine().whenSuccess { statusLogger.info("\($0)") }
            extra?().forEach { statusLogger.info("\($0)") }
            workers.collect { [$0.expiry.statusLine] + $0.gateway.ikeSALines }
                .whenSuccess { lines in lines.joined().forEach { statusLogger.info("\($0)") } }
        }
        status.resume()
        sources.append(status)
        onRunning?()
        // SIGHUP: reload the configuration file, as `vipsec reload` (ConfigReload.swift logs the
        // outcome); until now (and again once stopping) it was ignored (HangupSignal.swift).
        let hangups = self.hangups ?? HangupSignal(ignoredWhile: "while starting", logger: logger)
        hangups.handle {
            signalLogger.info("signal \(SIGHUP): reloading the configuration")
            _ = ConfigReload.run(workers, timeout: Self.reloadTimeout, on: loop)
        }
        defer { hangups.ignore() }
        try stopped.futureResult.wait()
        // `sources` must live until here (an optimised build may release a local after its
        // last use: cancelled sources and SIG_IGN would leave the daemon deaf to SIGTERM).
        withExtendedLifetime(sources) { sources.forEach { $0.cancel() } }
        logger.info("stopped")
    }

    /// Seconds a SIGHUP reload waits for the deleted IKE_SAs before initiating (`vipsec reload --timeout`'s default).
    static let reloadTimeout = 30.0

    /// Each worker deletes its IKE_SAs (Deletes best-effort); then the installed CHILD_SAs
    /// go and the sockets close.
    private static func shutdown(_ workers: IKEWorkerSet, channels: [ChannelKey: Channel], completing promise: EventLoopPromise<Void>) {
        let first = workers.first
        first.loop.execute {
            guard !workers.stopping else { return }
            workers.stopping = true
            workers.statusLine().flatMap { line in
                first.logger.info("shutting down: deleting IKE_SAs and CHILD_SAs")
                first.logger.info("\(line)")
                return workers.collect { $0.stop() }
            }.whenComplete { _ in
                first.installer.removeAll(on: first.loop).whenComplete { _ in
                    let closes = channels.values.map { $0.close() }
                    EventLoopFuture.andAllComplete(closes, on: first.loop).whenComplete { _ in promise.succeed(()) }
                }
            }
        }
    }
}

/// SOL_UDP, UDP_ENCAP and UDP_ENCAP_ESPINUDP (linux/udp.h).
let udpSocketLevel: CInt = 17
let udpEncapOption: CInt = 100
let udpEncapESPInUDP = 2
/// Seconds between NAT keepalives (RFC 3948 4: 20 s is the usual value).
let natKeepaliveInterval: Int64 = 20

struct ChannelKey: Hashable {
    var address: String
    var port: Int
}

/// A socket's bound address (octets; all zero for the wildcard) and port.
struct SenderKey: Hashable {
    var address: [UInt8]
    var port: Int
}

/// RFC 3948 2.2: IKE on 4500 starts with four zero octets.
let nonESPMarker: [UInt8] = [0, 0, 0, 0]

/// The loop-confined heart of the daemon.
final class DaemonCore: @unchecked Sendable {
    /// The running configuration (replaced by a reload, on this core's loop; its `vipsec { }`
    /// settings never change while the daemon runs).
    var config: DaemonConfig
    let installer: ChildSAInstaller
    let logger: Logger
    let loop: EventLoop
    var gateway: IKEGateway
    var channels: [ChannelKey: Channel] = [:]
    /// The sockets' sending descriptors (DatagramSender.swift), by bound address and port.
    var senders: [(key: SenderKey, sender: DatagramSender)] = []
    /// Where `send` puts datagrams instead of the sockets (tests of the shell); nil: the sockets.
    var transmit: ((_ bytes: [UInt8], _ local: IKEEndpoint, _ remote: IKEEndpoint) -> Void)?
    var shuttingDown = false
    /// Decisions on the kernel's expire events (ChildSAExpiryWatcher.swift).
    var expiry = ChildSAExpiryPolicy()
    /// This core's index among the daemon's workers, and the workers (IKEWorkerSet.swift).
    var worker = 0
    weak var workers: IKEWorkerSet?
    /// The IKE_SA count last published to the workers (publishIKESAs).
    var publishedIKESAs = 0
    /// HA: may this node answer IKE now (IKEDaemonService.servingGate; nil: always).
    var servingGate: (@Sendable () -> Bool)?
    /// Datagrams dropped and sends suppressed while the gate said no.
    var standbyDrops = 0
    /// HA: where established IKE_SAs are recorded before their datagrams go out
    /// (IKESAPersistence.swift; nil: not recorded), and this worker's bookkeeping of it.
    var persistence: IKESAPersistence?
    var persistenceState = PersistenceState()
    /// The wall clock minus this clock (records carry wall-clock times), fixed at start.
    let wallOffset = Date().timeIntervalSince1970 - DaemonCore.now

    /// `reqids`: the daemon's (every worker's core gets the same one).
    init(config: DaemonConfig, installer: ChildSAInstaller, logger: Logger, loop: EventLoop,
         reqids: ReqidAllocator = ReqidAllocator()) throws {
        self.config = config
        self.installer = installer
        self.logger = logger
        self.loop = loop
        gateway = try IKEGateway(config: config, provider: OpenSSLCryptoProvider(), reqids: reqids)
    }

    static var now: Double { Double(NIODeadline.now().uptimeNanoseconds) / 1e9 }

    func received(_ datagram: ByteBuffer, localAddress: String, localPort: Int, remote: SocketAddress, hops: Int = 0) {
        if let servingGate, !servingGate() { standbyDrops += 1; return }
        guard !shuttingDown, let remoteText = remote.ipAddress, let remoteBytes = IPPrefix.parseAddress(remoteText),
              let remotePort = remote.port, let localBytes = IPPrefix.parseAddress(localAddress) else { return }
        var bytes = Array(datagram.readableBytesView)
        if localPort == config.settings.natTraversalPort {
            guard bytes.count > 4, bytes[0..<4] == [0, 0, 0, 0] else {   // keepalive or ESP
                if bytes.count != 1 { logger.debug("port \(localPort): \(bytes.count) octets without non-ESP marker from \(remoteText), dropped") }
                return
            }
            bytes.removeFirst(4)
        }
        // Not one of our IKE_SAs (e.g. rekeyed to new SPIs on another worker): the next worker's?
        if let workers, let spi = IKEShardRouting.localSPI(of: bytes), spi != 0, gateway.sas[spi] == nil,
           workers.passOn(datagram, from: worker, localAddress: localAddress, localPort: localPort, remote: remote, hops: hops) {
            return
        }
        let local = IKEEndpoint(address: localBytes, port: UInt16(localPort))
        let peer = IKEEndpoint(address: remoteBytes, port: UInt16(remotePort))
        // "Redirect above N IKE_SAs" counts those of every worker (an IKE_SA_INIT may come).
        if let workers, workers.cores.count > 1, (gateway.redirect?.aboveIKESAs ?? 0) > 0 {
            gateway.ikeSAsOnOtherWorkers = workers.ikeSAs(except: worker)
        }
        perform(gateway.receive(bytes, local: local, remote: peer, now: Self.now))
    }

    /// Tells the other workers how many IKE_SAs this one holds, when that changed.
    func publishIKESAs() {
        guard let workers, workers.cores.count > 1, gateway.sas.count != publishedIKESAs else { return }
        publishedIKESAs = gateway.sas.count
        workers.publish(worker: worker, ikeSAs: publishedIKESAs)
    }

    /// Initiates the connections with a start_action = start child (only those named in
    /// `only`, when given: a reload's added and changed ones).
    func initiateConfigured(only: Set<String>? = nil) {
        for (index, connection) in config.connections.enumerated()
        where connection.children.contains(where: { $0.startAction == .start }) && only.map({ $0.contains(connection.name) }) != false {
            guard let remoteText = connection.remoteAddresses.first, let remote = IPPrefix.parseAddress(remoteText),
                  let localText = connection.localAddresses.first ?? config.settings.listenAddresses.first,
                  let local = IPPrefix.parseAddress(localText) else {
                logger.warning("connection \(connection.name): start_action = start needs remote_addrs and local_addrs")
                continue
            }
            perform(gateway.initiate(index: index, local: IKEEndpoint(address: local, port: UInt16(config.settings.ikePort)),
                                     remote: IKEEndpoint(address: remote, port: UInt16(config.settings.ikePort)), now: Self.now))
        }
    }

    func perform(_ actions: [GatewayAction]) {
        if let persistence { return performPersisting(actions, persistence: persistence) }
        performNow(actions)
    }

    func performNow(_ actions: [GatewayAction]) {
        defer { publishIKESAs() }
        for action in actions {
            switch action {
            case .send(let bytes, let local, let remote):
                send(bytes, local: local, remote: remote)
            case .schedule(let spi, let timer):
                let deadline = NIODeadline.uptimeNanoseconds(UInt64(max(0, timer.deadline) * 1e9))
                loop.scheduleTask(deadline: deadline) { [self] in
                    guard !shuttingDown else { return }
                    perform(gateway.timerFired(sa: spi, timer: timer, now: Self.now))
                }
            case .scheduleCommand(let timer, let deadline):
                loop.scheduleTask(deadline: NIODeadline.uptimeNanoseconds(UInt64(max(0, deadline) * 1e9))) { [self] in
                    guard !shuttingDown else { return }
                    perform(gateway.commandTimerFired(timer, now: Self.now))
                }
            case .install(let child, let token):
                // Started, not awaited: the IKE_SA holds the response until the outcome is in.
                installer.install(child, on: loop).whenComplete { [self] result in
                    switch result {
                    case .success:
                        perform(gateway.installCompleted(token, succeeded: true, now: Self.now))
                    case .failure(let error):
                        logger.error("installing \(child.reference) failed: \(error); deleting the CHILD_SA with the peer")
                        perform(gateway.installCompleted(token, succeeded: false, now: Self.now))
                        installFailed(child)
                    }
                }
            case .activateOutbound(let child):
                installer.activateOutbound(child, on: loop).whenFailure { [self] error in
                    logger.error("activating the outbound SA of \(child.reference) failed: \(error); deleting the CHILD_SA with the peer")
                    installFailed(child)
                }
            case .delete(let child):
                expiry.forget(inboundSPI: child.inbound.spi)
                installer.delete(child, on: loop).whenFailure { [self] error in
                    logger.error("deleting \(child.reference) failed: \(error)")
                }
            case .deleteOutbound(let child):
                installer.deleteOutbound(child, on: loop).whenFailure { [self] error in
                    logger.error("deleting the outbound SA of \(child.reference) failed: \(error)")
                }
            case .initialContact(let contact):
                // This worker ended its own; the others hold IKE_SAs of other SPIs.
                for core in workers?.cores ?? [] where core !== self {
                    core.loop.execute { [core] in
                        guard !core.shuttingDown else { return }
                        core.perform(core.gateway.initialContactReceived(contact, now: Self.now))
                    }
                }
            case .log(let line):
                logger.info("\(line)")
            }
        }
    }

    /// A CHILD_SA whose SAs are not in place is deleted with the peer (IKEGateway+Expiry.swift).
    func installFailed(_ child: ChildSAInstallation) {
        if let delete = gateway.childSAInstallFailed(child) { retryChildSAExpiry(delete, tries: 50) }
    }

    func send(_ bytes: [UInt8], local: IKEEndpoint, remote: IKEEndpoint) {
        // From this worker's thread straight to the socket; the channel (worker 0's loop) only
        // when there is no such socket or the kernel did not take the datagram at once.
        if let servingGate, !servingGate() { standbyDrops += 1; return }
        if let transmit { return transmit(bytes, local, remote) }
        let port = Int(local.port)
        if let sender = senders.first(where: { $0.key.port == port && $0.key.address == local.address })?.sender
            ?? senders.first(where: { $0.key.port == port })?.sender,
            sender.send(prefix: port == config.settings.natTraversalPort ? nonESPMarker : [], bytes,
                        to: remote.address, port: remote.port) {
            return
        }
        let localText = IPPrefix.format(local.address)
        let key = ChannelKey(address: localText, port: Int(local.port))
        guard let channel = channels[key] ?? channels.first(where: { $0.key.port == Int(local.port) })?.value,
              let address = try? SocketAddress(ipAddress: IPPrefix.format(remote.address), port: Int(remote.port)) else {
            logger.warning("no socket for \(local) to send to \(remote)")
            return
        }
        var buffer = channel.allocator.buffer(capacity: bytes.count + 4)
        if Int(local.port) == config.settings.natTraversalPort { buffer.writeBytes([0, 0, 0, 0]) }
        buffer.writeBytes(bytes)
        channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: buffer), promise: nil)
    }

    /// RFC 3948 2.3: a one-octet 0xFF to the peer's 4500 from each IKE_SA whose local end
    /// is behind a NAT, so that the NAT keeps the mapping.
    func sendNATKeepalives() {
        guard !shuttingDown else { return }
        for sa in gateway.sas.values where sa.phase == .established && sa.natDetection?.localBehindNAT == true {
            let key = ChannelKey(address: IPPrefix.format(sa.local.address), port: Int(sa.local.port))
            guard let channel = channels[key] ?? channels.first(where: { $0.key.port == Int(sa.local.port) })?.value,
                  let address = try? SocketAddress(ipAddress: IPPrefix.format(sa.remote.address), port: Int(sa.remote.port))
            else { continue }
            var buffer = channel.allocator.buffer(capacity: 1)
            buffer.writeInteger(UInt8(0xFF))
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: buffer), promise: nil)
        }
    }

    /// Deletes every IKE_SA of this worker (the Deletes go out best-effort) and stops.
    func stop() {
        guard !shuttingDown else { return }
        logger.info("\(expiry.statusLine)")
        let actions = gateway.deleteAll(now: Self.now).filter {
            switch $0 {
            case .schedule, .scheduleCommand: return false
            default: return true
            }
        }
        perform(actions)
        shuttingDown = true
    }
}

/// The one handler per socket: passes datagrams to the worker owning their IKE_SA.
final class IKEDatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let workers: IKEWorkerSet
    let localAddress: String
    let localPort: Int

    init(workers: IKEWorkerSet, localAddress: String, localPort: Int) {
        self.workers = workers
        self.localAddress = localAddress
        self.localPort = localPort
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        workers.dispatch(envelope.data, localAddress: localAddress, localPort: localPort, remote: envelope.remoteAddress)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A UDP error (e.g. ICMP port unreachable) must not close the socket.
    }
}
