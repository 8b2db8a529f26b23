import CMNL
import Glibc
import Netlink

/// Builds the XFRM state messages. Each mirrors what iproute2 sends for the same object
/// (checked against its bytes in XFRMTests).
enum XFRMStateMessages {
    static let capacity = 2048

    /// XFRM_MSG_NEWSA / XFRM_MSG_UPDSA from a validated request.
    static func add(_ state: XFRMAddState, update: Bool, offload: Bool = true) throws -> NetlinkMessageBuilder {
        let type: XFRMMessageType = update ? .updateSA : .newSA
        let message = NetlinkMessageBuilder(type: type.rawValue, flags: 0, capacity: capacity)
        let replay = state.replay
        try message.appendHeader(xfrm_usersa_info.self) { info in
            state.selector.write(to: &info.sel)
            state.id.destination.write(to: &info.id.daddr)
            info.id.spi = state.id.spi.bigEndian
            info.id.proto = state.id.proto.rawValue
            state.id.source?.write(to: &info.saddr)
            state.lifetime.write(to: &info.lft)
            info.reqid = state.reqid
            info.family = state.id.destination.family
            info.mode = state.mode.rawValue
            var flags = state.flags
            if replay.extendedSequenceNumbers { flags.insert(.extendedSequenceNumbers) }
            info.flags = flags.rawValue
            if !replay.needsESNFormat { info.replay_window = UInt8(replay.window) }
        }
        if let aead = state.aead { try appendAlgorithm(aead, to: message) }
        if let encryption = state.encryption { try appendAlgorithm(encryption, to: message) }
        if let integrity = state.integrity { try appendAlgorithm(integrity, to: message) }
        if let encap = state.encap {
            try message.appendAttribute(type: XFRMAttributeType.encapsulation.rawValue, xfrm_encap_tmpl.self) { tmpl in
                tmpl.encap_type = encap.type
                tmpl.encap_sport = encap.sourcePort.bigEndian
                tmpl.encap_dport = encap.destinationPort.bigEndian
                encap.originalAddress?.write(to: &tmpl.encap_oa)
            }
        }
        if let mark = state.id.mark { try appendMark(mark, to: message) }
        if let interfaceID = state.interfaceID {
            try message.appendAttribute(type: XFRMAttributeType.interfaceID.rawValue, u32: interfaceID)
        }
        try appendReplay(replay, to: message, forceESNFormat: false)
        if offload, let request = state.offload {
            try message.appendAttribute(type: XFRMAttributeType.offloadDevice.rawValue, xfrm_user_offload.self) { value in
                value.ifindex = request.interfaceIndex
                value.flags = request.flags
            }
        }
        try appendThresholds(state.eventThresholds, to: message)
        return message
    }

    static func appendAlgorithm(_ algorithm: XFRMAlgorithm, to message: NetlinkMessageBuilder) throws {
        let nameLength = 64
        try algorithm.key.withBytes { key in
            let type: XFRMAttributeType
            let header: Int
            switch algorithm.kind {
            case .aead: type = .aead; header = MemoryLayout<xfrm_algo_aead>.size
            case .encryption: type = .encryption; header = MemoryLayout<xfrm_algo>.size
            case .integrity: type = .authenticationTruncated; header = MemoryLayout<xfrm_algo_auth>.size
            }
            try message.appendAttribute(type: type.rawValue, length: header + key.count) { raw in
                let name = Array(algorithm.name.utf8.prefix(nameLength - 1))
                raw.copyBytes(from: name)
                raw.storeBytes(of: UInt32(key.count * 8), toByteOffset: nameLength, as: UInt32.self)
                if algorithm.kind != .encryption {
                    raw.storeBytes(of: algorithm.bits, toByteOffset: nameLength + 4, as: UInt32.self)
                }
                UnsafeMutableRawBufferPointer(rebasing: raw[header...]).copyBytes(from: key)
            }
        }
    }

    static func appendMark(_ mark: XFRMMark, to message: NetlinkMessageBuilder) throws {
        try message.appendAttribute(type: XFRMAttributeType.mark.rawValue, xfrm_mark.self) { value in
            value.v = mark.value
            value.m = mark.mask
        }
    }

    /// XFRMA_REPLAY_ESN_VAL when the state needs it (or `forceESNFormat`), else XFRMA_REPLAY_VAL
    /// when any sequence or bitmap is set, else nothing (the window rides in the header).
    static func appendReplay(_ replay: XFRMReplayState, to message: NetlinkMessageBuilder,
                             forceESNFormat: Bool) throws {
        if replay.needsESNFormat || forceESNFormat {
            // The kernel insists the bitmap length it has is the one it gets back (NEWAE),
            // so a bitmap read from the kernel keeps its own word count.
            let bitmapLength = max(replay.bitmapLength, UInt32(replay.bitmap.count))
            let words = replay.bitmap.isEmpty ? 0 : Int(bitmapLength)
            let length = MemoryLayout<xfrm_replay_state_esn>.size + words * 4
            try message.appendAttribute(type: XFRMAttributeType.replayESNValue.rawValue, length: length) { raw in
                let fields: [UInt32] = [
                    bitmapLength,
                    UInt32(truncatingIfNeeded: replay.outputSequence),
                    UInt32(truncatingIfNeeded: replay.sequence),
                    UInt32(truncatingIfNeeded: replay.outputSequence >> 32),
                    UInt32(truncatingIfNeeded: replay.sequence >> 32),
                    replay.window,
                ]
                for (index, value) in fields.enumerated() {
                    raw.storeBytes(of: value, toByteOffset: index * 4, as: UInt32.self)
                }
                for (index, word) in replay.bitmap.prefix(words).enumerated() {
                    raw.storeBytes(of: word, toByteOffset: 24 + index * 4, as: UInt32.self)
                }
            }
        } else if replay.sequence != 0 || replay.outputSequence != 0 || !replay.bitmap.isEmpty || forceESNFormat {
            try message.appendAttribute(type: XFRMAttributeType.replayValue.rawValue, xfrm_replay_state.self) { value in
                value.oseq = UInt32(truncatingIfNeeded: replay.outputSequence)
                value.seq = UInt32(truncatingIfNeeded: replay.sequence)
                value.bitmap = replay.bitmap.first ?? 0
            }
        }
    }

    static func appendThresholds(_ thresholds: XFRMEventThresholds, to message: NetlinkMessageBuilder) throws {
        if let packets = thresholds.replayPackets {
            try message.appendAttribute(type: XFRMAttributeType.replayThreshold.rawValue, u32: packets)
        }
        if let timer = thresholds.timer {
            try message.appendAttribute(type: XFRMAttributeType.expiryTimerThreshold.rawValue, u32: timer)
        }
    }

    /// xfrm_usersa_id + XFRMA_SRCADDR + XFRMA_MARK, for GETSA and DELSA.
    static func byID(_ id: XFRMStateID, type: XFRMMessageType) throws -> NetlinkMessageBuilder {
        let message = NetlinkMessageBuilder(type: type.rawValue, flags: 0, capacity: 256)
        try message.appendHeader(xfrm_usersa_id.self) { value in
            id.destination.write(to: &value.daddr)
            value.spi = id.spi.bigEndian
            value.family = id.destination.family
            value.proto = id.proto.rawValue
        }
        if let source = id.source {
            try message.appendAttribute(type: XFRMAttributeType.sourceAddress.rawValue, xfrm_address_t.self) { value in
                source.write(to: &value)
            }
        }
        if let mark = id.mark { try appendMark(mark, to: message) }
        return message
    }

    /// XFRM_MSG_ALLOCSPI: xfrm_userspi_info.
    static func allocateSPI(_ request: XFRMAllocateSPI) throws -> NetlinkMessageBuilder {
        let message = NetlinkMessageBuilder(type: XFRMMessageType.allocateSPI.rawValue, flags: 0, capacity: 512)
        try message.appendHeader(xfrm_userspi_info.self) { value in
            request.destination.write(to: &value.info.id.daddr)
            value.info.id.proto = request.proto.rawValue
            request.source.write(to: &value.info.saddr)
            value.info.family = request.destination.family
            value.info.reqid = request.reqid
            value.info.mode = request.mode.rawValue
            value.min = request.range.lowerBound
            value.max = request.range.upperBound
        }
        if let mark = request.mark { try appendMark(mark, to: message) }
        return message
    }

    /// XFRM_MSG_FLUSHSA for `proto` (IPSEC_PROTO_ANY = every protocol).
    static func flush(_ proto: XFRMProtocol) throws -> NetlinkMessageBuilder {
        let message = NetlinkMessageBuilder(type: XFRMMessageType.flushSA.rawValue, flags: 0, capacity: 64)
        try message.appendHeader(xfrm_usersa_flush.self) { $0.proto = proto.rawValue }
        return message
    }

    /// XFRM_MSG_GETSA dump request.
    static func dump() -> NetlinkMessageBuilder {
        NetlinkMessageBuilder(type: XFRMMessageType.getSA.rawValue, flags: 0, capacity: 64)
    }
}

/// An SPI allocation request: `ip xfrm state allocspi src S dst D proto esp [reqid R]
/// [mode M] [min A max B]`. The kernel creates a larval SA, completed later by `updateState`.
public struct XFRMAllocateSPI: Hashable, Sendable {
    public var source: XFRMAddress
    public var destination: XFRMAddress
    public var proto: XFRMProtocol
    public var mode: XFRMMode
    public var reqid: UInt32
    /// The SPIs to choose from (host order); SPIs 1-255 are reserved by RFC 4303.
    public var range: ClosedRange<UInt32>
    public var mark: XFRMMark?

    public init(source: XFRMAddress, destination: XFRMAddress, proto: XFRMProtocol = .esp,
                mode: XFRMMode = .tunnel, reqid: UInt32 = 0,
                range: ClosedRange<UInt32> = 0x100...0xffff_ffff, mark: XFRMMark? = nil) {
        self.source = source
        self.destination = destination
        self.proto = proto
        self.mode = mode
        self.reqid = reqid
        self.range = range
        self.mark = mark
    }
}
