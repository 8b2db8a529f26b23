import CMNL
import Glibc
import Netlink

/// What the kernel holds for one SA, read back by `getState`, `states()` and events:
/// `ip -s xfrm state` as values. Keys are kept redacted.
public struct XFRMStateInfo: Sendable, CustomStringConvertible {
    public var id: XFRMStateID
    public var reqid: UInt32
    public var mode: XFRMMode
    public var family: UInt16
    public var selector: XFRMSelector
    public var lifetime: XFRMLifetime
    public var flags: XFRMStateFlags
    public var aead: XFRMAlgorithm?
    public var encryption: XFRMAlgorithm?
    public var integrity: XFRMAlgorithm?
    /// Window, ESN, inbound sequence and bitmap, output sequence number.
    public var replay: XFRMReplayState
    public var encap: XFRMEncap?
    public var interfaceID: UInt32?
    /// Present when the device took the SA (`crypto offload parameters: dev ... dir ...`).
    public var offload: XFRMOffload?
    /// Bytes, packets, add and use time (`lifetime current`).
    public var current: XFRMCurrentLifetime
    /// Replay drops, integrity failures (`stats`).
    public var statistics: XFRMStatistics
    /// Seconds since the epoch of the last use (XFRMA_LASTUSED).
    public var lastUsed: UInt64?
    /// Async event thresholds, when the kernel reports them.
    public var eventThresholds: XFRMEventThresholds

    public var description: String {
        var parts = ["\(id)", "reqid \(reqid)", "mode \(mode)", "\(replay)"]
        for algorithm in [aead, encryption, integrity].compactMap({ $0 }) { parts.append(algorithm.description) }
        parts.append("bytes \(current.bytes) packets \(current.packets)")
        return parts.joined(separator: " ")
    }

    /// Parses an xfrm_usersa_info followed by its attributes (NEWSA/UPDSA replies and dumps).
    init(parsing message: NetlinkMessage) throws {
        let info = try message.fixedHeader(xfrm_usersa_info.self)
        let attributes = try message.attributes(after: MemoryLayout<xfrm_usersa_info>.size, policy: NetlinkAttributePolicyXFRM.xfrm)
        try self.init(info, attributes: attributes)
    }

    init(_ info: xfrm_usersa_info, attributes: NetlinkAttributes) throws {
        let family = info.family
        let mark = try attributes.load(XFRMAttributeType.mark.rawValue, as: xfrm_mark.self)
        id = XFRMStateID(source: XFRMAddress(info.saddr, family: family),
                         destination: XFRMAddress(info.id.daddr, family: family),
                         spi: UInt32(bigEndian: info.id.spi), proto: XFRMProtocol(rawValue: info.id.proto),
                         mark: mark.map { XFRMMark(value: $0.v, mask: $0.m) })
        reqid = info.reqid
        mode = XFRMMode(rawValue: info.mode)
        self.family = family
        selector = XFRMSelector(info.sel)
        lifetime = XFRMLifetime(info.lft)
        flags = XFRMStateFlags(rawValue: info.flags)
        aead = try XFRMStateInfo.algorithm(attributes, .aead)
        encryption = try XFRMStateInfo.algorithm(attributes, .encryption)
        integrity = try XFRMStateInfo.algorithm(attributes, .integrity)
        replay = try XFRMStateInfo.replay(attributes, window: UInt32(info.replay_window),
                                          esn: flags.contains(.extendedSequenceNumbers))
        if let tmpl = try attributes.load(XFRMAttributeType.encapsulation.rawValue, as: xfrm_encap_tmpl.self) {
            let original = XFRMAddress(tmpl.encap_oa, family: family)
            encap = XFRMEncap(type: tmpl.encap_type, sourcePort: UInt16(bigEndian: tmpl.encap_sport),
                              destinationPort: UInt16(bigEndian: tmpl.encap_dport),
                              originalAddress: original.bytes.allSatisfy { $0 == 0 } ? nil : original)
        }
        interfaceID = try attributes.u32(XFRMAttributeType.interfaceID.rawValue)
        if let value = try attributes.load(XFRMAttributeType.offloadDevice.rawValue, as: xfrm_user_offload.self) {
            offload = XFRMOffload(interfaceIndex: value.ifindex, inbound: value.flags & 2 != 0, packet: value.flags & 4 != 0)
        }
        var current = XFRMCurrentLifetime(info.curlft)
        if let live = try attributes.load(XFRMAttributeType.lifetimeValue.rawValue, as: xfrm_lifetime_cur.self) {
            current = XFRMCurrentLifetime(live)
        }
        self.current = current
        statistics = XFRMStatistics(replayWindow: info.stats.replay_window, replay: info.stats.replay,
                                    integrityFailed: info.stats.integrity_failed)
        lastUsed = try attributes.u64(XFRMAttributeType.lastUsed.rawValue)
        eventThresholds = XFRMEventThresholds(
            replayPackets: try attributes.u32(XFRMAttributeType.replayThreshold.rawValue),
            timer: try attributes.u32(XFRMAttributeType.expiryTimerThreshold.rawValue))
    }

    /// Reads the algorithm of `kind`; a key length past the attribute is malformed.
    static func algorithm(_ attributes: NetlinkAttributes, _ kind: XFRMAlgorithm.Kind) throws -> XFRMAlgorithm? {
        let type: XFRMAttributeType
        let header: Int
        switch kind {
        case .aead: type = .aead; header = MemoryLayout<xfrm_algo_aead>.size
        case .encryption: type = .encryption; header = MemoryLayout<xfrm_algo>.size
        case .integrity: type = .authenticationTruncated; header = MemoryLayout<xfrm_algo_auth>.size
        }
        // Read in place, never copied whole: the attribute holds the key (the message's bytes
        // are wiped by the socket once read; the key's one copy here is wiped below).
        guard let bytes = attributes[type.rawValue] else { return nil }
        return try bytes.withUnsafeBytes { raw -> XFRMAlgorithm in
            guard raw.count >= header else {
                throw NetlinkError.malformed("\(type) attribute of \(raw.count) bytes, its header needs \(header)")
            }
            let name = String(decoding: raw.prefix(64).prefix { $0 != 0 }, as: UTF8.self)
            let keyBits = raw.loadUnaligned(fromByteOffset: 64, as: UInt32.self)
            let bits = kind == .encryption ? 0 : raw.loadUnaligned(fromByteOffset: 68, as: UInt32.self)
            let keyLength = (Int(keyBits) + 7) / 8
            guard raw.count - header >= keyLength else {
                throw NetlinkError.malformed("\(name) key of \(keyBits) bits in \(raw.count - header) bytes")
            }
            var key = Array(raw[header..<(header + keyLength)])
            defer { key.withUnsafeMutableBytes { if let base = $0.baseAddress { explicit_bzero(base, $0.count) } } }
            return XFRMAlgorithm(kind: kind, name: name, key: XFRMKey(key), bits: bits)
        }
    }

    /// Reads XFRMA_REPLAY_ESN_VAL, else XFRMA_REPLAY_VAL, else just the header's window.
    static func replay(_ attributes: NetlinkAttributes, window: UInt32, esn: Bool) throws -> XFRMReplayState {
        if let bytes = attributes[XFRMAttributeType.replayESNValue.rawValue] {
            let raw = Array(bytes)
            let fields = (0..<6).map { index in
                raw.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self) }
            }
            let words = min(Int(fields[0]), (raw.count - 24) / 4)
            let bitmap = (0..<words).map { index in
                raw.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 24 + index * 4, as: UInt32.self) }
            }
            return XFRMReplayState(window: fields[5], extendedSequenceNumbers: esn,
                                   sequence: UInt64(fields[4]) << 32 | UInt64(fields[2]),
                                   outputSequence: UInt64(fields[3]) << 32 | UInt64(fields[1]),
                                   bitmap: bitmap)
        }
        if let value = try attributes.load(XFRMAttributeType.replayValue.rawValue, as: xfrm_replay_state.self) {
            return XFRMReplayState(window: window, extendedSequenceNumbers: esn, sequence: UInt64(value.seq),
                                   outputSequence: UInt64(value.oseq), bitmap: [value.bitmap])
        }
        return XFRMReplayState(window: window, extendedSequenceNumbers: esn)
    }
}

/// Current use of an SA (struct xfrm_lifetime_cur): `lifetime current: B(bytes), P(packets)
/// add T use T`.
public struct XFRMCurrentLifetime: Hashable, Sendable {
    public var bytes: UInt64
    public var packets: UInt64
    /// Seconds since the epoch when the SA was added / first used (0 = never).
    public var addTime: UInt64
    public var useTime: UInt64

    public init(bytes: UInt64 = 0, packets: UInt64 = 0, addTime: UInt64 = 0, useTime: UInt64 = 0) {
        self.bytes = bytes
        self.packets = packets
        self.addTime = addTime
        self.useTime = useTime
    }

    init(_ value: xfrm_lifetime_cur) {
        self.init(bytes: value.bytes, packets: value.packets, addTime: value.add_time, useTime: value.use_time)
    }
}

/// SA statistics (struct xfrm_stats): `stats: replay-window W replay R failed F`.
public struct XFRMStatistics: Hashable, Sendable {
    /// Packets dropped for being outside the replay window.
    public var replayWindow: UInt32
    /// Packets dropped as replays.
    public var replay: UInt32
    /// Packets that failed integrity (ICV) checks.
    public var integrityFailed: UInt32

    public init(replayWindow: UInt32 = 0, replay: UInt32 = 0, integrityFailed: UInt32 = 0) {
        self.replayWindow = replayWindow
        self.replay = replay
        self.integrityFailed = integrityFailed
    }
}
