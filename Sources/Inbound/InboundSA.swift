// An inbound SA as the routing node's classifier keeps it (keys in user space only, never in
// its own kernel), the ESP layout per cipher suite, and the peek-decryption boundary.

import Cluster

/// The integrity algorithm beside a CBC cipher (its truncated ICV length matters here).
public enum ESPIntegrity: Hashable, Sendable {
    case hmacSHA1_96, hmacSHA256_128, hmacSHA384_192, hmacSHA512_256

    /// ICV octets (RFC 2404, RFC 4868).
    public var icvLength: Int {
        switch self {
        case .hmacSHA1_96: return 12
        case .hmacSHA256_128: return 16
        case .hmacSHA384_192: return 24
        case .hmacSHA512_256: return 32
        }
    }
}

/// The ESP cipher suites the classifier can peek into.
public enum ESPCipherSuite: Hashable, Sendable, CustomStringConvertible {
    /// AES-GCM with a 16-octet ICV (RFC 4106); key 16 or 32 octets + 4-octet salt.
    case aesGCM16(keyLength: Int)
    /// AES-CBC (RFC 3602); key 16 or 32 octets, with an HMAC.
    case aesCBC(keyLength: Int, integrity: ESPIntegrity)
    /// ChaCha20-Poly1305 (RFC 7634); key 32 octets + 4-octet salt.
    case chacha20Poly1305
    /// ENCR_NULL (RFC 2410) with an HMAC: the payload is plaintext (tests, debugging).
    case null(integrity: ESPIntegrity)

    /// IV octets after the sequence number.
    public var ivLength: Int {
        switch self {
        case .aesGCM16, .chacha20Poly1305: return 8
        case .aesCBC: return 16
        case .null: return 0
        }
    }

    /// ICV octets at the end.
    public var icvLength: Int {
        switch self {
        case .aesGCM16, .chacha20Poly1305: return 16
        case .aesCBC(_, let integrity), .null(let integrity): return integrity.icvLength
        }
    }

    /// The ciphertext length must be a multiple of this (CBC's block; 4 for the others, RFC 4303 §2.4).
    public var lengthMultiple: Int {
        if case .aesCBC = self { return 16 }
        return 4
    }

    /// Encryption key octets (without the salt).
    public var keyLength: Int {
        switch self {
        case .aesGCM16(let n), .aesCBC(let n, _): return n
        case .chacha20Poly1305: return 32
        case .null: return 0
        }
    }

    /// Salt octets after the key in the KEYMAT (RFC 4106 §8.1, RFC 7634 §4).
    public var saltLength: Int {
        switch self {
        case .aesGCM16, .chacha20Poly1305: return 4
        case .aesCBC, .null: return 0
        }
    }

    /// Where IV and ciphertext lie in `packet` (offsets from the packet start), or why not.
    public func layout(of packet: ESPPacket) -> Result<ESPLayout, DropReason> {
        let ivOffset = packet.espOffset + 8
        let ciphertextOffset = ivOffset + ivLength
        let ciphertextLength = packet.espLength - 8 - ivLength - icvLength
        guard ciphertextLength >= 2 else { return .failure(.tooShort) }  // pad length + next header at least
        guard ciphertextLength % lengthMultiple == 0 else { return .failure(.malformedOuter) }
        guard ciphertextOffset <= packet.available else { return .failure(.tooShort) }
        return .success(ESPLayout(ivOffset: ivOffset, ciphertextOffset: ciphertextOffset,
                                  ciphertextLength: ciphertextLength, available: packet.available))
    }

    public var description: String {
        switch self {
        case .aesGCM16(let n): return "aes\(n * 8)gcm16"
        case .aesCBC(let n, let i): return "aes\(n * 8)cbc-\(i)"
        case .chacha20Poly1305: return "chacha20poly1305"
        case .null(let i): return "null-\(i)"
        }
    }
}

/// Offsets of one packet's ESP payload (from the start of the packet buffer).
public struct ESPLayout: Hashable, Sendable {
    /// The IV (8 or 16 octets; 0 for ENCR_NULL).
    public var ivOffset: Int
    /// The first ciphertext octet (plaintext offset 0).
    public var ciphertextOffset: Int
    /// L: payload ‖ padding ‖ pad length (L-2) ‖ next header (L-1).
    public var ciphertextLength: Int
    /// Octets present in the buffer.
    public var available: Int

    /// True if plaintext octets `range` are present in the buffer (the copy may be capped).
    public func contains(_ range: Range<Int>) -> Bool {
        range.lowerBound >= 0 && range.upperBound <= ciphertextLength && ciphertextOffset + range.upperBound <= available
    }
}

/// Tunnel or transport mode (RFC 4301 §4.1).
public enum IPsecMode: Hashable, Sendable { case tunnel, transport }

/// How forwarded packets reach the target (claims 6-8).
public enum ForwardingMode: Hashable, Sendable {
    /// The ESP goes unchanged to the target (policy routing by mark); the routing node's
    /// inbound filtering is bypassed (claim 6). Inner addresses outside the selectors are
    /// forwarded by hash without a table entry: the target's kernel enforces its policy.
    case direct
    /// Filtered first, tunnel check included, then GRE to the target (claims 7-8): inner
    /// addresses outside the selectors are dropped (`DropReason.tunnelCheck`).
    case encapsulated
}

/// One inbound SA (one SPI to one DVIPA), as the SA authority hands it to the classifier.
public struct InboundSA: Sendable {
    /// The SPI the peer puts in the ESP header.
    public var spi: UInt32
    /// The outer destination (the DVIPA).
    public var destination: InboundAddress
    public var suite: ESPCipherSuite
    /// KEYMAT for the encryption: key ‖ salt (GCM, ChaCha20) or key (CBC). Never printed.
    public var encryptionKey: SecretBytes
    /// The HMAC key (AES-CBC, ENCR_NULL; empty for AEAD): only ICV verification uses it.
    public var integrityKey: SecretBytes
    public var mode: IPsecMode
    /// Extended sequence numbers (RFC 4303 §2.2.1).
    public var extendedSequenceNumbers: Bool
    /// The peer's side (inner sources must lie within one; empty: no check).
    public var remoteSelectors: [InboundTrafficSelector]
    /// The cluster's side (inner destinations must lie within one: DVIPA/32 makes the tunnel
    /// check "inner destination is the DVIPA"; empty: no check).
    public var localSelectors: [InboundTrafficSelector]
    /// The CHILD_SA line that survives rekeys: flows are keyed by it.
    public var lineage: SALineageID
    /// Targets holding this SA in their kernel (install acknowledged): the candidates.
    public var holders: [NodeID]
    public var forwarding: ForwardingMode
    /// The check-only replay window's size in packets (a multiple of 64).
    public var replayWindowSize: Int
    /// New connection-table entries per second for this SA and the burst allowed.
    public var newFlowsPerSecond: Double
    public var newFlowBurst: Double

    public init(spi: UInt32, destination: InboundAddress, suite: ESPCipherSuite, encryptionKey: SecretBytes,
                integrityKey: SecretBytes = SecretBytes(zeroes: 0), mode: IPsecMode, extendedSequenceNumbers: Bool = false,
                remoteSelectors: [InboundTrafficSelector] = [], localSelectors: [InboundTrafficSelector] = [],
                lineage: SALineageID, holders: [NodeID], forwarding: ForwardingMode = .direct,
                replayWindowSize: Int = 4096, newFlowsPerSecond: Double = 20_000, newFlowBurst: Double = 40_000) {
        self.spi = spi
        self.destination = destination
        self.suite = suite
        self.encryptionKey = encryptionKey
        self.integrityKey = integrityKey
        self.mode = mode
        self.extendedSequenceNumbers = extendedSequenceNumbers
        self.remoteSelectors = remoteSelectors
        self.localSelectors = localSelectors
        self.lineage = lineage
        self.holders = holders
        self.forwarding = forwarding
        self.replayWindowSize = replayWindowSize
        self.newFlowsPerSecond = newFlowsPerSecond
        self.newFlowBurst = newFlowBurst
    }
}

/// Decrypts chosen plaintext octets of one SA's packets without verifying the ICV (claims
/// 4, 21). One instance per SA, keyed once; it wipes its key state when released (the SA is
/// removed). Implementations: `NullPeeker` here, the OpenSSL ones in `InboundCrypto`.
public protocol ESPPeekDecryptor: AnyObject {
    /// Writes the plaintext octets `range` (offsets within the ESP payload, 0 = first
    /// plaintext octet) into `output` (room for `range.count`). The caller has checked
    /// `layout.contains(range)`. False on a cipher error.
    func peek(_ packet: UnsafeRawBufferPointer, layout: ESPLayout, range: Range<Int>,
              into output: UnsafeMutableRawPointer) -> Bool

    /// `peek` of two ranges at once (see the extension's default).
    func peek(_ packet: UnsafeRawBufferPointer, layout: ESPLayout, head: Range<Int>, into headOutput: UnsafeMutableRawPointer,
              trailer: Range<Int>, into trailerOutput: UnsafeMutableRawPointer) -> Bool
}

extension ESPPeekDecryptor {
    /// Peeks two ranges (the inner headers and the trailer) into two outputs. AES peekers
    /// override it to make one cipher call for both; this default peeks twice.
    public func peek(_ packet: UnsafeRawBufferPointer, layout: ESPLayout, head: Range<Int>, into headOutput: UnsafeMutableRawPointer,
                     trailer: Range<Int>, into trailerOutput: UnsafeMutableRawPointer) -> Bool {
        peek(packet, layout: layout, range: head, into: headOutput)
            && peek(packet, layout: layout, range: trailer, into: trailerOutput)
    }
}

/// Makes the peeker for an SA (the classifier calls it in `addSA`).
public protocol ESPPeekerFactory {
    func makePeeker(for sa: InboundSA) throws -> ESPPeekDecryptor
    /// The ICV verifier for an SA (`verify` on); the default has none.
    func makeVerifier(for sa: InboundSA) throws -> ESPICVVerifier
}

extension ESPPeekerFactory {
    public func makeVerifier(for sa: InboundSA) throws -> ESPICVVerifier {
        throw InboundSAError.unsupportedSuite("\(sa.suite) (no ICV verifier here)")
    }
}

/// The errors of adding an SA.
public enum InboundSAError: Error, Equatable, CustomStringConvertible {
    case unsupportedSuite(String)
    case keyLength(expected: Int, actual: Int)
    case invalidReplayWindow(Int)
    case backend(String)

    public var description: String {
        switch self {
        case .unsupportedSuite(let suite): return "unsupported cipher suite \(suite)"
        case .keyLength(let expected, let actual): return "key material is \(actual) octets, expected \(expected)"
        case .invalidReplayWindow(let size): return "replay window \(size) is not a multiple of 64 in 64...65536"
        case .backend(let detail): return "cipher backend: \(detail)"
        }
    }
}

/// ENCR_NULL: the plaintext is the ciphertext.
public final class NullPeeker: ESPPeekDecryptor {
    public init() {}
    public func peek(_ packet: UnsafeRawBufferPointer, layout: ESPLayout, range: Range<Int>,
                     into output: UnsafeMutableRawPointer) -> Bool {
        output.copyMemory(from: packet.baseAddress! + layout.ciphertextOffset + range.lowerBound, byteCount: range.count)
        return true
    }
}

/// Peekers for ENCR_NULL SAs only (the pure tests).
public struct NullPeekerFactory: ESPPeekerFactory {
    public init() {}
    public func makePeeker(for sa: InboundSA) throws -> ESPPeekDecryptor {
        guard case .null = sa.suite else { throw InboundSAError.unsupportedSuite(sa.suite.description) }
        return NullPeeker()
    }
}
