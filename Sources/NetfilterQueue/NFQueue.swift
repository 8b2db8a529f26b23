import CMNL
import Glibc
import Netlink

/// An NFQUEUE client over raw nfnetlink (libmnl): one socket bound to one queue number.
///
/// The nft rule `queue num N` (without `bypass`) hands packets here; each packet waits in the
/// kernel until a verdict names its id. With no socket bound, or the queue full
/// (`maxLength`), the kernel drops: the distributor fails closed.
///
/// Not thread-safe: one queue per worker thread (`queue num A-B fanout` spreads them).
/// Equivalents: `nfq_open` + `nfq_create_queue` + `nfq_set_mode` + `nfq_set_queue_maxlen`,
/// `nfq_set_verdict2`; nothing of libnetfilter_queue is linked.
public final class NFQueue {
    public struct Configuration: Sendable {
        /// The queue number (nft `queue num`).
        public var queue: UInt16
        /// Bytes of each packet copied to user space, from the IP header. The classifier needs
        /// the outer headers and the first cipher blocks (tunnel mode: 256 is plenty);
        /// transport mode's trailer needs the whole packet (65535).
        public var copyRange: UInt32 = 256
        /// Packets the kernel holds for this queue before it drops (fail closed).
        public var maxLength: UInt32 = 8192
        /// SO_RCVBUFFORCE bytes (needs CAP_NET_ADMIN; else SO_RCVBUF within rmem_max).
        public var receiveBufferBytes: Int32 = 32 << 20
        /// Verdicts per sendmsg at most.
        public var verdictBatch = 256
        /// Datagrams per recvmmsg at most (each one packet); nil: up to 64 within 4 MB of
        /// buffers. 1 receives one packet per system call (the bench's naive reference).
        public var receiveSlots: Int?
        /// Send PF_UNBIND/PF_BIND first: only kernels before 3.8 need it.
        public var legacyPFBind = false
        /// `ip netns` name to open the socket in (nil: the caller's namespace).
        public var networkNamespace: String?

        public init(queue: UInt16) { self.queue = queue }
    }

    public let configuration: Configuration
    public private(set) var counters = NFQueueCounters()
    private let socket: NetlinkSocket
    private let verdicts: NFQueueVerdictBatch
    private let received: DatagramBatch
    private var bound = false

    /// Opens the socket and binds it to the queue: BIND, then copy mode/range, maxlen and
    /// fail-open cleared, each acknowledged (EPERM: another socket holds the queue, as seen on 6.18, or
    /// no CAP_NET_ADMIN). NETLINK_NO_ENOBUFS: an overrun loses packets (they stay dropped,
    /// as when the queue is full) instead of failing the receive loop.
    public init(_ configuration: Configuration) throws {
        self.configuration = configuration
        socket = try NetlinkSocket(family: NETLINK_NETFILTER, receiveBufferSize: configuration.receiveBufferBytes,
                                   networkNamespace: configuration.networkNamespace)
        try socket.setOption(NETLINK_NO_ENOBUFS, 1)
        verdicts = NFQueueVerdictBatch(queue: configuration.queue, capacity: configuration.verdictBatch)
        // A datagram holds one packet: its copy plus headers and attributes (< 1 KB). One
        // recvmmsg takes up to 64 of them, within 4 MB of slots (a whole-packet copy range
        // gets fewer slots). Slots no larger than that: the slots a batch touches are its
        // working set (64 page-sized slots cost more than the system calls they save).
        let size = Int(min(configuration.copyRange, 65535)) + 1024
        received = DatagramBatch(capacity: max(1, configuration.receiveSlots ?? min(64, (4 << 20) / size)), slotSize: size)
        let queue = configuration.queue
        if configuration.legacyPFBind {
            for family in [AF_INET, AF_INET6] {
                _ = try? socket.acknowledged(NFQueueMessages.command(.pfUnbind, queue: queue, protocolFamily: UInt16(family)))
                try socket.acknowledged(NFQueueMessages.command(.pfBind, queue: queue, protocolFamily: UInt16(family)))
            }
        }
        // Every stored property is set: a throw from here on runs deinit (unbind, free).
        try socket.acknowledged(NFQueueMessages.command(.bind, queue: queue))
        bound = true
        try socket.acknowledged(NFQueueMessages.parameters(
            queue: queue, copyMode: .packet, copyRange: min(configuration.copyRange, 65535),
            maxLength: configuration.maxLength))
    }

    deinit {
        close()
    }

    /// The socket's descriptor, for an event loop.
    public var fileDescriptor: Int32 { socket.fileDescriptor }

    /// Receives up to `maxPackets` queued packets: waits up to `timeout` for the first
    /// (nil = forever), then takes only what is already there, many per recvmmsg(2). Refused messages that name a
    /// packet get an NF_DROP verdict at once (queued in the batch; `flush()` sends it).
    public func receive(maxPackets: Int = 64, timeout: Duration? = .milliseconds(200)) throws -> [NFQueuePacket] {
        var batch = NFQueueParser.Batch()
        var wait = timeout
        while batch.packets.count < maxPackets {
            let count = try socket.receiveDatagrams(into: received, limit: maxPackets - batch.packets.count, timeout: wait)
            guard count > 0 else { break }
            counters.receiveCalls += 1
            wait = .zero
            for slot in 0..<count {
                guard let datagram = received.datagram(slot) else {
                    // MSG_TRUNC: a message larger than the slot (cannot happen with the copy
                    // range in force). Its packet id is lost; the kernel drops it at queue teardown.
                    counters.unreadable += 1
                    continue
                }
                NFQueueParser.parse(datagram, into: &batch, counters: &counters)
            }
        }
        for id in batch.dropIDs { try verdict(id: id, .drop) }
        return batch.packets
    }

    /// The worker loop: receives batches, asks `decide` for each packet's verdict, sends the
    /// verdicts of a batch in one sendmsg, until `shouldStop` says so (checked after each
    /// receive, at least every `poll`). `shouldStop` is also where the routing node applies
    /// what was posted to the worker: it runs between the receive and the decisions, so a
    /// new SA posted while the receive waited is known before that batch is decided.
    public func serve(maxPackets: Int = 64, poll: Duration = .milliseconds(200),
                      shouldStop: () -> Bool, decide: (NFQueuePacket) -> NFQueueVerdict) throws {
        var stop = shouldStop()
        while !stop {
            let batch = try receive(maxPackets: maxPackets, timeout: poll)
            stop = shouldStop()
            for packet in batch { try verdict(id: packet.id, decide(packet)) }
            try flush()
        }
    }

    /// Queues the verdict for packet `id`; sends the batch when it is full.
    public func verdict(id: UInt32, _ verdict: NFQueueVerdict) throws {
        if verdicts.isFull { try flush() }
        verdicts.append(id: id, verdict)
        if case .drop = verdict { counters.dropped += 1 } else { counters.accepted += 1 }
    }

    /// Accepts packet `id`, setting its mark (the forwarding route).
    public func accept(id: UInt32, mark: UInt32?) throws { try verdict(id: id, .accept(mark: mark)) }

    /// Drops packet `id`.
    public func drop(id: UInt32) throws { try verdict(id: id, .drop) }

    /// Sends every queued verdict in one sendmsg.
    public func flush() throws {
        guard verdicts.count > 0 else { return }
        defer { verdicts.reset() }
        counters.verdictDatagrams += 1
        try socket.sendDatagram(verdicts.bytes)
    }

    /// Sends pending verdicts and unbinds the queue (NFQNL_CFG_CMD_UNBIND). Packets still
    /// waiting are dropped by the kernel; new ones too until a socket binds again.
    public func close() {
        guard bound else { return }
        try? flush()
        _ = try? socket.acknowledged(NFQueueMessages.command(.unbind, queue: configuration.queue))
        bound = false
    }
}
