// A negotiated CHILD_SA (IKE's `ChildSAInstallation`) → the kernel SAs it needs, as
// `SADescription`s: the inbound SA (peer → us) and the outbound one (us → peer), each with its
// algorithms and keys as Linux names them, mode, selectors, encapsulation, ESN, replay window,
// lifetimes and reqid. The standalone gateway installs them into its own kernel, the routing
// node sends them to the targets: one translation for both. Pure.
import Cluster
import IKEv2

/// Why a CHILD_SA cannot become kernel SAs (no key material in it).
public struct ChildSATranslationError: Error, Equatable, CustomStringConvertible {
    public var description: String
}

public enum ChildSADescriptions {
    /// The inbound SA (`ids[0]`) and the outbound one (`ids[1]`), in that order. `outbound`
    /// says how the outbound SA's sequence numbers are kept (the cluster's choice; the
    /// standalone gateway passes `.notApplicable`). `maximumSelectors` bounds the kernel
    /// selectors (one policy set each): the cluster wire carries 16 per SA, the standalone
    /// gateway takes more (`KernelChildSAInstaller.maximumSelectors`).
    public static func make(of child: ChildSAInstallation, ids: [ClusterSAID], epoch: ClusterEpoch = ClusterEpoch(rawValue: 1),
                            outbound sequencing: SequencingMode,
                            maximumSelectors: Int = SADescription.maximumSelectors) throws -> [SADescription] {
        guard ids.count == 2 else { throw ChildSATranslationError(description: "need two SA ids") }
        let mode: SAMode = child.mode == .tunnel ? .tunnel : .transport
        let selectors: (outbound: [SASelector], inbound: [SASelector])
        do {
            selectors = try KernelSelectors.selectors(local: child.localTrafficSelectors, remote: child.remoteTrafficSelectors,
                                                      maximum: maximumSelectors)
        } catch let error as KernelSelectorError {
            throw ChildSATranslationError(description: error.description)
        }
        let lifetimes = self.lifetimes(child.lifetime)
        func description(_ sa: ChildSAParameters, id: ClusterSAID, inbound: Bool) throws -> SADescription {
            // The kernel's encap names this host's port as the source of what it sends.
            let encapsulation = child.udpEncapsulation.map {
                inbound ? UDPEncapsulation(sourcePort: $0.destinationPort, destinationPort: $0.sourcePort) : $0
            }
            return SADescription(
                saID: id, epoch: epoch, spi: sa.spi, direction: inbound ? .inbound : .outbound,
                source: try address(sa.source), destination: try address(sa.destination),
                ipsecProtocol: .esp, mode: mode, algorithms: try algorithms(sa),
                extendedSequenceNumbers: child.extendedSequenceNumbers, replayWindow: child.replayWindow,
                lifetimes: lifetimes, selectors: inbound ? selectors.inbound : selectors.outbound,
                encapsulation: encapsulation, reqid: child.reqid, sequencing: inbound ? .notApplicable : sequencing)
        }
        return [try description(child.inbound, id: ids[0], inbound: true),
                try description(child.outbound, id: ids[1], inbound: false)]
    }

    /// IKE's limits (0 = none) → the kernel's (unlimited = none), bytes, packets and seconds.
    static func lifetimes(_ lifetime: ChildSALifetime) -> SALifetimes {
        var result = SALifetimes()
        if lifetime.softBytes != 0 { result.softByteLimit = lifetime.softBytes }
        if lifetime.hardBytes != 0 { result.hardByteLimit = lifetime.hardBytes }
        if lifetime.softPackets != 0 { result.softPacketLimit = lifetime.softPackets }
        if lifetime.hardPackets != 0 { result.hardPacketLimit = lifetime.hardPackets }
        result.softAddExpiresSeconds = lifetime.softSeconds
        result.hardAddExpiresSeconds = lifetime.hardSeconds
        return result
    }

    static func address(_ bytes: [UInt8]) throws -> IPAddress {
        do { return try IPAddress(bytes: bytes) } catch {
            throw ChildSATranslationError(description: "an SA address of \(bytes.count) octets")
        }
    }

    /// Linux crypto names for IKE's transforms (as iproute2 and strongSwan name them). The
    /// AEAD keys are KEYMAT's key then its 4-octet salt (RFC 4106 8.1, RFC 7634 2), which is
    /// the layout the kernel wants.
    static func algorithms(_ sa: ChildSAParameters) throws -> [SAAlgorithm] {
        let key = sa.encryptionKey
        switch sa.encryption {
        case .aesGCM16:
            return [SAAlgorithm(kind: .aead, name: "rfc4106(gcm(aes))", key: key, bits: 128)]
        case .chacha20Poly1305:
            return [SAAlgorithm(kind: .aead, name: "rfc7539esp(chacha20,poly1305)", key: key, bits: 128)]
        case .aesCBC:
            let integrity: (String, UInt16)
            switch sa.integrity {
            case .hmacSHA2_256_128: integrity = ("hmac(sha256)", 128)
            case .hmacSHA2_384_192: integrity = ("hmac(sha384)", 192)
            case .hmacSHA2_512_256: integrity = ("hmac(sha512)", 256)
            default: throw ChildSATranslationError(description: "integrity \(sa.integrity) has no kernel translation")
            }
            return [SAAlgorithm(kind: .encryption, name: "cbc(aes)", key: key, bits: 0),
                    SAAlgorithm(kind: .integrity, name: integrity.0, key: sa.integrityKey, bits: integrity.1)]
        default:
            throw ChildSATranslationError(description: "encryption \(sa.encryption) has no kernel translation")
        }
    }
}
