import CMNL
import Netlink

/// One packet the kernel queued (NFQNL_MSG_PACKET), as far as the copy range reached.
public struct NFQueuePacket: Equatable, Sendable {
    /// The id the verdict must name (NFQA_PACKET_HDR packet_id).
    public var id: UInt32
    /// The layer-3 protocol as an ethertype (0x0800 IPv4, 0x86dd IPv6), host order.
    public var hardwareProtocol: UInt16
    /// The netfilter hook (NF_INET_PRE_ROUTING = 0).
    public var hook: UInt8
    /// nfgenmsg.nfgen_family: NFPROTO_IPV4 (2) or NFPROTO_IPV6 (10) for `table inet`.
    public var family: UInt8
    /// The queue number (nfgenmsg.res_id).
    public var queue: UInt16
    /// The packet's mark when it was queued (NFQA_MARK; 0 when absent).
    public var mark: UInt32
    /// The inbound interface index (NFQA_IFINDEX_INDEV; 0 when absent).
    public var inputInterface: UInt32
    /// The copied bytes, starting at the IP header (NFQA_PAYLOAD; at most the copy range).
    public var payload: [UInt8]
    /// The packet's full length: NFQA_CAP_LEN when the copy was cut, else payload.count.
    public var length: Int

    public init(id: UInt32, hardwareProtocol: UInt16, hook: UInt8, family: UInt8, queue: UInt16,
                mark: UInt32, inputInterface: UInt32, payload: [UInt8], length: Int) {
        self.id = id
        self.hardwareProtocol = hardwareProtocol
        self.hook = hook
        self.family = family
        self.queue = queue
        self.mark = mark
        self.inputInterface = inputInterface
        self.payload = payload
        self.length = length
    }

    /// True when the kernel copied less than the whole packet.
    public var isTruncated: Bool { length > payload.count }
}

/// What the receive side counted. Nothing is dropped silently: every message the parser
/// refuses lands in one of these.
public struct NFQueueCounters: Equatable, Sendable {
    /// Packet messages parsed and handed out.
    public var received = 0
    /// Packet messages refused (bad attribute, missing payload...) that still named an id:
    /// the queue drops those packets itself (NF_DROP).
    public var malformed = 0
    /// Messages too broken to name a packet id (no verdict possible); also bad lengths.
    public var unreadable = 0
    /// Messages of an unexpected type (neither a packet nor an error).
    public var unexpected = 0
    /// NLMSG_ERROR answers to verdicts (e.g. ENOENT: the id was unknown or already decided).
    public var verdictErrors = 0
    /// Packets whose copy the kernel cut to the copy range.
    public var truncated = 0
    /// Verdicts sent.
    public var accepted = 0
    public var dropped = 0
    /// sendmsg calls that carried verdicts (accepted + dropped over this = batching factor).
    public var verdictDatagrams = 0
    /// recvmmsg calls that brought at least one datagram (received over this = packets per
    /// receive system call).
    public var receiveCalls = 0

    public init() {}
}

/// Parses NFQUEUE datagrams. Everything in them is treated as hostile: every length is
/// checked against the bytes present (libmnl's `mnl_nlmsg_ok` / `mnl_attr_ok`), nothing traps,
/// and every refusal is counted.
public enum NFQueueParser {
    /// The result of one datagram: packets to decide, and ids of refused packets to drop.
    public struct Batch: Equatable, Sendable {
        public var packets: [NFQueuePacket] = []
        public var dropIDs: [UInt32] = []
        public init() {}
    }

    /// Parses the datagram `bytes` (one or more netlink messages) into `batch`.
    /// `bytes` must be 4-byte aligned (netlink buffers are).
    public static func parse(_ bytes: UnsafeRawBufferPointer, into batch: inout Batch,
                             counters: inout NFQueueCounters) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        guard Int(bitPattern: base) & 3 == 0 else {
            counters.unreadable += 1
            return
        }
        var remaining = Int32(clamping: bytes.count)
        var nlh: UnsafePointer<nlmsghdr>? = base.assumingMemoryBound(to: nlmsghdr.self)
        // mnl_nlmsg_ok compares (int)nlmsg_len: a length of 2^31 or more passes it as negative.
        // The unsigned comparison below closes that.
        while let message = nlh, mnl_nlmsg_ok(message, remaining), message.pointee.nlmsg_len <= UInt32(remaining) {
            switch message.pointee.nlmsg_type {
            case NFQueueWire.packet:
                parsePacket(message, into: &batch, counters: &counters)
            case UInt16(NLMSG_ERROR):
                // Verdicts carry no NLM_F_ACK, so any error message is a failed verdict.
                counters.verdictErrors += 1
            case UInt16(NLMSG_NOOP), UInt16(NLMSG_DONE):
                break
            default:
                counters.unexpected += 1
            }
            nlh = UnsafePointer(mnl_nlmsg_next(message, &remaining))
        }
        // Bytes left that do not form a message: a short or lying nlmsg_len.
        if remaining > 0 { counters.unreadable += 1 }
    }

    /// Convenience for tests and callers holding an array.
    public static func parse(_ bytes: [UInt8]) -> (Batch, NFQueueCounters) {
        var batch = Batch()
        var counters = NFQueueCounters()
        // An aligned copy: arrays of bytes have no alignment guarantee.
        let aligned = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 8)
        defer { aligned.deallocate() }
        aligned.copyBytes(from: bytes)
        parse(UnsafeRawBufferPointer(rebasing: aligned[0..<bytes.count]), into: &batch, counters: &counters)
        return (batch, counters)
    }

    private static func parsePacket(_ nlh: UnsafePointer<nlmsghdr>, into batch: inout Batch,
                                    counters: inout NFQueueCounters) {
        let messageLength = Int(nlh.pointee.nlmsg_len)
        let headerLength = NetlinkHeader.length
        guard messageLength >= headerLength + NFQueueWire.nfgenmsgLength else {
            counters.unreadable += 1
            return
        }
        let raw = UnsafeRawPointer(nlh)
        let family = raw.load(fromByteOffset: headerLength, as: UInt8.self)
        let queue = UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: headerLength + 2, as: UInt16.self))
        var id: UInt32?
        var hardwareProtocol: UInt16 = 0
        var hook: UInt8 = 0
        var mark: UInt32 = 0
        var inputInterface: UInt32 = 0
        var payload: UnsafeRawBufferPointer?
        var capturedLength: Int?
        var bad = false

        var offset = headerLength + NFQueueWire.nfgenmsgLength
        while messageLength - offset >= 4 {
            let attr = (raw + offset).assumingMemoryBound(to: nlattr.self)
            guard mnl_attr_ok(attr, Int32(messageLength - offset)) else { bad = true; break }
            let value = UnsafeRawBufferPointer(start: mnl_attr_get_payload(attr),
                                               count: Int(mnl_attr_get_payload_len(attr)))
            func be32() -> UInt32? {
                guard value.count == 4 else { bad = true; return nil }
                return UInt32(bigEndian: value.loadUnaligned(as: UInt32.self))
            }
            switch Int(mnl_attr_get_type(attr)) {
            case Int(NFQA_PACKET_HDR.rawValue):
                guard value.count >= NFQueueWire.packetHeaderLength else { bad = true; break }
                id = UInt32(bigEndian: value.loadUnaligned(as: UInt32.self))
                hardwareProtocol = UInt16(bigEndian: value.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
                hook = value[6]
            case Int(NFQA_MARK.rawValue): mark = be32() ?? 0
            case Int(NFQA_IFINDEX_INDEV.rawValue): inputInterface = be32() ?? 0
            case Int(NFQA_CAP_LEN.rawValue): capturedLength = be32().map(Int.init)
            case Int(NFQA_PAYLOAD.rawValue): payload = value
            default: break   // timestamps, hw address, conntrack...: not needed, skipped
            }
            offset += NetlinkAlignment.align(Int(attr.pointee.nla_len))
        }
        guard let packetID = id else {
            counters.unreadable += 1
            return
        }
        // A packet without payload or with a lying CAP_LEN is refused and dropped (fail closed).
        guard !bad, let bytes = payload, bytes.count > 0, capturedLength.map({ $0 >= bytes.count }) ?? true else {
            counters.malformed += 1
            batch.dropIDs.append(packetID)
            return
        }
        let packet = NFQueuePacket(id: packetID, hardwareProtocol: hardwareProtocol, hook: hook, family: family,
                                   queue: queue, mark: mark, inputInterface: inputInterface,
                                   payload: Array(bytes), length: capturedLength ?? bytes.count)
        if packet.isTruncated { counters.truncated += 1 }
        counters.received += 1
        batch.packets.append(packet)
    }
}

enum NetlinkHeader {
    static let length = 16
}

