// One IKE worker's loop-confined state: its gateway (the IKE core's SAs), the datagrams in
// (`received`) and out (`send`, NAT keepalives), and its part of the shutdown (`stop`). What
// the gateway's actions do is in DaemonCore+Actions.swift; the sockets in Sockets/.
//
// On 4500 every IKE message carries the four-octet non-ESP marker (RFC 3948 2.2); a lone
// 0xFF is a NAT keepalive; anything else there is ESP, which the kernel handles (dropped here).
import Foundation
import IKEv2
import IKECrypto
import Logging
import NIOCore

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

    /// RFC 3948 2.3: a one-octet 0xFF to the peer from each IKE_SA whose local end is behind
    /// a NAT and whose keepalive is due (the gateway's heap: the IKE_SAs due, not all of them).
    func sendNATKeepalives() {
        guard !shuttingDown else { return }
        for (local, remote) in gateway.natKeepalivesDue(now: Self.now) {
            let key = ChannelKey(address: IPPrefix.format(local.address), port: Int(local.port))
            guard let channel = channels[key] ?? channels.first(where: { $0.key.port == Int(local.port) })?.value,
                  let address = try? SocketAddress(ipAddress: IPPrefix.format(remote.address), port: Int(remote.port))
            else { continue }
            var buffer = channel.allocator.buffer(capacity: 1)
            buffer.writeInteger(UInt8(0xFF))
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: buffer), promise: nil)
        }
    }

    /// Looks for due NAT keepalives every second (each IKE_SA's come `natKeepaliveInterval`
    /// seconds apart, from its establishment), as long as the loop runs.
    func scheduleNATKeepalives() {
        loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [self] _ in
            sendNATKeepalives()
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
