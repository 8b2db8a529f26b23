import CMNL
import Glibc

/// Everything needed to install an SA: `ip xfrm state add|update src S dst D proto esp spi SPI
/// reqid R mode M [replay-window W] [flag esn] [aead|enc+auth-trunc ...] [encap ...] [mark ...]
/// [if_id ...] [sel ...] [limit ...] [offload dev DEV dir in|out] [replay-seq ...] [replay-oseq ...]`.
public struct XFRMAddState: Sendable, CustomStringConvertible {
    /// Source, destination, SPI, protocol and mark; `source` is required.
    public var id: XFRMStateID
    public var reqid: UInt32
    public var mode: XFRMMode
    public var selector: XFRMSelector
    public var lifetime: XFRMLifetime
    /// An AEAD (`rfc4106(gcm(aes))`, `rfc7539esp(chacha20,poly1305)`)...
    public var aead: XFRMAlgorithm?
    /// ...or encryption plus integrity (`cbc(aes)` + `hmac(sha256)`).
    public var encryption: XFRMAlgorithm?
    public var integrity: XFRMAlgorithm?
    /// Window, ESN, initial inbound sequence/bitmap and initial output sequence number.
    public var replay: XFRMReplayState
    public var encap: XFRMEncap?
    /// XFRMA_IF_ID, for xfrm interfaces.
    public var interfaceID: UInt32?
    /// Crypto/packet offload request; falls back to software when refused.
    public var offload: XFRMOffload?
    /// Extra xfrm_usersa_info flags (ESN is set from `replay`).
    public var flags: XFRMStateFlags
    /// Async event thresholds for this SA.
    public var eventThresholds: XFRMEventThresholds

    public init(id: XFRMStateID, reqid: UInt32 = 0, mode: XFRMMode = .transport,
                selector: XFRMSelector = .any, lifetime: XFRMLifetime = .unlimited,
                aead: XFRMAlgorithm? = nil, encryption: XFRMAlgorithm? = nil, integrity: XFRMAlgorithm? = nil,
                replay: XFRMReplayState = XFRMReplayState(), encap: XFRMEncap? = nil,
                interfaceID: UInt32? = nil, offload: XFRMOffload? = nil, flags: XFRMStateFlags = [],
                eventThresholds: XFRMEventThresholds = XFRMEventThresholds()) {
        self.id = id
        self.reqid = reqid
        self.mode = mode
        self.selector = selector
        self.lifetime = lifetime
        self.aead = aead
        self.encryption = encryption
        self.integrity = integrity
        self.replay = replay
        self.encap = encap
        self.interfaceID = interfaceID
        self.offload = offload
        self.flags = flags
        self.eventThresholds = eventThresholds
    }

    /// Checks the request the way `ip xfrm state add` does, naming what is wrong.
    public func validate() throws {
        guard let source = id.source else {
            throw XFRMError.invalidArgument("an SA needs a source address")
        }
        guard source.family == id.destination.family else {
            throw XFRMError.invalidArgument("source \(source) and destination \(id.destination) are different families")
        }
        if id.proto == .esp || id.proto == .ah {
            guard id.spi != 0 else { throw XFRMError.invalidArgument("SPI 0 is reserved") }
        }
        if let aead {
            guard aead.kind == .aead else { throw XFRMError.invalidArgument("\(aead.name) is not an AEAD") }
            guard encryption == nil, integrity == nil else {
                throw XFRMError.invalidArgument("an AEAD excludes a separate encryption or integrity algorithm")
            }
            guard id.proto == .esp else { throw XFRMError.invalidArgument("AEAD needs proto esp") }
            try aead.validate()
        }
        if let encryption {
            guard encryption.kind == .encryption else {
                throw XFRMError.invalidArgument("\(encryption.name) is not an encryption algorithm")
            }
            guard id.proto == .esp else { throw XFRMError.invalidArgument("encryption needs proto esp") }
            guard integrity != nil else {
                throw XFRMError.invalidArgument("\(encryption.name) needs an integrity algorithm (or use an AEAD)")
            }
            try encryption.validate()
        }
        if let integrity {
            guard integrity.kind == .integrity else {
                throw XFRMError.invalidArgument("\(integrity.name) is not an integrity algorithm")
            }
            try integrity.validate()
        }
        if id.proto == .esp && aead == nil && encryption == nil {
            throw XFRMError.invalidArgument("an ESP SA needs an AEAD or an encryption algorithm")
        }
        try replay.validate()
        if replay.extendedSequenceNumbers && id.proto != .esp && id.proto != .ah {
            throw XFRMError.invalidArgument("ESN needs proto esp or ah")
        }
        if encap != nil && id.proto != .esp {
            throw XFRMError.invalidArgument("UDP encapsulation needs proto esp")
        }
        if let offload, offload.interfaceIndex <= 0 {
            throw XFRMError.invalidArgument("offload needs a device (interface index > 0)")
        }
    }

    /// Redacted: algorithm names and key lengths only.
    public var description: String {
        var parts = ["\(id)", "reqid \(reqid)", "mode \(mode)", "\(replay)"]
        for algorithm in [aead, encryption, integrity].compactMap({ $0 }) { parts.append(algorithm.description) }
        if encap != nil { parts.append("encap") }
        if let interfaceID { parts.append("if_id \(interfaceID)") }
        return parts.joined(separator: " ")
    }
}
