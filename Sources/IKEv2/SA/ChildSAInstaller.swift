// The one door through which negotiated CHILD_SAs leave the IKE core: "install these
// inbound + outbound SAs with these policies; delete that one". The standalone gateway
// installs into the local kernel (IKEDaemon.KernelChildSAInstaller, run on a thread of its
// own by IKEDaemon.ConfinedChildSAInstaller); the routing node hands the SAs to the target
// hosts (ClusterNode.ClusterChildSAInstaller). Nothing here is kernel-specific.
import NIOCore

/// IPsec mode of a CHILD_SA.
public enum ChildSAMode: String, Sendable, Equatable {
    case tunnel
    case transport
}

/// Lifetimes of one SA: soft limits trigger a rekey, hard limits delete it (0 = none).
/// The byte and packet limits count each direction's SA on its own (the kernel's
/// `lifetime bytes`/`packets`); the jitters are the most a soft limit is lowered by
/// (strongSwan's `rand_bytes` / `rand_packets`), chosen anew for each CHILD_SA.
public struct ChildSALifetime: Sendable, Equatable {
    public var softSeconds: UInt64
    public var hardSeconds: UInt64
    public var softBytes: UInt64
    public var hardBytes: UInt64
    public var softPackets: UInt64
    public var hardPackets: UInt64
    public var softBytesJitter: UInt64
    public var softPacketsJitter: UInt64

    public init(softSeconds: UInt64 = 0, hardSeconds: UInt64 = 0, softBytes: UInt64 = 0, hardBytes: UInt64 = 0,
                softPackets: UInt64 = 0, hardPackets: UInt64 = 0, softBytesJitter: UInt64 = 0, softPacketsJitter: UInt64 = 0) {
        self.softSeconds = softSeconds
        self.hardSeconds = hardSeconds
        self.softBytes = softBytes
        self.hardBytes = hardBytes
        self.softPackets = softPackets
        self.hardPackets = hardPackets
        self.softBytesJitter = softBytesJitter
        self.softPacketsJitter = softPacketsJitter
    }

    /// This lifetime with the soft byte/packet limits lowered by a random part of their
    /// jitter (never to 0, which would mean "no limit"); the jitters become 0.
    public func jittered<G: RandomNumberGenerator>(using generator: inout G) -> ChildSALifetime {
        func lower(_ limit: UInt64, by jitter: UInt64) -> UInt64 {
            guard limit > 1, jitter > 0 else { return limit }
            return limit - UInt64.random(in: 0...min(jitter, limit - 1), using: &generator)
        }
        var result = self
        result.softBytes = lower(softBytes, by: softBytesJitter)
        result.softPackets = lower(softPackets, by: softPacketsJitter)
        result.softBytesJitter = 0
        result.softPacketsJitter = 0
        return result
    }
}

/// One unidirectional ESP SA. Keys are `SecretBytes`: never printed (see `description`).
public struct ChildSAParameters: Sendable, Equatable, CustomStringConvertible {
    /// The SPI the receiver of this SA's packets chose.
    public var spi: UInt32
    /// Outer source and destination address (4 or 16 octets).
    public var source: [UInt8]
    public var destination: [UInt8]
    /// ENCR transform and its key length attribute (bits; nil for fixed-size ciphers).
    public var encryption: EncryptionAlgorithm
    public var encryptionKeyLengthBits: Int?
    /// INTEG transform (`.none` for AEAD).
    public var integrity: IntegrityAlgorithm
    /// Encryption key (AEAD: key | 4-octet salt) and integrity key (empty for AEAD).
    public var encryptionKey: SecretBytes
    public var integrityKey: SecretBytes

    public init(spi: UInt32, source: [UInt8], destination: [UInt8], encryption: EncryptionAlgorithm,
                encryptionKeyLengthBits: Int?, integrity: IntegrityAlgorithm,
                encryptionKey: SecretBytes, integrityKey: SecretBytes) {
        self.spi = spi
        self.source = source
        self.destination = destination
        self.encryption = encryption
        self.encryptionKeyLengthBits = encryptionKeyLengthBits
        self.integrity = integrity
        self.encryptionKey = encryptionKey
        self.integrityKey = integrityKey
    }

    public var description: String {
        "SA(spi 0x\(String(spi, radix: 16)), \(encryption)\(encryptionKeyLengthBits.map { "/\($0)" } ?? ""), \(integrity), keys redacted)"
    }
}

/// A CHILD_SA as negotiated: both SAs and the policies that steer traffic into them.
public struct ChildSAInstallation: Sendable, Equatable, CustomStringConvertible {
    /// The configured child's name.
    public var name: String
    /// Ties the SAs to their policies (the kernel's reqid).
    public var reqid: UInt32
    public var mode: ChildSAMode
    /// The SA carrying packets from the peer to us.
    public var inbound: ChildSAParameters
    /// The SA carrying packets from us to the peer.
    public var outbound: ChildSAParameters
    /// Negotiated (narrowed) selectors: our side and the peer's side.
    public var localTrafficSelectors: [TrafficSelector]
    public var remoteTrafficSelectors: [TrafficSelector]
    public var extendedSequenceNumbers: Bool
    /// Anti-replay window in packets (inbound).
    public var replayWindow: UInt32
    public var lifetime: ChildSALifetime
    /// Set when ESP goes in UDP (NAT); ports as seen from us (source = ours).
    public var udpEncapsulation: UDPEncapsulation?
    /// Install only the inbound SA (and policies) now; the outbound SA follows with
    /// `activateOutbound`. The responder of a CHILD_SA rekey does this so that it keeps
    /// sending on the old SA until the initiator, which deletes it, surely has the new one.
    public var outboundDeferred = false
    /// The CHILD_SA this one rekeys (nil for a new one): the cluster keeps the rekeyed
    /// SA's outbound owner and judges the rekey's timing.
    public var rekeyOf: ChildSAReference?

    public init(name: String, reqid: UInt32, mode: ChildSAMode, inbound: ChildSAParameters, outbound: ChildSAParameters,
                localTrafficSelectors: [TrafficSelector], remoteTrafficSelectors: [TrafficSelector],
                extendedSequenceNumbers: Bool, replayWindow: UInt32, lifetime: ChildSALifetime,
                udpEncapsulation: UDPEncapsulation?) {
        self.name = name
        self.reqid = reqid
        self.mode = mode
        self.inbound = inbound
        self.outbound = outbound
        self.localTrafficSelectors = localTrafficSelectors
        self.remoteTrafficSelectors = remoteTrafficSelectors
        self.extendedSequenceNumbers = extendedSequenceNumbers
        self.replayWindow = replayWindow
        self.lifetime = lifetime
        self.udpEncapsulation = udpEncapsulation
    }

    public var description: String {
        "CHILD_SA \(name) reqid \(reqid) \(mode) in 0x\(String(inbound.spi, radix: 16)) out 0x\(String(outbound.spi, radix: 16))"
            + " \(localTrafficSelectors) === \(remoteTrafficSelectors)"
    }
}

/// Identifies an installed CHILD_SA for deletion.
public struct ChildSAReference: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var reqid: UInt32
    public var inboundSPI: UInt32
    public var outboundSPI: UInt32
    public init(reqid: UInt32, inboundSPI: UInt32, outboundSPI: UInt32) {
        self.reqid = reqid
        self.inboundSPI = inboundSPI
        self.outboundSPI = outboundSPI
    }
    public var description: String {
        "reqid \(reqid) in 0x\(String(inboundSPI, radix: 16)) out 0x\(String(outboundSPI, radix: 16))"
    }
}

extension ChildSAInstallation {
    /// The reference to delete this CHILD_SA by later.
    public var reference: ChildSAReference {
        ChildSAReference(reqid: reqid, inboundSPI: inbound.spi, outboundSPI: outbound.spi)
    }
}

/// Where negotiated CHILD_SAs go: the local kernel, or the cluster's targets. Every call
/// returns at once, never waiting for the kernel or a target; its future completes on
/// `loop` once the work is done or failed (the IKE shell then reports the outcome to the
/// IKE_SA: `IKESA.installCompleted`). Safe to call from any thread.
public protocol ChildSAInstaller: AnyObject, Sendable {
    /// Installs both SAs and the policies for the selectors (tunnel: out/in/fwd).
    func install(_ childSA: ChildSAInstallation, on loop: EventLoop) -> EventLoopFuture<Void>
    /// Removes both SAs and their policies. Deleting something already gone (or whose
    /// install is still under way: it goes once in place) is not an error.
    func delete(_ childSA: ChildSAInstallation, on loop: EventLoop) -> EventLoopFuture<Void>
    /// Removes only the outbound SA of a CHILD_SA replaced by a rekey; its inbound SA and the
    /// policies stay, until `delete` (after `delete_rekeyed_delay`) or `removeAll`.
    func deleteOutbound(_ childSA: ChildSAInstallation, on loop: EventLoop) -> EventLoopFuture<Void>
    /// Installs the outbound SA of a CHILD_SA installed with `outboundDeferred`.
    func activateOutbound(_ childSA: ChildSAInstallation, on loop: EventLoop) -> EventLoopFuture<Void>
    /// Whether the installed SAs live in this host's kernel, whose expire events then drive
    /// rekeys by bytes and packets (IKEDaemon.ChildSAExpiryWatcher).
    var installsIntoLocalKernel: Bool { get }
    /// Removes whatever is still installed (at shutdown, after the deletes).
    func removeAll(on loop: EventLoop) -> EventLoopFuture<Void>
}

extension ChildSAInstaller {
    public var installsIntoLocalKernel: Bool { false }
    public func removeAll(on loop: EventLoop) -> EventLoopFuture<Void> { loop.makeSucceededVoidFuture() }
}

/// An installer whose calls are done when they return (the local kernel over netlink, the
/// null installer), for one caller at a time: IKEDaemon.ConfinedChildSAInstaller runs it
/// on a thread of its own and makes a `ChildSAInstaller` of it.
public protocol SynchronousChildSAInstaller: AnyObject {
    func install(_ childSA: ChildSAInstallation) throws
    func delete(_ childSA: ChildSAInstallation) throws
    /// See `ChildSAInstaller.deleteOutbound`.
    func deleteOutbound(_ childSA: ChildSAInstallation) throws
    func activateOutbound(_ childSA: ChildSAInstallation) throws
    /// See `ChildSAInstaller.installsIntoLocalKernel`.
    var installsIntoLocalKernel: Bool { get }
    /// Removes whatever is still installed (at shutdown).
    func removeAll()
}

extension SynchronousChildSAInstaller {
    public var installsIntoLocalKernel: Bool { false }
    public func removeAll() {}
}
