// The daemon's UDP sockets: one per listen address and port (500 and 4500), each made by
// DatagramSender (which keeps a duplicate descriptor to send on from any worker), read by
// NIO on worker 0's loop, whose one handler passes each datagram to the worker that owns
// its IKE_SA (IKEShardRouting.swift).
import IKEv2
import Logging
import NIOCore
import NIOPosix

struct ChannelKey: Hashable {
    var address: String
    var port: Int
}

/// A socket's bound address (octets; all zero for the wildcard) and port.
struct SenderKey: Hashable {
    var address: [UInt8]
    var port: Int
}

/// The sockets of one daemon run: the channels NIO reads (closed at shutdown,
/// DaemonShutdown.swift) and the sending descriptors (closed by `closeSenders()` once
/// every worker has stopped).
final class IKESockets {
    /// The largest IKE datagram read whole (a certificate chain in IKE_AUTH without RFC 7383
    /// fragmentation: two RSA-4096 certificates and a signature are about 4 KiB).
    static let largestDatagram = 16_384
    private(set) var channels: [ChannelKey: Channel] = [:]
    private(set) var senders: [ChannelKey: DatagramSender] = [:]

    /// Binds every listen address on the IKE and NAT-T ports, read on `loop` and handed to
    /// `workers`. `freeBind`: bind addresses not on this host yet (an HA standby, the DVIPA).
    /// Throws the first socket that fails (those made before stay, for `closeSenders()`).
    func bind(_ settings: DaemonSettings, workers: IKEWorkerSet, on loop: EventLoop, freeBind: Bool, logger: Logger) async throws {
        for address in settings.listenAddresses {
            for port in [settings.ikePort, settings.natTraversalPort] {
                // SO_REUSEADDR; on 4500 UDP_ENCAP_ESPINUDP (RFC 3948: the kernel takes ESP-in-UDP
                // off this socket; IKE with the non-ESP marker and NAT keepalives still reach us).
                let sender = try DatagramSender(address: address, port: port, espInUDP: port == settings.natTraversalPort,
                                                freeBind: freeBind)
                let channel: Channel
                do {
                    channel = try await DatagramBootstrap(group: loop)
                        // NIO reads datagrams into 2048-octet buffers by default, which cut an
                        // IKE_AUTH carrying RSA certificates short (RFC 7296 2: SHOULD accept 3000).
                        .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: Self.largestDatagram))
                        .channelInitializer { channel in
                            channel.pipeline.addHandler(IKEDatagramHandler(workers: workers, localAddress: address, localPort: port))
                        }
                        .withBoundSocket(sender.channelDescriptor).get()
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
    }

    /// The sending descriptors by bound address (octets) and port, for the workers' `send`.
    var sendersByAddress: [(key: SenderKey, sender: DatagramSender)] {
        senders.map { (SenderKey(address: IPPrefix.parseAddress($0.key.address) ?? [], port: $0.key.port), $0.value) }
    }

    /// Closes the sending descriptors (after every worker has stopped: DatagramSender.swift).
    func closeSenders() {
        senders.values.forEach { $0.close() }
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
