import CMNL
import Glibc
import Netlink

/// The kernel boundary: SAs, policies, counters and replay state in the Linux kernel's XFRM,
/// over one netlink socket. Each method names its `ip xfrm` equivalent, so results can be
/// checked with `ip -s xfrm state` / `ip xfrm policy`.
///
/// Requests are validated before they are sent; kernel refusals come back as
/// `XFRMError.netlink(.kernel(errno:message:))` with the kernel's own text.
/// Not thread-safe: use one `XFRMKernel` per task (a socket each).
public final class XFRMKernel {
    private let socket: NetlinkSocket
    /// Whether requests are validated before sending (on by default; off only to see what
    /// the kernel itself says about bad input).
    public var validatesRequests = true

    /// Opens a NETLINK_XFRM socket in the caller's network namespace or, given
    /// `networkNamespace`, in that named one: `ip -n NAME xfrm ...`.
    public init(timeout: Duration = .seconds(5), networkNamespace: String? = nil) throws {
        do {
            socket = try NetlinkSocket(family: NETLINK_XFRM, timeout: timeout, networkNamespace: networkNamespace)
        } catch let error as NetlinkError {
            throw XFRMError.netlink(error)
        }
    }

    /// Netlink messages dropped for wrong sequence or port id.
    public var droppedMessages: Int { socket.droppedMessages }

    private func perform<R>(_ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as NetlinkError {
            throw XFRMError.netlink(error)
        }
    }

    // MARK: SAs

    /// `ip xfrm state allocspi src S dst D proto esp reqid R mode M min A max B`:
    /// reserves an SPI in a larval SA; complete it with `updateState`. Returns the SPI.
    public func allocateSPI(_ request: XFRMAllocateSPI) throws -> UInt32 {
        guard request.source.family == request.destination.family else {
            throw XFRMError.invalidArgument("source and destination are different families")
        }
        guard request.range.lowerBound > 0 else { throw XFRMError.invalidArgument("SPI range must start above 0") }
        return try perform {
            try socket.request(try XFRMStateMessages.allocateSPI(request)) { reply in
                guard reply.type == XFRMMessageType.newSA.rawValue else {
                    throw XFRMError.unexpectedReply("ALLOCSPI answered with \(XFRMMessageType(rawValue: reply.type))")
                }
                return try XFRMStateInfo(parsing: reply).id.spi
            }
        }
    }

    /// What became of an offload request.
    public enum OffloadOutcome: Equatable, Sendable {
        /// No offload was asked for.
        case notRequested
        /// The device holds the SA.
        case offloaded
        /// The SA runs in software; the reason says why.
        case software(reason: String)
    }

    /// `ip xfrm state add ...`: installs a new SA. With `offload`, a device that refuses gets
    /// the SA installed in software instead, and the outcome says so.
    @discardableResult
    public func addState(_ state: XFRMAddState) throws -> OffloadOutcome {
        try install(state, update: false)
    }

    /// `ip xfrm state update ...`: replaces an SA (e.g. completes a larval one from `allocateSPI`).
    @discardableResult
    public func updateState(_ state: XFRMAddState) throws -> OffloadOutcome {
        try install(state, update: true)
    }

    private func install(_ state: XFRMAddState, update: Bool) throws -> OffloadOutcome {
        if validatesRequests { try state.validate() }
        guard state.offload != nil else {
            try perform { try socket.acknowledged(try XFRMStateMessages.add(state, update: update)) }
            return .notRequested
        }
        do {
            try perform { try socket.acknowledged(try XFRMStateMessages.add(state, update: update)) }
        } catch let error as XFRMError {
            guard let code = error.errno, [EOPNOTSUPP, EINVAL, ENODEV, ENXIO, EPROTONOSUPPORT].contains(code) else {
                throw error
            }
            try perform { try socket.acknowledged(try XFRMStateMessages.add(state, update: update, offload: false)) }
            return .software(reason: "device refused offload: \(error)")
        }
        // The kernel may accept the request and still keep the SA in software
        // (a device without ESP offload); the read-back tells.
        let installed = try getState(state.id)
        return installed.offload != nil ? .offloaded : .software(reason: "the device has no ESP offload")
    }

    /// Installs many SAs with few system calls (pipelined; no offload fallback).
    /// Returns one result per SA, in order: nil = installed.
    public func addStates(_ states: [XFRMAddState]) throws -> [XFRMError?] {
        try acknowledgedBatch(states, validate: { try $0.validate() }) {
            try XFRMStateMessages.add($0, update: false)
        }
    }

    /// `ip xfrm policy update ...` for each of `policies`, in one datagram (one system call
    /// for the requests, their acknowledgements read together). One result per policy, in
    /// order: nil = done. The kernel handles each on its own (no transaction).
    public func updatePolicies(_ policies: [XFRMPolicy]) throws -> [XFRMError?] {
        try acknowledgedBatch(policies, validate: { try $0.validate() }) {
            try XFRMPolicyMessages.add($0, update: true)
        }
    }

    /// Validates and builds one request per item, sends them together and reads their
    /// acknowledgements. One result per item, in order: nil = done; an item that fails
    /// validation or building gets its error and is not sent.
    private func acknowledgedBatch<Item>(
        _ items: [Item],
        validate: (Item) throws -> Void,
        build: (Item) throws -> NetlinkMessageBuilder
    ) throws -> [XFRMError?] {
        var results = [XFRMError?](repeating: nil, count: items.count)
        var messages: [NetlinkMessageBuilder] = []
        var slots: [Int] = []
        messages.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            do {
                if validatesRequests { try validate(item) }
                messages.append(try build(item))
                slots.append(index)
            } catch let error as XFRMError {
                results[index] = error
            } catch let error as NetlinkError {
                results[index] = .netlink(error)
            }
        }
        let answers = try perform { try socket.acknowledgedBatch(messages) }
        for (slot, answer) in zip(slots, answers) { results[slot] = answer.map(XFRMError.netlink) }
        return results
    }

    /// Deletes many SAs with few system calls; nil = deleted.
    public func deleteStates(_ ids: [XFRMStateID]) throws -> [XFRMError?] {
        let messages = try perform { try ids.map { try XFRMStateMessages.byID($0, type: .deleteSA) } }
        return try perform { try socket.acknowledgedBatch(messages) }.map { $0.map(XFRMError.netlink) }
    }

    /// `ip -s xfrm state get src S dst D proto esp spi SPI`: one SA with its counters.
    public func getState(_ id: XFRMStateID) throws -> XFRMStateInfo {
        try perform {
            try socket.request(try XFRMStateMessages.byID(id, type: .getSA)) { try XFRMStateInfo(parsing: $0) }
        }
    }

    /// `ip xfrm state delete src S dst D proto esp spi SPI`.
    public func deleteState(_ id: XFRMStateID) throws {
        try perform { try socket.acknowledged(try XFRMStateMessages.byID(id, type: .deleteSA)) }
    }

    /// `ip -s xfrm state`: calls `body` for each SA, without collecting them.
    public func forEachState(_ body: (XFRMStateInfo) throws -> Void) throws {
        try perform {
            try socket.dump(XFRMStateMessages.dump()) { message in
                guard message.type == XFRMMessageType.newSA.rawValue else { return }
                try body(try XFRMStateInfo(parsing: message))
            }
        }
    }

    /// `ip -s xfrm state`: every SA.
    public func states() throws -> [XFRMStateInfo] {
        var all: [XFRMStateInfo] = []
        try forEachState { all.append($0) }
        return all
    }

    /// `ip xfrm state flush [proto P]`.
    public func flushStates(proto: XFRMProtocol = .any) throws {
        try perform { try socket.acknowledged(try XFRMStateMessages.flush(proto)) }
    }

    // MARK: Replay state and async events

    /// XFRM_MSG_GETAE: the SA's replay state, current lifetime and event thresholds.
    public func asyncEventState(_ id: XFRMStateID) throws -> XFRMAsyncEvent {
        try perform {
            try socket.request(try XFRMAsyncEventMessages.get(id)) { try XFRMAsyncEvent(parsing: $0) }
        }
    }

    /// XFRM_MSG_NEWAE: sets the SA's output sequence number (the next packet gets `value + 1`),
    /// keeping its inbound state. `ip -s xfrm state` then shows `oseq`.
    public func setOutputSequence(_ id: XFRMStateID, to value: UInt64) throws {
        let current = try asyncEventState(id)
        var replay = current.replay
        guard current.usesESNFormat || value <= UInt32.max else {
            throw XFRMError.invalidArgument("output sequence \(value) needs an ESN SA")
        }
        replay.outputSequence = value
        try setReplayState(id, replay: replay, usesESNFormat: current.usesESNFormat)
    }

    /// XFRM_MSG_NEWAE with a whole replay state, in the format the SA uses
    /// (`asyncEventState(id).usesESNFormat`).
    public func setReplayState(_ id: XFRMStateID, replay: XFRMReplayState, usesESNFormat: Bool) throws {
        try perform {
            try socket.acknowledged(try XFRMAsyncEventMessages.update(
                id, replay: replay, esnFormat: usesESNFormat, thresholds: XFRMEventThresholds()))
        }
    }

    /// XFRM_MSG_NEWAE: sets the replay-packet and timer thresholds for async events.
    public func setEventThresholds(_ id: XFRMStateID, _ thresholds: XFRMEventThresholds) throws {
        try perform {
            try socket.acknowledged(try XFRMAsyncEventMessages.update(
                id, replay: nil, esnFormat: false, thresholds: thresholds))
        }
    }

    // MARK: Policies

    /// `ip xfrm policy add SELECTOR dir DIR [priority P] [tmpl ...]`.
    public func addPolicy(_ policy: XFRMPolicy) throws {
        if validatesRequests { try policy.validate() }
        try perform { try socket.acknowledged(try XFRMPolicyMessages.add(policy, update: false)) }
    }

    /// `ip xfrm policy update ...`.
    public func updatePolicy(_ policy: XFRMPolicy) throws {
        if validatesRequests { try policy.validate() }
        try perform { try socket.acknowledged(try XFRMPolicyMessages.add(policy, update: true)) }
    }

    /// `ip xfrm policy get SELECTOR dir DIR`.
    public func getPolicy(_ id: XFRMPolicyID) throws -> XFRMPolicy {
        try perform {
            try socket.request(try XFRMPolicyMessages.byID(id, type: .getPolicy)) { try XFRMPolicy(parsing: $0) }
        }
    }

    /// `ip xfrm policy delete SELECTOR dir DIR`.
    public func deletePolicy(_ id: XFRMPolicyID) throws {
        try perform { try socket.acknowledged(try XFRMPolicyMessages.byID(id, type: .deletePolicy)) }
    }

    /// `ip xfrm policy`: every policy (socket policies excluded).
    public func policies() throws -> [XFRMPolicy] {
        var all: [XFRMPolicy] = []
        try perform {
            try socket.dump(XFRMPolicyMessages.dump()) { message in
                guard message.type == XFRMMessageType.newPolicy.rawValue else { return }
                all.append(try XFRMPolicy(parsing: message))
            }
        }
        return all
    }

    /// `ip xfrm policy flush`.
    public func flushPolicies() throws {
        try perform { try socket.acknowledged(XFRMPolicyMessages.flush()) }
    }
}

/// Receives XFRM multicast events (`ip xfrm monitor`): expire, acquire, async events and
/// SA/policy notifications. Malformed events are dropped and counted, never thrown.
public final class XFRMEventMonitor {
    private let socket: NetlinkSocket
    /// Events that failed to decode and were dropped.
    public private(set) var malformedEvents = 0

    /// Subscribes to `groups` (default: expire, acquire, async events).
    public init(groups: [XFRMGroup] = [.expire, .acquire, .asyncEvents]) throws {
        do {
            socket = try NetlinkSocket(family: NETLINK_XFRM)
            for group in groups { try socket.join(group: group.rawValue) }
        } catch let error as NetlinkError {
            throw XFRMError.netlink(error)
        }
    }

    /// The socket's descriptor, to poll from an event loop.
    public var fileDescriptor: Int32 { socket.fileDescriptor }

    /// Waits up to `timeout` (nil = forever) for events; an empty array on timeout.
    public func next(timeout: Duration?) throws -> [XFRMEvent] {
        var messages: [NetlinkMessage]
        do {
            messages = try socket.receive(timeout: timeout)
        } catch NetlinkError.timeout {
            return []
        } catch let error as NetlinkError {
            throw XFRMError.netlink(error)
        }
        // SA notifications (XFRMNLGRP_SA) carry keys: nothing of a message outlives its parse.
        defer { for index in messages.indices { messages[index].wipePayload() } }
        var events: [XFRMEvent] = []
        for message in messages {
            do {
                events.append(try XFRMEvent(parsing: message))
            } catch {
                malformedEvents += 1
            }
        }
        return events
    }
}
