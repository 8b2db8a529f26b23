import CMNL
import Glibc

/// Receive buffers for one recvmmsg(2): a data path takes every datagram already queued with
/// one system call instead of one recvmsg each. nfnetlink_queue sends each queued packet as
/// its own datagram, so without this a queue pays a system call per packet.
///
/// `capacity` slots of `slotSize` bytes each, 8-byte aligned (netlink messages are parsed in
/// place); the iovecs and headers are set once. Not thread-safe: one batch per socket user.
public final class DatagramBatch {
    /// The most datagrams one receive takes.
    public let capacity: Int
    /// Bytes per slot: a datagram longer than this is cut by the kernel (MSG_TRUNC).
    public let slotSize: Int
    /// Datagrams the last receive filled (slots 0..<count).
    public internal(set) var count = 0
    private let storage: UnsafeMutableRawBufferPointer
    private let vectors: UnsafeMutablePointer<iovec>
    let headers: UnsafeMutablePointer<vipsec_mmsghdr>

    public init(capacity: Int, slotSize: Int) {
        precondition(capacity > 0 && slotSize > 0, "DatagramBatch needs at least one slot of one byte")
        self.capacity = capacity
        self.slotSize = (slotSize + 7) & ~7
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity * self.slotSize, alignment: 8)
        vectors = .allocate(capacity: capacity)
        headers = .allocate(capacity: capacity)
        for slot in 0..<capacity {
            vectors[slot] = iovec(iov_base: storage.baseAddress! + slot * self.slotSize, iov_len: self.slotSize)
            var header = vipsec_mmsghdr()
            header.msg_hdr.msg_iov = vectors + slot
            header.msg_hdr.msg_iovlen = 1
            headers[slot] = header
        }
    }

    deinit {
        storage.deallocate()
        vectors.deallocate()
        headers.deallocate()
    }

    /// The bytes of datagram `slot` (< `count`), or nil when the kernel cut it to the slot.
    public func datagram(_ slot: Int) -> UnsafeRawBufferPointer? {
        precondition(slot < count, "slot \(slot) was not filled by the last receive (\(count))")
        let header = headers[slot]
        if header.msg_hdr.msg_flags & Int32(MSG_TRUNC) != 0 { return nil }
        return UnsafeRawBufferPointer(start: storage.baseAddress! + slot * slotSize, count: Int(header.msg_len))
    }
}

extension NetlinkSocket {
    /// Waits up to `timeout` (nil = forever; .zero = only what is queued) for a datagram, then
    /// takes every datagram already queued, up to `limit` (at most `batch.capacity`), with one
    /// recvmmsg(2). Returns how many arrived (also `batch.count`); 0 when none came in time.
    @discardableResult
    public func receiveDatagrams(into batch: DatagramBatch, limit: Int = .max, timeout: Duration?) throws -> Int {
        batch.count = 0
        let slots = min(limit, batch.capacity)
        guard slots > 0, try waitReadable(timeout: timeout) else { return 0 }
        for slot in 0..<slots {
            batch.headers[slot].msg_hdr.msg_flags = 0
            batch.headers[slot].msg_len = 0
        }
        let received = vipsec_recvmmsg(fileDescriptor, batch.headers, UInt32(slots), Int32(MSG_DONTWAIT))
        if received < 0 {
            let code = Glibc.errno
            if code == EINTR || code == EAGAIN { return 0 }
            throw NetlinkError.system(call: "recvmmsg", errno: code)
        }
        batch.count = Int(received)
        return batch.count
    }
}
