/// Wire numbers and small parts of an SA description (`SADescription`).

/// Which way the SA carries traffic, seen from the cluster. Open.
public struct SADirection: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Peer → DVIPA (decrypted on the targets).
    public static let inbound = SADirection(rawValue: 1)
    /// DVIPA → peer (encrypted on the targets).
    public static let outbound = SADirection(rawValue: 2)
    public var description: String {
        switch self {
        case .inbound: return "in"
        case .outbound: return "out"
        default: return "direction(\(rawValue))"
        }
    }
}

/// The IPsec protocol, as its IP protocol number (ESP 50, AH 51). Open.
public struct IPsecProtocol: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let esp = IPsecProtocol(rawValue: 50)
    public static let ah = IPsecProtocol(rawValue: 51)
    public var description: String {
        switch self {
        case .esp: return "esp"
        case .ah: return "ah"
        default: return "proto(\(rawValue))"
        }
    }
}

/// The SA's mode, with the kernel's XFRM_MODE_* numbers. Open.
public struct SAMode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let transport = SAMode(rawValue: 0)
    public static let tunnel = SAMode(rawValue: 1)
    public static let beet = SAMode(rawValue: 4)
    public var description: String {
        switch self {
        case .transport: return "transport"
        case .tunnel: return "tunnel"
        case .beet: return "beet"
        default: return "mode(\(rawValue))"
        }
    }
}

/// The role of one algorithm of an SA. Open.
public struct SAAlgorithmKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Combined mode (XFRMA_ALG_AEAD), e.g. `rfc4106(gcm(aes))`; `bits` is the ICV length.
    public static let aead = SAAlgorithmKind(rawValue: 1)
    /// Cipher (XFRMA_ALG_CRYPT), e.g. `cbc(aes)`; `bits` is 0.
    public static let encryption = SAAlgorithmKind(rawValue: 2)
    /// Integrity (XFRMA_ALG_AUTH_TRUNC), e.g. `hmac(sha256)`; `bits` is the truncation.
    public static let integrity = SAAlgorithmKind(rawValue: 3)
    public var description: String {
        switch self {
        case .aead: return "aead"
        case .encryption: return "enc"
        case .integrity: return "auth"
        default: return "alg(\(rawValue))"
        }
    }
}

/// One algorithm with its key, named as the Linux crypto API names it.
public struct SAAlgorithm: Equatable, Sendable, CustomStringConvertible {
    public var kind: SAAlgorithmKind
    /// The kernel's name, e.g. `rfc4106(gcm(aes))` (at most 63 bytes, like xfrm_algo).
    public var name: String
    /// The key (for AES-GCM: key then the 4-byte salt, as the kernel wants it).
    public var key: SecretBytes
    /// ICV length (AEAD) or truncation length (integrity) in bits; 0 for a cipher.
    public var bits: UInt16

    public init(kind: SAAlgorithmKind, name: String, key: SecretBytes, bits: UInt16) {
        self.kind = kind
        self.name = name
        self.key = key
        self.bits = bits
    }

    /// The name and sizes; the key shows as `<redacted N bytes>`.
    public var description: String { "\(kind) \(name) key \(key) bits \(bits)" }
}

/// Byte, packet and time limits of an SA, as the kernel's xfrm_lifetime_cfg has them.
/// `SALifetimes.unlimited` (the kernel's XFRM_INF) means no limit.
public struct SALifetimes: Hashable, Sendable {
    public static let unlimited = UInt64.max
    public var softByteLimit: UInt64 = unlimited
    public var hardByteLimit: UInt64 = unlimited
    public var softPacketLimit: UInt64 = unlimited
    public var hardPacketLimit: UInt64 = unlimited
    public var softAddExpiresSeconds: UInt64 = 0
    public var hardAddExpiresSeconds: UInt64 = 0

    public init() {}
}

/// A traffic selector as the kernel's xfrm_selector has it: prefixes, ports (0 = any) and
/// an upper-layer protocol (0 = any).
public struct SASelector: Hashable, Sendable, CustomStringConvertible {
    public var source: IPAddress
    public var sourcePrefixLength: UInt8
    public var destination: IPAddress
    public var destinationPrefixLength: UInt8
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var ipProtocol: UInt8

    public init(source: IPAddress, sourcePrefixLength: UInt8, destination: IPAddress, destinationPrefixLength: UInt8,
                sourcePort: UInt16 = 0, destinationPort: UInt16 = 0, ipProtocol: UInt8 = 0) {
        self.source = source
        self.sourcePrefixLength = sourcePrefixLength
        self.destination = destination
        self.destinationPrefixLength = destinationPrefixLength
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.ipProtocol = ipProtocol
    }

    public var description: String {
        "\(source)/\(sourcePrefixLength):\(sourcePort) -> \(destination)/\(destinationPrefixLength):\(destinationPort) proto \(ipProtocol)"
    }
}

/// How an outbound SA's sequence numbers are kept apart across targets.
public enum SequencingMode: Hashable, Sendable, CustomStringConvertible {
    /// Inbound SAs: the peer numbers, the targets only check.
    case notApplicable
    /// The SA belongs to one target alone (one outbound CHILD_SA per target, RFC 9611's
    /// idea); only that target gets it.
    case perTarget(owner: NodeID)
    /// Every target sends on the SA, each inside its granted blocks of `blockSize` numbers;
    /// the SA's hard packet lifetime on each target is `blockSize` (the fence).
    case shared(blockSize: UInt64)

    public var description: String {
        switch self {
        case .notApplicable: return "none"
        case .perTarget(let owner): return "per-target(\(owner))"
        case .shared(let blockSize): return "shared(block \(blockSize))"
        }
    }
}
