// The SK payload with an AEAD: AES-GCM-16 (RFC 5282) and ChaCha20-Poly1305 (RFC 7634).

import COpenSSL
import IKEv2

/// SK payload protection with an AEAD.
///
/// SK_e is key | 4-octet salt; the nonce is salt | the 8-octet explicit IV carried in the
/// payload; the AAD is the IKE header through the SK generic payload header (RFC 5282 5.1).
/// The explicit IV is a 64-bit counter starting at a random value, so it never repeats
/// under one key within an instance (RFC 5282 3.1: the IV MUST NOT repeat for a key).
public final class OpenSSLAEADProtection: EncryptedPayloadProtection {
    public let suite: EncryptionSuite
    public let ivLength = 8
    public let blockSize = 1
    public let icvLength = OpenSSLAEAD.tagLength
    private let cipher: OpenSSLAEAD.Cipher
    private let key: SecretBytes
    private let salt: SecretBytes
    private var nextIV: UInt64

    /// - Parameter encryptionKey: `suite.encryptionKeyLength` octets (cipher key | salt).
    public init(suite: EncryptionSuite, encryptionKey: SecretBytes) throws {
        try suite.validate()
        guard suite.encryption.isAEAD, let keyLength = suite.cipherKeyLength, let total = suite.encryptionKeyLength else {
            throw IKECryptoError.unsupportedEncryptionSuite(suite)
        }
        guard encryptionKey.count == total else {
            throw IKECryptoError.invalidKeyLength(algorithm: "\(suite)", expected: total, actual: encryptionKey.count)
        }
        self.suite = suite
        cipher = suite.encryption == .aesGCM16 ? .aesGCM : .chacha20Poly1305
        key = encryptionKey.subrange(offset: 0, count: keyLength)
        salt = encryptionKey.subrange(offset: keyLength, count: suite.saltLength)
        let start = try openSSLRandomBytes(count: 8)
        nextIV = start.reduce(0) { $0 << 8 | UInt64($1) }
    }

    public func seal(plaintext: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        let iv = withUnsafeBytes(of: nextIV.bigEndian) { Array($0) }
        nextIV &+= 1
        let padding = paddingLength(plaintextLength: plaintext.count)
        var padded = plaintext + [UInt8](repeating: 0, count: padding) + [UInt8(padding)]
        defer { wipe(&padded) }
        var nonce = salt.unprotectedCopy() + iv
        defer { wipe(&nonce) }
        let sealed = try OpenSSLAEAD.seal(cipher, key: key, nonce: nonce, associatedData: associatedData, plaintext: padded)
        return iv + sealed
    }

    public func open(_ sealed: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        guard sealed.count >= ivLength + 1 + icvLength else {
            throw IKECryptoError.malformedCiphertext(reason: "\(sealed.count) octets, shorter than IV + pad length + ICV")
        }
        var nonce = salt.unprotectedCopy() + sealed.prefix(ivLength)
        defer { wipe(&nonce) }
        var padded = try OpenSSLAEAD.open(cipher, key: key, nonce: nonce, associatedData: associatedData,
                                          sealed: sealed.dropFirst(ivLength))
        defer { wipe(&padded) }
        return try removePadding(padded)
    }
}

/// Strips Padding | Pad Length from decrypted SK contents (RFC 7296 3.14); the pad length
/// must leave the payloads (possibly empty) inside the buffer.
func removePadding(_ padded: [UInt8]) throws -> [UInt8] {
    guard let padLength = padded.last else { throw IKECryptoError.malformedCiphertext(reason: "no Pad Length octet") }
    guard Int(padLength) + 1 <= padded.count else {
        throw IKECryptoError.malformedCiphertext(reason: "Pad Length \(padLength) exceeds the \(padded.count) decrypted octets")
    }
    return Array(padded.prefix(padded.count - Int(padLength) - 1))
}
