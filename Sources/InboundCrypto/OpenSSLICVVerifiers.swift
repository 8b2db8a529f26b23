// Full ICV verification with OpenSSL, for `verify = always | under-attack` (ICVVerification
// in Inbound). Every context is keyed once per SA (in `addSA`); per packet only the nonce
// (AEAD) or nothing (HMAC: EVP_MAC_init with a NULL key keeps the key) is set. The
// contexts are freed, and with them the key schedules cleansed, when the SA is removed.
//
// AEAD (RFC 4106 §5, RFC 7634 §2.1): nonce = salt ‖ IV, AAD = SPI ‖ seq (low 32), with ESN
// SPI ‖ seq high ‖ seq low; the ciphertext is decrypted (into a small scratch, in chunks:
// the plaintext is not kept) because GCM and Poly1305 authenticate the ciphertext only
// through the decryption call. CBC (RFC 4303 §2.8, RFC 3602, RFC 4868, RFC 2404): HMAC over
// SPI ‖ seq ‖ IV ‖ ciphertext [‖ seq high with ESN], truncated, compared in constant time.

import COpenSSL
import Inbound
import Secrets

extension OpenSSLPeekerFactory {
    public func makeVerifier(for sa: InboundSA) throws -> ESPICVVerifier {
        switch sa.suite {
        case .aesGCM16(let keyLength):
            return try AEADVerifier(keymat: sa.encryptionKey, cipher: keyLength == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm(),
                                    keyLength: keyLength, extended: sa.extendedSequenceNumbers)
        case .chacha20Poly1305:
            return try AEADVerifier(keymat: sa.encryptionKey, cipher: EVP_chacha20_poly1305(), keyLength: 32,
                                    extended: sa.extendedSequenceNumbers)
        case .aesCBC(_, let integrity), .null(let integrity):
            return try HMACVerifier(key: sa.integrityKey, integrity: integrity, extended: sa.extendedSequenceNumbers)
        }
    }
}

/// AES-GCM-16 (RFC 4106) and ChaCha20-Poly1305 (RFC 7634): 16-octet tag, 8-octet IV, 4-octet salt.
final class AEADVerifier: ESPICVVerifier {
    private let context: OpaquePointer
    private var salt: (UInt8, UInt8, UInt8, UInt8)
    private let extended: Bool
    /// Plaintext goes here and is overwritten by the next chunk (never read).
    private let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: AEADVerifier.chunk)
    static let chunk = 2048

    init(keymat: SecretBytes, cipher: OpaquePointer?, keyLength: Int, extended: Bool) throws {
        guard keyLength == 16 || keyLength == 32, keymat.count == keyLength + 4 else {
            throw InboundSAError.keyLength(expected: keyLength + 4, actual: keymat.count)
        }
        guard let context = EVP_CIPHER_CTX_new() else { throw InboundSAError.backend("EVP_CIPHER_CTX_new") }
        let ok = keymat.withUnsafeBytes { raw -> Bool in
            EVP_DecryptInit_ex(context, cipher, nil, raw.bindMemory(to: UInt8.self).baseAddress, nil) == 1
        }
        guard ok else {
            EVP_CIPHER_CTX_free(context)
            ERR_clear_error()
            throw InboundSAError.backend("AEAD init")
        }
        self.context = context
        salt = keymat.withUnsafeBytes { ($0[keyLength], $0[keyLength + 1], $0[keyLength + 2], $0[keyLength + 3]) }
        self.extended = extended
    }

    deinit {
        EVP_CIPHER_CTX_free(context)
        scratch.update(repeating: 0, count: Self.chunk)
        scratch.deallocate()
        salt = (0, 0, 0, 0)
    }

    func verify(_ esp: UnsafeRawBufferPointer, sequence: UInt64) -> Bool {
        let ciphertextLength = esp.count - 8 - 8 - 16
        guard ciphertextLength >= 0 else { return false }
        let base = esp.baseAddress!.assumingMemoryBound(to: UInt8.self)
        // nonce = salt ‖ IV; AAD = SPI ‖ [seq high ‖] seq low.
        var nonce: (UInt64, UInt32) = (0, 0)
        var aad: (UInt32, UInt32, UInt32) = (0, 0, 0)
        var length: Int32 = 0
        let ok = withUnsafeMutableBytes(of: &nonce) { n -> Bool in
            n[0] = salt.0; n[1] = salt.1; n[2] = salt.2; n[3] = salt.3
            n.baseAddress!.advanced(by: 4).copyMemory(from: base + 8, byteCount: 8)
            return withUnsafeMutableBytes(of: &aad) { a -> Bool in
                a.baseAddress!.copyMemory(from: base, byteCount: 4)
                var aadLength = 8
                if extended {
                    let high = UInt32(truncatingIfNeeded: sequence >> 32).bigEndian
                    a.storeBytes(of: high, toByteOffset: 4, as: UInt32.self)
                    a.baseAddress!.advanced(by: 8).copyMemory(from: base + 4, byteCount: 4)
                    aadLength = 12
                } else {
                    a.baseAddress!.advanced(by: 4).copyMemory(from: base + 4, byteCount: 4)
                }
                return EVP_DecryptInit_ex(context, nil, nil, nil, n.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 1
                    && EVP_DecryptUpdate(context, nil, &length, a.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                         Int32(aadLength)) == 1
            }
        }
        guard ok else { ERR_clear_error(); return false }
        var offset = 0
        while offset < ciphertextLength {
            let count = min(Self.chunk, ciphertextLength - offset)
            guard EVP_DecryptUpdate(context, scratch, &length, base + 16 + offset, Int32(count)) == 1 else {
                ERR_clear_error()
                return false
            }
            offset += count
        }
        let tag = UnsafeMutableRawPointer(mutating: base + esp.count - 16)
        guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, 16, tag) == 1,
              EVP_DecryptFinal_ex(context, scratch, &length) == 1 else {
            ERR_clear_error()
            return false
        }
        return true
    }
}

/// HMAC-SHA1-96 / HMAC-SHA2-256-128 / -384-192 / -512-256 beside AES-CBC or ENCR_NULL.
final class HMACVerifier: ESPICVVerifier {
    nonisolated(unsafe) static let hmac: OpaquePointer? = EVP_MAC_fetch(nil, "HMAC", nil)
    private let context: OpaquePointer
    private let icvLength: Int
    private let extended: Bool

    init(key: SecretBytes, integrity: ESPIntegrity, extended: Bool) throws {
        let digest: StaticString
        switch integrity {
        case .hmacSHA1_96: digest = "SHA1"
        case .hmacSHA256_128: digest = "SHA256"
        case .hmacSHA384_192: digest = "SHA384"
        case .hmacSHA512_256: digest = "SHA512"
        }
        guard key.count > 0 else { throw InboundSAError.keyLength(expected: integrity.icvLength * 2, actual: 0) }
        guard let mac = Self.hmac, let context = EVP_MAC_CTX_new(mac) else { throw InboundSAError.backend("EVP_MAC_CTX_new") }
        let ok = digest.withUTF8Buffer { utf8 -> Bool in
            var params = [
                OSSL_PARAM_construct_utf8_string("digest", UnsafeMutableRawPointer(mutating: utf8.baseAddress!)
                    .assumingMemoryBound(to: CChar.self), 0),
                OSSL_PARAM_construct_end(),
            ]
            return EVP_MAC_CTX_set_params(context, &params) == 1
        } && key.withUnsafeBytes { k in
            EVP_MAC_init(context, k.baseAddress!.assumingMemoryBound(to: UInt8.self), k.count, nil) == 1
        }
        guard ok else {
            EVP_MAC_CTX_free(context)
            ERR_clear_error()
            throw InboundSAError.backend("HMAC init")
        }
        self.context = context
        icvLength = integrity.icvLength
        self.extended = extended
    }

    deinit { EVP_MAC_CTX_free(context) }

    func verify(_ esp: UnsafeRawBufferPointer, sequence: UInt64) -> Bool {
        let covered = esp.count - icvLength
        guard covered >= 8 else { return false }
        let base = esp.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var high = UInt32(truncatingIfNeeded: sequence >> 32).bigEndian
        var out: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        var produced = 0
        let ok = withUnsafeMutableBytes(of: &out) { o -> Bool in
            let digest = o.baseAddress!.assumingMemoryBound(to: UInt8.self)
            // A NULL key re-initialises with the key set once in `init`.
            guard EVP_MAC_init(context, nil, 0, nil) == 1, EVP_MAC_update(context, base, covered) == 1 else { return false }
            if extended {
                guard withUnsafeBytes(of: &high, { EVP_MAC_update(context, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), 4) }) == 1
                else { return false }
            }
            guard EVP_MAC_final(context, digest, &produced, 64) == 1, produced >= icvLength else { return false }
            return CRYPTO_memcmp(digest, base + covered, icvLength) == 0
        }
        if !ok { ERR_clear_error() }
        return ok
    }
}
