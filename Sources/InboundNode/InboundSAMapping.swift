// An inbound SA as the SA authority distributes it (`SADescription`, the kernel's algorithm
// names) → the classifier's `InboundSA` (suite, key ‖ salt, selectors, lineage). Pure.
// The keys are only copied into user space; nothing here reaches a kernel or a log.
import Cluster
import Inbound

public enum InboundSAMapping {
    /// The peek suite of an SA's algorithms (nil: not one the classifier can peek, e.g.
    /// ENCR_NULL or an unknown name: the SA is then not handed to the classifier and its
    /// packets are dropped as `noSA`, counted).
    public static func suite(_ algorithms: [SAAlgorithm]) -> ESPCipherSuite? {
        if let aead = algorithms.first(where: { $0.kind == .aead }) {
            switch aead.name {
            case "rfc4106(gcm(aes))":
                let keyLength = aead.key.count - 4
                guard [16, 24, 32].contains(keyLength), aead.bits == 128 else { return nil }
                return .aesGCM16(keyLength: keyLength)
            case "rfc7539esp(chacha20,poly1305)":
                guard aead.key.count == 36, aead.bits == 128 else { return nil }
                return .chacha20Poly1305
            default:
                return nil
            }
        }
        guard let cipher = algorithms.first(where: { $0.kind == .encryption }), cipher.name == "cbc(aes)",
              [16, 24, 32].contains(cipher.key.count),
              let auth = algorithms.first(where: { $0.kind == .integrity }), let integrity = integrity(auth) else { return nil }
        return .aesCBC(keyLength: cipher.key.count, integrity: integrity)
    }

    static func integrity(_ algorithm: SAAlgorithm) -> ESPIntegrity? {
        switch (algorithm.name, algorithm.bits) {
        case ("hmac(sha1)", 96): return .hmacSHA1_96
        case ("hmac(sha256)", 128): return .hmacSHA256_128
        case ("hmac(sha384)", 192): return .hmacSHA384_192
        case ("hmac(sha512)", 256): return .hmacSHA512_256
        default: return nil
        }
    }

    /// The classifier's SA for an inbound (peer → DVIPA) ESP SA; nil for outbound SAs, AH,
    /// BEET and suites the classifier cannot peek. The lineage is the CHILD_SA line's reqid
    /// (it survives rekeys); the selectors' source side is the peer's, destination the DVIPA's.
    public static func inboundSA(_ description: SADescription, holders: [NodeID],
                                 forwarding: ForwardingMode = .direct) -> InboundSA? {
        guard description.direction == .inbound, description.ipsecProtocol == .esp,
              let suite = suite(description.algorithms) else { return nil }
        let mode: IPsecMode
        switch description.mode {
        case .tunnel: mode = .tunnel
        case .transport: mode = .transport
        default: return nil
        }
        let key: SecretBytes
        var integrityKey = SecretBytes(zeroes: 0)
        if case .aesCBC = suite {
            guard let cipher = description.algorithms.first(where: { $0.kind == .encryption }),
                  let auth = description.algorithms.first(where: { $0.kind == .integrity }) else { return nil }
            key = cipher.key
            integrityKey = auth.key  // only ICV verification (`verify`) uses it
        } else {
            guard let aead = description.algorithms.first(where: { $0.kind == .aead }) else { return nil }
            key = aead.key
        }
        let remote = description.selectors.map {
            InboundTrafficSelector(prefix: InboundAddress($0.source), length: Int($0.sourcePrefixLength), ipProtocol: $0.ipProtocol)
        }
        let local = description.selectors.map {
            InboundTrafficSelector(prefix: InboundAddress($0.destination), length: Int($0.destinationPrefixLength),
                                   ipProtocol: $0.ipProtocol)
        }
        return InboundSA(spi: description.spi, destination: InboundAddress(description.destination), suite: suite,
                         encryptionKey: key, integrityKey: integrityKey, mode: mode, extendedSequenceNumbers: description.extendedSequenceNumbers,
                         remoteSelectors: remote, localSelectors: local, lineage: SALineageID(description.reqid),
                         holders: holders.sorted(), forwarding: forwarding)
    }
}
