// Sealing of the records the active routing node keeps in etcd (docs/takeover.md section 2,
// "Sealing"): etcd never holds a key in the clear. AES-256-GCM (swift-crypto) with the
// cluster's `ha.seal_key` (32 random octets, a file only its owner may read, on
// routing-capable nodes only; `scripts/cluster-ca seal-key DIR` makes one).
//
//     value = version (1) | key id (4) | nonce (12, random) | ciphertext | tag (16)
//     AAD   = version | key id | the full etcd key (UTF-8)
//
// The key id (the first 4 octets of SHA-256 of the key) tells a record sealed with another
// key from a tampered one. The etcd key in the AAD binds a value to where it was written:
// a blob moved to another key (another IKE_SA's) does not open. Plaintexts come back as
// `SecretBytes`; the copy swift-crypto returns is zeroed.
import Crypto
import Foundation
import Glibc
import Secrets

/// Why a value could not be sealed or opened, or a seal key not read. Never holds key material.
public enum SealError: Error, Equatable, CustomStringConvertible {
    case keyLength(Int)
    case keyFile(path: String, reason: String)
    case tooShort(Int)
    case unsupportedVersion(UInt8)
    /// Sealed with a key whose id is this (hex), not ours.
    case otherKey(String)
    /// The tag did not verify: tampered, or moved to another etcd key.
    case authenticationFailed

    public var description: String {
        switch self {
        case .keyLength(let count): return "seal key has \(count) octets, needs \(RecordSealer.keyLength)"
        case .keyFile(let path, let reason): return "seal key \(path): \(reason)"
        case .tooShort(let count): return "sealed value of \(count) octets is too short"
        case .unsupportedVersion(let version): return "sealed value version \(version) not supported"
        case .otherKey(let id): return "sealed with another seal key (id \(id))"
        case .authenticationFailed: return "sealed value does not authenticate (tampered, or not written under this etcd key)"
        }
    }
}

/// Seals and opens values with one cluster seal key.
public struct RecordSealer: Sendable {
    public static let keyLength = 32
    static let version: UInt8 = 1
    static let nonceLength = 12
    static let tagLength = 16
    static let headerLength = 1 + 4

    private let key: SymmetricKey
    /// The first 4 octets of SHA-256 of the key: names the key without revealing it.
    public let keyID: [UInt8]

    public init(key: SecretBytes) throws {
        guard key.count == Self.keyLength else { throw SealError.keyLength(key.count) }
        self.key = key.withUnsafeBytes { SymmetricKey(data: $0) }
        keyID = Array(key.withUnsafeBytes { SHA256.hash(data: $0) }.prefix(4))
    }

    /// Reads the key file: exactly 32 octets, a regular file group and others cannot access.
    public init(keyFile path: String) throws {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw SealError.keyFile(path: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw SealError.keyFile(path: path, reason: "not a regular file")
        }
        let mode = UInt32(info.st_mode) & 0o777
        guard mode & 0o077 == 0 else {
            throw SealError.keyFile(path: path, reason: "mode 0\(String(mode, radix: 8)): group or others may access it; run: chmod 600 \(path)")
        }
        guard info.st_size == Self.keyLength else {
            throw SealError.keyFile(path: path, reason: "\(info.st_size) octets, needs \(Self.keyLength) (scripts/cluster-ca seal-key makes one)")
        }
        var got = 0
        let key = SecretBytes(count: Self.keyLength) { raw in
            got = read(descriptor, raw.baseAddress, Self.keyLength)
        }
        guard got == Self.keyLength else { throw SealError.keyFile(path: path, reason: "short read") }
        try self.init(key: key)
    }

    func associatedData(etcdKey: String) -> [UInt8] {
        [Self.version] + keyID + Array(etcdKey.utf8)
    }

    /// The sealed value to store under `etcdKey`.
    public func seal(_ plaintext: some ContiguousOctets, etcdKey: String) throws -> [UInt8] {
        let box = try plaintext.withUnsafeBytes { raw in
            try AES.GCM.seal(raw, using: key, authenticating: associatedData(etcdKey: etcdKey))
        }
        return [Self.version] + keyID + Array(box.nonce) + Array(box.ciphertext) + Array(box.tag)
    }

    /// The plaintext of a value read from `etcdKey`.
    public func open(_ sealed: [UInt8], etcdKey: String) throws -> SecretBytes {
        guard sealed.count >= Self.headerLength + Self.nonceLength + Self.tagLength else { throw SealError.tooShort(sealed.count) }
        guard sealed[0] == Self.version else { throw SealError.unsupportedVersion(sealed[0]) }
        let id = Array(sealed[1..<5])
        guard id == keyID else { throw SealError.otherKey(id.map { String(format: "%02x", $0) }.joined()) }
        let nonceEnd = Self.headerLength + Self.nonceLength
        var plaintext: Data
        do {
            let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: sealed[Self.headerLength..<nonceEnd]),
                                            ciphertext: sealed[nonceEnd..<(sealed.count - Self.tagLength)],
                                            tag: sealed[(sealed.count - Self.tagLength)...])
            plaintext = try AES.GCM.open(box, using: key, authenticating: associatedData(etcdKey: etcdKey))
        } catch {
            throw SealError.authenticationFailed
        }
        defer { plaintext.resetBytes(in: 0..<plaintext.count) }
        return plaintext.withUnsafeBytes { SecretBytes(copying: $0) }
    }
}
