import CMNL

/// Which SA: destination, SPI and protocol (struct xfrm_usersa_id), plus the source
/// (XFRMA_SRCADDR) and mark that narrow the lookup.
/// `ip xfrm state get src S dst D proto esp spi SPI [mark M mask K]`.
public struct XFRMStateID: Hashable, Sendable, CustomStringConvertible {
    public var source: XFRMAddress?
    public var destination: XFRMAddress
    /// The SPI in host order (0x1000 is `spi 0x00001000`).
    public var spi: UInt32
    public var proto: XFRMProtocol
    public var mark: XFRMMark?

    public init(source: XFRMAddress? = nil, destination: XFRMAddress, spi: UInt32,
                proto: XFRMProtocol = .esp, mark: XFRMMark? = nil) {
        self.source = source
        self.destination = destination
        self.spi = spi
        self.proto = proto
        self.mark = mark
    }

    public var description: String {
        let spiText = "0x" + String(spi, radix: 16)
        return "src \(source?.description ?? "any") dst \(destination) proto \(proto) spi \(spiText)"
    }
}

/// A firewall mark and mask (struct xfrm_mark); `ip ... mark 0x10 mask 0xff`.
public struct XFRMMark: Hashable, Sendable {
    public var value: UInt32
    public var mask: UInt32
    public init(value: UInt32, mask: UInt32 = 0xffff_ffff) {
        self.value = value
        self.mask = mask
    }
}

/// Lifetime limits (struct xfrm_lifetime_cfg); nil = unlimited (`inf` in `ip`).
/// `limit byte-soft ... byte-hard ... packet-soft ... time-soft ... time-use-soft ...`.
public struct XFRMLifetime: Hashable, Sendable {
    public var softByteLimit: UInt64?
    public var hardByteLimit: UInt64?
    public var softPacketLimit: UInt64?
    public var hardPacketLimit: UInt64?
    /// Seconds after adding the SA.
    public var softAddExpireSeconds: UInt64?
    public var hardAddExpireSeconds: UInt64?
    /// Seconds after first use.
    public var softUseExpireSeconds: UInt64?
    public var hardUseExpireSeconds: UInt64?

    public init(softByteLimit: UInt64? = nil, hardByteLimit: UInt64? = nil,
                softPacketLimit: UInt64? = nil, hardPacketLimit: UInt64? = nil,
                softAddExpireSeconds: UInt64? = nil, hardAddExpireSeconds: UInt64? = nil,
                softUseExpireSeconds: UInt64? = nil, hardUseExpireSeconds: UInt64? = nil) {
        self.softByteLimit = softByteLimit
        self.hardByteLimit = hardByteLimit
        self.softPacketLimit = softPacketLimit
        self.hardPacketLimit = hardPacketLimit
        self.softAddExpireSeconds = softAddExpireSeconds
        self.hardAddExpireSeconds = hardAddExpireSeconds
        self.softUseExpireSeconds = softUseExpireSeconds
        self.hardUseExpireSeconds = hardUseExpireSeconds
    }

    /// No limits.
    public static let unlimited = XFRMLifetime()

    func write(to cfg: inout xfrm_lifetime_cfg) {
        // The kernel's "infinite" is all ones for byte/packet limits and 0 for times.
        cfg.soft_byte_limit = softByteLimit ?? UInt64.max
        cfg.hard_byte_limit = hardByteLimit ?? UInt64.max
        cfg.soft_packet_limit = softPacketLimit ?? UInt64.max
        cfg.hard_packet_limit = hardPacketLimit ?? UInt64.max
        cfg.soft_add_expires_seconds = softAddExpireSeconds ?? 0
        cfg.hard_add_expires_seconds = hardAddExpireSeconds ?? 0
        cfg.soft_use_expires_seconds = softUseExpireSeconds ?? 0
        cfg.hard_use_expires_seconds = hardUseExpireSeconds ?? 0
    }

    init(_ cfg: xfrm_lifetime_cfg) {
        func limit(_ value: UInt64) -> UInt64? { value == UInt64.max ? nil : value }
        func time(_ value: UInt64) -> UInt64? { value == 0 ? nil : value }
        self.init(softByteLimit: limit(cfg.soft_byte_limit), hardByteLimit: limit(cfg.hard_byte_limit),
                  softPacketLimit: limit(cfg.soft_packet_limit), hardPacketLimit: limit(cfg.hard_packet_limit),
                  softAddExpireSeconds: time(cfg.soft_add_expires_seconds),
                  hardAddExpireSeconds: time(cfg.hard_add_expires_seconds),
                  softUseExpireSeconds: time(cfg.soft_use_expires_seconds),
                  hardUseExpireSeconds: time(cfg.hard_use_expires_seconds))
    }
}

/// Replay protection and sequence numbers: the window, ESN, the inbound sequence and
/// bitmap, and the output sequence number (`replay-window`, `flag esn`, `replay-seq`,
/// `replay-oseq`, `replay-seq-hi`, `replay-oseq-hi`).
public struct XFRMReplayState: Hashable, Sendable, CustomStringConvertible {
    /// Window in packets: 0...4096 (the kernel's maximum, XFRMA_REPLAY_ESN_MAX bits).
    public var window: UInt32
    /// Extended (64-bit) sequence numbers.
    public var extendedSequenceNumbers: Bool
    /// Highest inbound sequence number seen (64-bit with ESN).
    public var sequence: UInt64
    /// Last output sequence number used; the next packet gets `outputSequence + 1`.
    public var outputSequence: UInt64
    /// Inbound bitmap words (window / 32 rounded up); empty = all clear.
    public var bitmap: [UInt32]

    /// The kernel's largest replay window.
    public static let maximumWindow: UInt32 = 4096

    public init(window: UInt32 = 0, extendedSequenceNumbers: Bool = false, sequence: UInt64 = 0,
                outputSequence: UInt64 = 0, bitmap: [UInt32] = []) {
        self.window = window
        self.extendedSequenceNumbers = extendedSequenceNumbers
        self.sequence = sequence
        self.outputSequence = outputSequence
        self.bitmap = bitmap
    }

    /// Bitmap words the kernel keeps for this window.
    public var bitmapLength: UInt32 { (window + 31) / 32 }

    /// True when the state needs XFRMA_REPLAY_ESN_VAL (ESN, a window over 32, or a long bitmap);
    /// otherwise the window rides in xfrm_usersa_info and sequences in XFRMA_REPLAY_VAL.
    public var needsESNFormat: Bool { extendedSequenceNumbers || window > 32 || bitmap.count > 1 }

    /// Checks the window bound and ESN rules.
    public func validate() throws {
        guard window <= XFRMReplayState.maximumWindow else {
            throw XFRMError.invalidArgument("replay window \(window) is over the kernel's maximum \(XFRMReplayState.maximumWindow)")
        }
        if extendedSequenceNumbers && window == 0 {
            throw XFRMError.invalidArgument("ESN needs a replay window (window > 0)")
        }
        if !extendedSequenceNumbers && (sequence > UInt32.max || outputSequence > UInt32.max) {
            throw XFRMError.invalidArgument("sequence numbers above 2^32 need ESN")
        }
        if bitmap.count > Int(max(bitmapLength, 1)) {
            throw XFRMError.invalidArgument("replay bitmap has \(bitmap.count) words, the window needs \(bitmapLength)")
        }
    }

    public var description: String {
        "replay-window \(window)\(extendedSequenceNumbers ? " esn" : "") seq 0x\(String(sequence, radix: 16)) oseq 0x\(String(outputSequence, radix: 16))"
    }
}

/// UDP encapsulation of ESP (struct xfrm_encap_tmpl); `encap espinudp 4500 4500 0.0.0.0`.
public struct XFRMEncap: Hashable, Sendable {
    /// UDP_ENCAP_ESPINUDP = 2 (RFC 3948); 1 is the old non-IKE form.
    public var type: UInt16
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    /// The peer's original address (NAT-OA); nil = unspecified.
    public var originalAddress: XFRMAddress?

    public init(type: UInt16 = 2, sourcePort: UInt16 = 4500, destinationPort: UInt16 = 4500,
                originalAddress: XFRMAddress? = nil) {
        self.type = type
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.originalAddress = originalAddress
    }

    /// ESP-in-UDP on port 4500 both ways.
    public static let espInUDP = XFRMEncap()
}

/// A request to offload an SA's crypto to a NIC (struct xfrm_user_offload);
/// `offload [packet] dev DEV dir in|out`. When the device refuses, the SA is installed in
/// software and `XFRMKernel.addState` says so.
public struct XFRMOffload: Hashable, Sendable {
    public var interfaceIndex: Int32
    public var inbound: Bool
    /// Full packet offload (XFRM_OFFLOAD_PACKET) instead of crypto offload.
    public var packet: Bool

    public init(interfaceIndex: Int32, inbound: Bool, packet: Bool = false) {
        self.interfaceIndex = interfaceIndex
        self.inbound = inbound
        self.packet = packet
    }

    var flags: UInt8 {
        var flags: UInt8 = 0
        if inbound { flags |= 2 }      // XFRM_OFFLOAD_INBOUND
        if packet { flags |= 4 }       // XFRM_OFFLOAD_PACKET
        return flags
    }
}

/// Thresholds for async events (XFRM_MSG_NEWAE): after this many packets of sequence
/// progress, and/or when the timer fires, the kernel reports the replay state.
public struct XFRMEventThresholds: Hashable, Sendable {
    /// XFRMA_REPLAY_THRESH: packets.
    public var replayPackets: UInt32?
    /// XFRMA_ETIMER_THRESH. The kernel stores what it is given as jiffies (HZ per second,
    /// 250 on Debian kernels) but reports it back in units of 100 ms (value * 10 / HZ), so a
    /// value read back differs from the one set; lab-checked on Linux 6.1.
    public var timer: UInt32?
    public init(replayPackets: UInt32? = nil, timer: UInt32? = nil) {
        self.replayPackets = replayPackets
        self.timer = timer
    }
}
