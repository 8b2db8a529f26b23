import CMNL
import Netlink

/// The NFQUEUE wire constants (<linux/netfilter/nfnetlink_queue.h>), in one place.
public enum NFQueueWire {
    /// nlmsg_type of a queue subsystem message: NFNL_SUBSYS_QUEUE << 8 | msg.
    public static func messageType(_ message: Int) -> UInt16 { UInt16(NFNL_SUBSYS_QUEUE) << 8 | UInt16(message) }
    public static let packet = messageType(Int(NFQNL_MSG_PACKET.rawValue))     // 0x0300
    public static let verdict = messageType(Int(NFQNL_MSG_VERDICT.rawValue))   // 0x0301
    public static let config = messageType(Int(NFQNL_MSG_CONFIG.rawValue))     // 0x0302

    /// sizeof(struct nfgenmsg).
    public static let nfgenmsgLength = 4
    /// sizeof(struct nfqnl_msg_packet_hdr) (packed: be32 id, be16 hw_protocol, u8 hook).
    public static let packetHeaderLength = 7
    /// One verdict message: nlmsghdr 16 + nfgenmsg 4 + NFQA_VERDICT_HDR 4+8 + NFQA_MARK 4+4.
    public static let verdictMessageLength = 40
}

/// What the kernel copies of each queued packet (NFQNL_COPY_*).
public enum NFQueueCopyMode: UInt8, Sendable {
    case none = 0, metadata = 1, packet = 2
}

/// NFQNL_CFG_CMD_*.
public enum NFQueueCommand: UInt8, Sendable {
    case bind = 1, unbind = 2
    /// Only kernels before 3.8 need PF_BIND / PF_UNBIND; later ones ignore them (no-ops).
    case pfBind = 3, pfUnbind = 4
}

/// Builds the NFQUEUE configuration messages (NFQNL_MSG_CONFIG). Pure: no socket, so the
/// bytes are unit-tested against the struct layouts of <linux/netfilter/nfnetlink_queue.h>.
///
/// `nft` / libnetfilter_queue equivalents: `nfq_nlmsg_cfg_put_cmd`, `nfq_nlmsg_cfg_put_params`,
/// `nfq_nlmsg_cfg_put_qmaxlen`; the queue number goes big-endian in nfgenmsg.res_id.
public enum NFQueueMessages {
    /// A config message for `queue` with the nfgenmsg header filled; attributes follow.
    static func config(queue: UInt16, flags: UInt16 = UInt16(NLM_F_ACK)) throws -> NetlinkMessageBuilder {
        let message = NetlinkMessageBuilder(type: NFQueueWire.config, flags: flags, capacity: 128)
        try message.appendHeader(nfgenmsg.self) { header in
            header.nfgen_family = UInt8(AF_UNSPEC)
            header.version = UInt8(NFNETLINK_V0)
            header.res_id = queue.bigEndian
        }
        return message
    }

    /// NFQA_CFG_CMD {command, pf}: BIND attaches this socket to the queue (EPERM if another
    /// socket holds it), UNBIND releases it. `pf` matters only for PF_BIND / PF_UNBIND.
    public static func command(_ command: NFQueueCommand, queue: UInt16,
                               protocolFamily: UInt16 = UInt16(AF_UNSPEC)) throws -> NetlinkMessageBuilder {
        let message = try config(queue: queue)
        try message.appendAttribute(type: UInt16(NFQA_CFG_CMD.rawValue), nfqnl_msg_config_cmd.self) { cmd in
            cmd.command = command.rawValue
            cmd.pf = protocolFamily.bigEndian
        }
        return message
    }

    /// NFQA_CFG_PARAMS {be32 copy_range, u8 copy_mode} (packed, 5 bytes), NFQA_CFG_QUEUE_MAXLEN
    /// (be32), and NFQA_CFG_MASK/FLAGS with FAIL_OPEN explicitly *cleared*: when this socket
    /// is slow or gone the kernel drops (fail closed), it never accepts unclassified ESP.
    public static func parameters(queue: UInt16, copyMode: NFQueueCopyMode, copyRange: UInt32,
                                  maxLength: UInt32) throws -> NetlinkMessageBuilder {
        let message = try config(queue: queue)
        let range = copyRange.bigEndian
        let params: [UInt8] = withUnsafeBytes(of: range) { Array($0) } + [copyMode.rawValue]
        try message.appendAttribute(type: UInt16(NFQA_CFG_PARAMS.rawValue), bytes: params)
        try message.appendAttribute(type: UInt16(NFQA_CFG_QUEUE_MAXLEN.rawValue), u32: maxLength.bigEndian)
        try message.appendAttribute(type: UInt16(NFQA_CFG_MASK.rawValue), u32: UInt32(NFQA_CFG_F_FAIL_OPEN).bigEndian)
        try message.appendAttribute(type: UInt16(NFQA_CFG_FLAGS.rawValue), u32: UInt32(0).bigEndian)
        return message
    }
}

/// A verdict for one queued packet.
public enum NFQueueVerdict: Equatable, Sendable {
    /// NF_ACCEPT, with the packet's new mark (NFQA_MARK) when given: the mark selects the
    /// forwarding route (`ip rule fwmark`).
    case accept(mark: UInt32?)
    /// NF_DROP.
    case drop
}

/// Verdicts concatenated into one buffer, sent with one sendmsg (the kernel processes every
/// message of a datagram). Each message is built with libmnl's put helpers in place; the
/// buffer is reused, so the data path allocates nothing.
public final class NFQueueVerdictBatch {
    /// How many verdicts fit before `append` reports full.
    public let capacity: Int
    private let buffer: UnsafeMutableRawPointer
    private let queue: UInt16
    /// Verdicts in the buffer.
    public private(set) var count = 0
    private var length = 0

    public init(queue: UInt16, capacity: Int = 256) {
        self.queue = queue
        self.capacity = max(capacity, 1)
        let bytes = self.capacity * NFQueueWire.verdictMessageLength
        buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 8)
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
    }

    deinit { buffer.deallocate() }

    public var isFull: Bool { count >= capacity }

    /// The concatenated messages.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: buffer, count: length) }

    /// Appends the verdict for packet `id`. Returns false (and appends nothing) when full.
    @discardableResult
    public func append(id: UInt32, _ verdict: NFQueueVerdict) -> Bool {
        guard count < capacity else { return false }
        let start = buffer + length
        start.initializeMemory(as: UInt8.self, repeating: 0, count: NFQueueWire.verdictMessageLength)
        let nlh = mnl_nlmsg_put_header(start)!
        nlh.pointee.nlmsg_type = NFQueueWire.verdict
        nlh.pointee.nlmsg_flags = UInt16(NLM_F_REQUEST)
        let extra = mnl_nlmsg_put_extra_header(nlh, NFQueueWire.nfgenmsgLength)!
        let header = extra.assumingMemoryBound(to: nfgenmsg.self)
        header.pointee.nfgen_family = UInt8(AF_UNSPEC)
        header.pointee.version = UInt8(NFNETLINK_V0)
        header.pointee.res_id = queue.bigEndian
        var verdictHeader = nfqnl_msg_verdict_hdr()
        switch verdict {
        case .accept: verdictHeader.verdict = UInt32(NF_ACCEPT).bigEndian
        case .drop: verdictHeader.verdict = UInt32(NF_DROP).bigEndian
        }
        verdictHeader.id = id.bigEndian
        mnl_attr_put(nlh, UInt16(NFQA_VERDICT_HDR.rawValue), MemoryLayout<nfqnl_msg_verdict_hdr>.size, &verdictHeader)
        if case .accept(let mark?) = verdict {
            mnl_attr_put_u32(nlh, UInt16(NFQA_MARK.rawValue), mark.bigEndian)
        }
        length += Int(nlh.pointee.nlmsg_len)
        count += 1
        return true
    }

    /// Empties the batch (after it was sent).
    public func reset() {
        count = 0
        length = 0
    }
}
