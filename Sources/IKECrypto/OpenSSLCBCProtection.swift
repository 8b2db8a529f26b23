// The SK payload with AES-CBC (RFC 3602) and HMAC-SHA2 truncated (RFC 4868): encrypt, then
// MAC from the first octet of the IKE header to the end of the ciphertext (RFC 7296 3.14).

import COpenSSL
import IKEv2

/// SK payload protection with AES-CBC + AUTH_HMAC_SHA2_*.
///
/// The IV is 16 random octets per message; `payloads | Padding | Pad Length` is a multiple
/// of 16; the ICV is HMAC(SK_a, associatedData | IV | ciphertext) truncated to half the digest.
/// `open` checks the ICV (constant time) before decrypting anything.
public final class OpenSSLCBCProtection: EncryptedPayloadProtection {
    public let suite: EncryptionSuite
    public let ivLength = 16
    public let blockSize = 16
    public let icvLength: Int
    private let encryptionKey: SecretBytes
    private let integrityKey: SecretBytes
    private let digest: SHA2Digest

    public init(suite: EncryptionSuite, encryptionKey: SecretBytes, integrityKey: SecretBytes) throws {
        try suite.validate()
        guard suite.encryption == .aesCBC, let keyLength = suite.encryptionKeyLength,
              let integrityLength = suite.integrityKeyLength, let icv = suite.icvLength
        else { throw IKECryptoError.unsupportedEncryptionSuite(suite) }
        guard encryptionKey.count == keyLength else {
            throw IKECryptoError.invalidKeyLength(algorithm: "\(suite.encryption)", expected: keyLength, actual: encryptionKey.count)
        }
        guard integrityKey.count == integrityLength else {
            throw IKECryptoError.invalidKeyLength(algorithm: "\(suite.integrity)", expected: integrityLength, actual: integrityKey.count)
        }
        switch suite.integrity {
        case .hmacSHA2_256_128: digest = .sha256
        case .hmacSHA2_384_192: digest = .sha384
        default: digest = .sha512
        }
        self.suite = suite
        icvLength = icv
        self.encryptionKey = encryptionKey
        self.integrityKey = integrityKey
    }

    public func seal(plaintext: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        let iv = try openSSLRandomBytes(count: ivLength)
        let padding = paddingLength(plaintextLength: plaintext.count)
        var padded = plaintext + [UInt8](repeating: 0, count: padding) + [UInt8(padding)]
        defer { wipe(&padded) }
        let ciphertext = try crypt(padded, iv: iv, encrypt: true)
        let icv = try integrityCheckValue(associatedData + iv + ciphertext)
        return iv + ciphertext + icv
    }

    public func open(_ sealed: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        let ciphertextLength = sealed.count - ivLength - icvLength
        guard ciphertextLength >= blockSize, ciphertextLength % blockSize == 0 else {
            throw IKECryptoError.malformedCiphertext(reason: "\(sealed.count) octets: ciphertext not a positive multiple of \(blockSize)")
        }
        let covered = Array(sealed.dropLast(icvLength))
        let expected = try integrityCheckValue(associatedData + covered)
        guard constantTimeEquals(expected, Array(sealed.suffix(icvLength))) else { throw IKECryptoError.integrityCheckFailed }
        let iv = Array(sealed.prefix(ivLength))
        var padded = try crypt(Array(covered.dropFirst(ivLength)), iv: iv, encrypt: false)
        defer { wipe(&padded) }
        return try removePadding(padded)
    }

    private func integrityCheckValue(_ data: [UInt8]) throws -> [UInt8] {
        let mac = try integrityKey.withUnsafeBytes { k in try data.withUnsafeBytes { d in try hmac(digest, key: k, data: d) } }
        return Array(mac.unprotectedCopy().prefix(icvLength))
    }

    /// AES-CBC without OpenSSL's own padding (the input is already block aligned).
    private func crypt(_ input: [UInt8], iv: [UInt8], encrypt: Bool) throws -> [UInt8] {
        let context = try check(EVP_CIPHER_CTX_new(), "EVP_CIPHER_CTX_new")
        defer { EVP_CIPHER_CTX_free(context) }
        let cipher: OpaquePointer?
        switch encryptionKey.count {
        case 16: cipher = EVP_aes_128_cbc()
        case 24: cipher = EVP_aes_192_cbc()
        default: cipher = EVP_aes_256_cbc()
        }
        try encryptionKey.withUnsafeBytes { k in
            try check(EVP_CipherInit_ex(context, cipher, nil, k.bindMemory(to: UInt8.self).baseAddress, iv, encrypt ? 1 : 0), "EVP_CipherInit_ex")
        }
        try check(EVP_CIPHER_CTX_set_padding(context, 0), "EVP_CIPHER_CTX_set_padding")
        var output = [UInt8](repeating: 0, count: input.count + blockSize)
        var length: Int32 = 0
        try check(EVP_CipherUpdate(context, &output, &length, input, Int32(input.count)), "EVP_CipherUpdate")
        var produced = Int(length)
        try output.withUnsafeMutableBufferPointer { buffer in
            try check(EVP_CipherFinal_ex(context, buffer.baseAddress! + produced, &length), "EVP_CipherFinal_ex")
        }
        produced += Int(length)
        guard produced == input.count else { throw IKECryptoError.backend(operation: "AES-CBC", detail: "output length \(produced)") }
        return Array(output.prefix(produced))
    }
}
