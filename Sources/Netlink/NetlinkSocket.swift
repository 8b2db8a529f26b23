import CMNL
import Glibc

/// A netlink socket over libmnl: request/acknowledge, request/reply, dumps, pipelined
/// batches, multicast groups and receive with a timeout.
///
/// Replies are matched by sequence number and must carry this socket's port id (or 0);
/// anything else is dropped and counted in `droppedMessages`. Extended acks are on, so
/// kernel errors carry the kernel's text. Not thread-safe: one socket per task.
public final class NetlinkSocket {
    private let socket: OpaquePointer
    /// The port id the kernel assigned to this socket.
    public let portID: UInt32
    /// Messages dropped because of a wrong port id or a stale sequence number.
    public private(set) var droppedMessages = 0
    /// How long a request waits for its answer.
    public var timeout: Duration
    private var nextSequence: UInt32
    private var receiveBuffer: [UInt8]

    /// Opens and binds a socket of netlink `family` (e.g. NETLINK_XFRM), in the caller's
    /// network namespace or, given `networkNamespace`, in that named one (`ip -n NAME`).
    public init(family: Int32, receiveBufferSize: Int32 = 4 << 20, timeout: Duration = .seconds(5),
                networkNamespace: String? = nil) throws {
        // errno is read right after the call: switching back from a namespace makes calls too.
        let open = { () -> (OpaquePointer?, Int32) in let socket = mnl_socket_open(family); return (socket, Glibc.errno) }
        let (opened, openErrno) = try networkNamespace.map { try NetworkNamespace.open($0, open) } ?? open()
        guard let socket = opened else {
            throw NetlinkError.system(call: "mnl_socket_open", errno: openErrno)
        }
        guard mnl_socket_bind(socket, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let code = Glibc.errno
            mnl_socket_close(socket)
            throw NetlinkError.system(call: "mnl_socket_bind", errno: code)
        }
        self.socket = socket
        portID = mnl_socket_get_portid(socket)
        self.timeout = timeout
        nextSequence = UInt32(truncatingIfNeeded: time(nil))
        receiveBuffer = [UInt8](repeating: 0, count: 1 << 16)
        // Best effort: older kernels lack these; errors then simply have no text.
        var one: Int32 = 1
        _ = mnl_socket_setsockopt(socket, NETLINK_EXT_ACK, &one, socklen_t(MemoryLayout<Int32>.size))
        _ = mnl_socket_setsockopt(socket, NETLINK_CAP_ACK, &one, socklen_t(MemoryLayout<Int32>.size))
        // Bulk acknowledgements and dumps need room: force the size when privileged
        // (SO_RCVBUFFORCE ignores rmem_max), else ask within rmem_max.
        var size = receiveBufferSize
        let fd = mnl_socket_get_fd(socket)
        if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    deinit { mnl_socket_close(socket) }

    /// The file descriptor, for polling from an event loop.
    public var fileDescriptor: Int32 { mnl_socket_get_fd(socket) }

    /// Joins multicast `group` (e.g. XFRMNLGRP_EXPIRE).
    public func join(group: UInt32) throws {
        var value = group
        guard mnl_socket_setsockopt(socket, NETLINK_ADD_MEMBERSHIP, &value, socklen_t(MemoryLayout<UInt32>.size)) == 0 else {
            throw NetlinkError.system(call: "setsockopt(NETLINK_ADD_MEMBERSHIP \(group))", errno: Glibc.errno)
        }
    }

    // MARK: Requests

    /// Sends `message` with NLM_F_ACK and waits for the kernel's acknowledgement.
    public func acknowledged(_ message: NetlinkMessageBuilder) throws {
        message.flags |= UInt16(NLM_F_ACK)
        let sequence = try send(message)
        var acknowledged = false
        while !acknowledged {
            try receiveEach(matching: sequence) { reply in
                guard !acknowledged, reply.type == UInt16(NLMSG_ERROR) else { return }
                let status = try reply.status()
                if status.errno != 0 { throw NetlinkError.kernel(errno: status.errno, message: status.message) }
                acknowledged = true
            }
        }
    }

    /// Sends `message` and reads the kernel's one reply with `read` (e.g. XFRM_MSG_GETSA →
    /// NEWSA, whose bytes hold the SA's keys: they are wiped when `read` returns).
    public func request<Result>(_ message: NetlinkMessageBuilder, _ read: (NetlinkMessage) throws -> Result) throws -> Result {
        let sequence = try send(message)
        var result: Result?
        while result == nil {
            try receiveEach(matching: sequence) { reply in
                guard result == nil else { return }
                if reply.type == UInt16(NLMSG_ERROR) {
                    let status = try reply.status()
                    if status.errno != 0 { throw NetlinkError.kernel(errno: status.errno, message: status.message) }
                    return
                }
                result = try read(reply)
            }
        }
        return result!
    }

    /// Sends `message` as a dump request and calls `body` for each message until NLMSG_DONE.
    /// Each message is wiped once the datagram it came in has been read.
    public func dump(_ message: NetlinkMessageBuilder, _ body: (NetlinkMessage) throws -> Void) throws {
        message.flags |= UInt16(NLM_F_DUMP)
        let sequence = try send(message)
        var done = false
        while !done {
            try receiveEach(matching: sequence) { reply in
                guard !done else { return }
                switch Int32(reply.type) {
                case NLMSG_DONE:
                    let status = try reply.status()
                    if status.errno != 0 { throw NetlinkError.kernel(errno: status.errno, message: status.message) }
                    done = true
                case NLMSG_ERROR:
                    let status = try reply.status()
                    throw NetlinkError.kernel(errno: status.errno, message: status.message)
                case NLMSG_NOOP:
                    return
                default:
                    try body(reply)
                }
            }
        }
    }

    /// Sends many messages, each with NLM_F_ACK, packed into few datagrams, and collects the
    /// acknowledgements: one result per message, in order (nil = done). This is how bulk
    /// installs avoid one round trip per message.
    ///
    /// Each acknowledgement costs the receive buffer a whole socket buffer (about 1 KB), so a
    /// datagram carries at most `messagesPerDatagram` requests: more would overflow it
    /// (ENOBUFS) and lose acknowledgements.
    public func acknowledgedBatch(_ messages: [NetlinkMessageBuilder], datagramSize: Int = 1 << 16,
                                  messagesPerDatagram: Int = 128) throws -> [NetlinkError?] {
        var results = [NetlinkError?](repeating: nil, count: messages.count)
        var index = 0
        var datagram = [UInt8]()
        // As much as this batch needs (a CHILD_SA's few requests: about a kilobyte), at most a datagram.
        datagram.reserveCapacity(min(datagramSize, messages.reduce(0) { $0 + $1.length }))
        while index < messages.count {
            datagram.removeAll(keepingCapacity: true)
            var pending: [UInt32: Int] = [:]
            while index < messages.count {
                let message = messages[index]
                if !datagram.isEmpty, datagram.count + message.length > datagramSize
                    || pending.count >= messagesPerDatagram { break }
                message.flags |= UInt16(NLM_F_ACK)
                message.sequence = takeSequence()
                pending[message.sequence] = index
                datagram.append(contentsOf: message.bytes)
                index += 1
            }
            try datagram.withUnsafeBytes { try sendRaw($0) }
            explicit_bzero(&datagram, datagram.count)
            while !pending.isEmpty {
                try receiveEach { reply in
                    guard isFromKernel(reply), let slot = pending[reply.sequence],
                          reply.type == UInt16(NLMSG_ERROR) else {
                        droppedMessages += 1
                        return
                    }
                    pending[reply.sequence] = nil
                    let status = try reply.status()
                    if status.errno != 0 { results[slot] = .kernel(errno: status.errno, message: status.message) }
                }
            }
        }
        return results
    }

    // MARK: Sending and receiving

    private func takeSequence() -> UInt32 {
        nextSequence &+= 1
        return nextSequence
    }

    /// Stamps `message` with a fresh sequence number and this socket's port id, then sends it.
    @discardableResult
    public func send(_ message: NetlinkMessageBuilder) throws -> UInt32 {
        message.sequence = takeSequence()
        try sendRaw(message.bytes)
        return message.sequence
    }

    private func sendRaw(_ bytes: UnsafeRawBufferPointer) throws {
        let sent = mnl_socket_sendto(socket, bytes.baseAddress, bytes.count)
        guard sent == bytes.count else {
            throw NetlinkError.system(call: "mnl_socket_sendto", errno: sent < 0 ? Glibc.errno : EMSGSIZE)
        }
    }

    /// Replies carry our port id (or 0); anything else was not meant for this request.
    private func isFromKernel(_ message: NetlinkMessage) -> Bool {
        message.portID == 0 || message.portID == portID
    }

    /// Receives one datagram and calls `body` with each of its messages; afterwards every
    /// message's bytes are wiped (SA replies and dumps carry keys). `matching` keeps only the
    /// kernel's replies to that sequence number; the others are counted as dropped.
    private func receiveEach(matching sequence: UInt32? = nil, _ body: (NetlinkMessage) throws -> Void) throws {
        var messages = try receive(timeout: timeout)
        defer { for index in messages.indices { messages[index].wipePayload() } }
        for index in messages.indices {
            if let sequence, !(isFromKernel(messages[index]) && messages[index].sequence == sequence) {
                droppedMessages += 1
                continue
            }
            try body(messages[index])
        }
    }

    /// Sends `bytes` as one datagram as they are (e.g. many concatenated verdicts, with no
    /// acknowledgement asked). For data paths that build their messages in place.
    public func sendDatagram(_ bytes: UnsafeRawBufferPointer) throws {
        try sendRaw(bytes)
    }

    /// Receives one datagram into `buffer` and returns its length, without parsing it (data
    /// paths parse in place). Waits up to `timeout` (nil = forever; .zero = only what is
    /// already queued); returns nil when nothing arrived.
    public func receiveDatagram(into buffer: UnsafeMutableRawBufferPointer, timeout: Duration?) throws -> Int? {
        guard try waitReadable(timeout: timeout) else { return nil }
        let count = mnl_socket_recvfrom(socket, buffer.baseAddress, buffer.count)
        if count < 0 {
            let code = Glibc.errno
            if code == EINTR || code == EAGAIN { return nil }
            throw NetlinkError.system(call: "mnl_socket_recvfrom", errno: code)
        }
        return count
    }

    /// Waits up to `timeout` (nil = forever, .zero = not at all) until a datagram is queued.
    func waitReadable(timeout: Duration?) throws -> Bool {
        var poller = pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0)
        var milliseconds: Int32 = -1
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            milliseconds = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
        }
        var ready: Int32
        repeat { ready = poll(&poller, 1, milliseconds) } while ready < 0 && Glibc.errno == EINTR
        if ready < 0 { throw NetlinkError.system(call: "poll", errno: Glibc.errno) }
        return ready > 0
    }

    /// Sets a SOL_NETLINK option (e.g. NETLINK_NO_ENOBUFS) to an int value.
    public func setOption(_ option: Int32, _ value: Int32) throws {
        var value = value
        guard mnl_socket_setsockopt(socket, option, &value, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw NetlinkError.system(call: "setsockopt(SOL_NETLINK \(option))", errno: Glibc.errno)
        }
    }

    /// Waits up to `timeout` (nil = forever) for one datagram and returns its messages.
    /// Throws `.timeout` when nothing arrived. The receive buffer is wiped once parsed; the
    /// messages returned are the caller's, to wipe (`wipePayload()`) if they may hold keys.
    public func receive(timeout: Duration?) throws -> [NetlinkMessage] {
        var poller = pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds: Int32
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            milliseconds = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
        } else {
            milliseconds = -1
        }
        var ready: Int32
        repeat { ready = poll(&poller, 1, milliseconds) } while ready < 0 && Glibc.errno == EINTR
        if ready < 0 { throw NetlinkError.system(call: "poll", errno: Glibc.errno) }
        if ready == 0 { throw NetlinkError.timeout }
        let count = receiveBuffer.withUnsafeMutableBytes { raw in
            mnl_socket_recvfrom(socket, raw.baseAddress, raw.count)
        }
        if count < 0 { throw NetlinkError.system(call: "mnl_socket_recvfrom", errno: Glibc.errno) }
        return try receiveBuffer.withUnsafeMutableBytes { raw in
            defer { if let base = raw.baseAddress { explicit_bzero(base, count) } }
            return try NetlinkMessage.parseAll(UnsafeRawBufferPointer(rebasing: raw[0..<count]))
        }
    }
}
