import CMNL
import Netlink

/// An event from the kernel's XFRM multicast groups (`ip xfrm monitor`).
public enum XFRMEvent: Sendable {
    /// XFRM_MSG_EXPIRE: an SA reached a soft (rekey now) or hard (deleted) limit.
    case expire(XFRMStateInfo, hard: Bool)
    /// XFRM_MSG_ACQUIRE: traffic matched a policy without an SA; the IKE daemon negotiates one.
    case acquire(XFRMAcquire)
    /// XFRM_MSG_NEWAE: replay/lifetime state, sent at the thresholds or after an update.
    case asyncEvent(XFRMAsyncEvent)
    /// XFRM_MSG_NEWSA / UPDSA notifications.
    case stateAdded(XFRMStateInfo)
    case stateUpdated(XFRMStateInfo)
    /// XFRM_MSG_DELSA notification.
    case stateDeleted(XFRMStateID)
    /// XFRM_MSG_NEWPOLICY / UPDPOLICY / DELPOLICY / POLEXPIRE.
    case policyAdded(XFRMPolicy)
    case policyDeleted(XFRMPolicyDirection)
    case policyExpire(XFRMPolicy, hard: Bool)
    /// XFRM_MSG_FLUSHSA / FLUSHPOLICY.
    case statesFlushed
    case policiesFlushed
    /// Any other message, decoded no further.
    case other(XFRMMessageType)

    /// Decodes one multicast message; malformed ones throw (the monitor drops and counts them).
    public init(parsing message: NetlinkMessage) throws {
        let type = XFRMMessageType(rawValue: message.type)
        let policy = NetlinkAttributePolicyXFRM.xfrm
        switch type {
        case .expire:
            let expire = try message.fixedHeader(xfrm_user_expire.self)
            let attributes = try message.attributes(after: MemoryLayout<xfrm_user_expire>.size, policy: policy)
            self = .expire(try XFRMStateInfo(expire.state, attributes: attributes), hard: expire.hard != 0)
        case .acquire:
            self = .acquire(try XFRMAcquire(parsing: message))
        case .newAsyncEvent:
            self = .asyncEvent(try XFRMAsyncEvent(parsing: message))
        case .newSA:
            self = .stateAdded(try XFRMStateInfo(parsing: message))
        case .updateSA:
            self = .stateUpdated(try XFRMStateInfo(parsing: message))
        case .deleteSA:
            let id = try message.fixedHeader(xfrm_usersa_id.self)
            self = .stateDeleted(XFRMStateID(destination: XFRMAddress(id.daddr, family: id.family),
                                             spi: UInt32(bigEndian: id.spi), proto: XFRMProtocol(rawValue: id.proto)))
        case .newPolicy, .updatePolicy:
            self = .policyAdded(try XFRMPolicy(parsing: message))
        case .deletePolicy:
            let id = try message.fixedHeader(xfrm_userpolicy_id.self)
            self = .policyDeleted(XFRMPolicyDirection(rawValue: id.dir))
        case .policyExpire:
            let expire = try message.fixedHeader(xfrm_user_polexpire.self)
            let attributes = try message.attributes(after: MemoryLayout<xfrm_user_polexpire>.size, policy: policy)
            self = .policyExpire(try XFRMPolicy(expire.pol, attributes: attributes), hard: expire.hard != 0)
        case .flushSA:
            self = .statesFlushed
        case .flushPolicy:
            self = .policiesFlushed
        default:
            self = .other(type)
        }
    }
}

/// XFRM_MSG_ACQUIRE (struct xfrm_user_acquire + XFRMA_TMPL): what the kernel wants an SA for.
public struct XFRMAcquire: Sendable {
    public var destination: XFRMAddress
    public var source: XFRMAddress
    public var proto: XFRMProtocol
    public var selector: XFRMSelector
    public var policy: XFRMPolicy
    /// The kernel's sequence number for this acquire; echo it in the larval SA.
    public var sequence: UInt32

    init(parsing message: NetlinkMessage) throws {
        let acquire = try message.fixedHeader(xfrm_user_acquire.self)
        let attributes = try message.attributes(after: MemoryLayout<xfrm_user_acquire>.size,
                                                policy: NetlinkAttributePolicyXFRM.xfrm)
        let family = acquire.policy.sel.family
        destination = XFRMAddress(acquire.id.daddr, family: family)
        source = XFRMAddress(acquire.saddr, family: family)
        proto = XFRMProtocol(rawValue: acquire.id.proto)
        selector = XFRMSelector(acquire.sel)
        policy = try XFRMPolicy(acquire.policy, attributes: attributes)
        sequence = acquire.seq
    }
}

/// XFRM_MSG_NEWAE / GETAE (struct xfrm_aevent_id + attributes): an SA's replay state,
/// current lifetime and event thresholds.
public struct XFRMAsyncEvent: Sendable {
    public var id: XFRMStateID
    public var reqid: UInt32
    /// XFRM_AE_* flags; the cause: 16 replay update (CR), 32 timer (CE), 64 user update (CU).
    public var flags: UInt32
    /// Sequence numbers and bitmap; `extendedSequenceNumbers` is not in the message.
    public var replay: XFRMReplayState
    /// Whether the kernel keeps this SA's replay state as xfrm_replay_state_esn.
    public var usesESNFormat: Bool
    public var current: XFRMCurrentLifetime?
    public var thresholds: XFRMEventThresholds

    /// XFRM_AE_CR: the replay threshold was crossed.
    public var causedByReplay: Bool { flags & 16 != 0 }
    /// XFRM_AE_CE: the timer threshold fired.
    public var causedByTimer: Bool { flags & 32 != 0 }
    /// XFRM_AE_CU: someone updated the state with NEWAE.
    public var causedByUpdate: Bool { flags & 64 != 0 }

    init(parsing message: NetlinkMessage) throws {
        let event = try message.fixedHeader(xfrm_aevent_id.self)
        let attributes = try message.attributes(after: MemoryLayout<xfrm_aevent_id>.size,
                                                policy: NetlinkAttributePolicyXFRM.xfrm)
        let family = event.sa_id.family
        let mark = try attributes.load(XFRMAttributeType.mark.rawValue, as: xfrm_mark.self)
        id = XFRMStateID(source: XFRMAddress(event.saddr, family: family),
                         destination: XFRMAddress(event.sa_id.daddr, family: family),
                         spi: UInt32(bigEndian: event.sa_id.spi), proto: XFRMProtocol(rawValue: event.sa_id.proto),
                         mark: mark.map { XFRMMark(value: $0.v, mask: $0.m) })
        reqid = event.reqid
        flags = event.flags
        replay = try XFRMStateInfo.replay(attributes, window: 0, esn: false)
        usesESNFormat = attributes.contains(XFRMAttributeType.replayESNValue.rawValue)
        current = try attributes.load(XFRMAttributeType.lifetimeValue.rawValue, as: xfrm_lifetime_cur.self)
            .map(XFRMCurrentLifetime.init)
        thresholds = XFRMEventThresholds(
            replayPackets: try attributes.u32(XFRMAttributeType.replayThreshold.rawValue),
            timer: try attributes.u32(XFRMAttributeType.expiryTimerThreshold.rawValue))
    }
}

/// Builds XFRM_MSG_GETAE / XFRM_MSG_NEWAE.
enum XFRMAsyncEventMessages {
    static let replayValue: UInt32 = 2      // XFRM_AE_RVAL
    static let lifetimeValue: UInt32 = 4    // XFRM_AE_LVAL
    static let replayThreshold: UInt32 = 1  // XFRM_AE_RTHR
    static let timerThreshold: UInt32 = 8   // XFRM_AE_ETHR

    static func header(_ id: XFRMStateID, type: XFRMMessageType, flags: UInt32, nlFlags: UInt16) throws -> NetlinkMessageBuilder {
        let message = NetlinkMessageBuilder(type: type.rawValue, flags: nlFlags, capacity: 1024)
        try message.appendHeader(xfrm_aevent_id.self) { value in
            id.destination.write(to: &value.sa_id.daddr)
            value.sa_id.spi = id.spi.bigEndian
            value.sa_id.family = id.destination.family
            value.sa_id.proto = id.proto.rawValue
            id.source?.write(to: &value.saddr)
            value.flags = flags
        }
        if let mark = id.mark { try XFRMStateMessages.appendMark(mark, to: message) }
        return message
    }

    static func get(_ id: XFRMStateID) throws -> NetlinkMessageBuilder {
        try header(id, type: .getAsyncEvent, flags: replayValue | lifetimeValue | replayThreshold | timerThreshold, nlFlags: 0)
    }

    /// NEWAE with NLM_F_REPLACE (the kernel requires it), the replay state in the SA's own
    /// format (`esnFormat` as the kernel reported it) and optional thresholds.
    static func update(_ id: XFRMStateID, replay: XFRMReplayState?, esnFormat: Bool,
                       thresholds: XFRMEventThresholds) throws -> NetlinkMessageBuilder {
        var flags: UInt32 = 0
        if replay != nil { flags |= replayValue }
        if thresholds.replayPackets != nil { flags |= replayThreshold }
        if thresholds.timer != nil { flags |= timerThreshold }
        let message = try header(id, type: .newAsyncEvent, flags: flags, nlFlags: UInt16(NLM_F_REPLACE))
        if let replay {
            if esnFormat {
                try XFRMStateMessages.appendReplay(replay, to: message, forceESNFormat: true)
            } else {
                var plain = replay
                plain.window = 0
                plain.extendedSequenceNumbers = false
                try message.appendAttribute(type: XFRMAttributeType.replayValue.rawValue, xfrm_replay_state.self) { value in
                    value.oseq = UInt32(truncatingIfNeeded: plain.outputSequence)
                    value.seq = UInt32(truncatingIfNeeded: plain.sequence)
                    value.bitmap = plain.bitmap.first ?? 0
                }
            }
        }
        try XFRMStateMessages.appendThresholds(thresholds, to: message)
        return message
    }
}

extension XFRMReplayState {
    /// The inbound window as sequence numbers relative to the top: `top` = the highest
    /// number received (after the ICV check), bit i of `bitmap` (word i / 64, bit i % 64) =
    /// number top - i was received. The kernel keeps two layouts:
    /// - `ringFormat` false (XFRMA_REPLAY_VAL, windows up to 32 without ESN): a 32-bit
    ///   bitmap whose bit i already is top - i;
    /// - `ringFormat` true (XFRMA_REPLAY_ESN_VAL, `xfrm_replay_advance_bmp` / `_esn`): a ring
    ///   of `window` bits where number s sits at bit ((s mod 2^32) - 1) mod window.
    /// Bits for numbers before 1 are never set.
    public func authenticatedWindow(ringFormat: Bool) -> (top: UInt64, bitmap: [UInt64]) {
        let top = sequence
        guard top > 0 else { return (0, []) }
        if !ringFormat {
            let word = UInt64(bitmap.first ?? 0)
            // Bits above the top's distance to 1 would name numbers before 1.
            let valid: UInt64 = top >= 64 ? .max : (1 << top) &- 1
            return (top, [word & valid])
        }
        let size = Int(window)
        guard size > 0, bitmap.count * 32 >= size else { return (top, [1]) }
        let span = Int(min(UInt64(size), top))
        var result = [UInt64](repeating: 0, count: (span + 63) / 64)
        for i in 0..<span {
            let number = top - UInt64(i)
            let index = Int((UInt32(truncatingIfNeeded: number) &- 1) % UInt32(size))
            if bitmap[index >> 5] & (1 << UInt32(index & 31)) != 0 {
                result[i >> 6] |= 1 << UInt64(i & 63)
            }
        }
        return (top, result)
    }
}

extension XFRMAsyncEvent {
    /// The replay state as `authenticatedWindow(ringFormat:)` reads it, in the SA's own layout.
    public var authenticatedWindow: (top: UInt64, bitmap: [UInt64]) {
        replay.authenticatedWindow(ringFormat: usesESNFormat)
    }
}
