// The raw AEAD primitives (AES-GCM with a 16-octet tag, ChaCha20-Poly1305) over OpenSSL's
// EVP_CIPHER, with a 12-octet nonce: used by the SK payload protection, and usable by the
// ESP side (the routing node's partial decryption) and the known-answer tests.

import COpenSSL
import IKEv2

/// One-shot AEAD seal/open with OpenSSL. Tags are 16 octets.
public enum OpenSSLAEAD {
    /// The AEAD ciphers.
    public enum Cipher: Sendable {
        case aesGCM, chacha20Poly1305

        func evpCipher(keyLength: Int) throws -> OpaquePointer {
            let cipher: OpaquePointer?
            switch (self, keyLength) {
            // Fetched once (OpenSSLContexts.swift); the legacy by-name objects otherwise.
            case (.aesGCM, 16): cipher = OpenSSLAlgorithms.aes128GCM ?? EVP_aes_128_gcm()
            case (.aesGCM, 24): cipher = OpenSSLAlgorithms.aes192GCM ?? EVP_aes_192_gcm()
            case (.aesGCM, 32): cipher = OpenSSLAlgorithms.aes256GCM ?? EVP_aes_256_gcm()
            case (.chacha20Poly1305, 32): cipher = OpenSSLAlgorithms.chacha20Poly1305 ?? EVP_chacha20_poly1305()
            default:
                // AES-GCM takes 16, 24 or 32 octets; the error names the 256-bit size both share.
                throw IKECryptoError.invalidKeyLength(algorithm: "\(self)", expected: 32, actual: keyLength)
            }
            return try check(cipher, "EVP cipher lookup")
        }
    }

    /// The tag length of both AEADs here.
    public static let tagLength = 16
    /// The nonce length of both AEADs here (RFC 5282 / RFC 7634: 4-octet salt | 8-octet IV).
    public static let nonceLength = 12

    /// Encrypts `plaintext` and authenticates it with `associatedData`; returns ciphertext | tag.
    public static func seal(_ cipher: Cipher, key: some ContiguousOctets, nonce: [UInt8],
                            associatedData: [UInt8], plaintext: [UInt8]) throws -> [UInt8] {
        guard nonce.count == nonceLength else { throw IKECryptoError.invalidLength(what: "AEAD nonce", requested: nonce.count) }
        let context = try check(EVP_CIPHER_CTX_new(), "EVP_CIPHER_CTX_new")
        defer { EVP_CIPHER_CTX_free(context) }
        try key.withUnsafeBytes { k in
            try check(EVP_EncryptInit_ex(context, try cipher.evpCipher(keyLength: k.count), nil, nil, nil), "EVP_EncryptInit_ex")
            try check(EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_IVLEN, Int32(nonceLength), nil), "EVP_CTRL_AEAD_SET_IVLEN")
            try check(EVP_EncryptInit_ex(context, nil, nil, k.bindMemory(to: UInt8.self).baseAddress, nonce), "EVP_EncryptInit_ex(key)")
        }
        var length: Int32 = 0
        if !associatedData.isEmpty {
            try check(EVP_EncryptUpdate(context, nil, &length, associatedData, Int32(associatedData.count)), "EVP_EncryptUpdate(AAD)")
        }
        var output = [UInt8](repeating: 0, count: plaintext.count + tagLength)
        var produced = 0
        if !plaintext.isEmpty {
            try check(EVP_EncryptUpdate(context, &output, &length, plaintext, Int32(plaintext.count)), "EVP_EncryptUpdate")
            produced = Int(length)
        }
        try output.withUnsafeMutableBufferPointer { buffer in
            try check(EVP_EncryptFinal_ex(context, buffer.baseAddress! + produced, &length), "EVP_EncryptFinal_ex")
        }
        produced += Int(length)
        guard produced == plaintext.count else { throw IKECryptoError.backend(operation: "AEAD seal", detail: "short output") }
        try output.withUnsafeMutableBufferPointer { buffer in
            try check(EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, Int32(tagLength), buffer.baseAddress! + produced), "EVP_CTRL_AEAD_GET_TAG")
        }
        return output
    }

    /// Verifies and decrypts ciphertext | tag. Throws `integrityCheckFailed` when the tag does
    /// not match (any change to key, nonce, associated data, ciphertext or tag).
    public static func open(_ cipher: Cipher, key: some ContiguousOctets, nonce: [UInt8],
                            associatedData: [UInt8], sealed: ArraySlice<UInt8>) throws -> [UInt8] {
        guard nonce.count == nonceLength else { throw IKECryptoError.invalidLength(what: "AEAD nonce", requested: nonce.count) }
        guard sealed.count >= tagLength else { throw IKECryptoError.malformedCiphertext(reason: "shorter than the ICV") }
        let ciphertext = Array(sealed.dropLast(tagLength))
        var tag = Array(sealed.suffix(tagLength))
        let context = try check(EVP_CIPHER_CTX_new(), "EVP_CIPHER_CTX_new")
        defer { EVP_CIPHER_CTX_free(context) }
        try key.withUnsafeBytes { k in
            try check(EVP_DecryptInit_ex(context, try cipher.evpCipher(keyLength: k.count), nil, nil, nil), "EVP_DecryptInit_ex")
            try check(EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_IVLEN, Int32(nonceLength), nil), "EVP_CTRL_AEAD_SET_IVLEN")
            try check(EVP_DecryptInit_ex(context, nil, nil, k.bindMemory(to: UInt8.self).baseAddress, nonce), "EVP_DecryptInit_ex(key)")
        }
        var length: Int32 = 0
        if !associatedData.isEmpty {
            try check(EVP_DecryptUpdate(context, nil, &length, associatedData, Int32(associatedData.count)), "EVP_DecryptUpdate(AAD)")
        }
        var output = [UInt8](repeating: 0, count: ciphertext.count + tagLength)
        var produced = 0
        if !ciphertext.isEmpty {
            try check(EVP_DecryptUpdate(context, &output, &length, ciphertext, Int32(ciphertext.count)), "EVP_DecryptUpdate")
            produced = Int(length)
        }
        try check(EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, Int32(tagLength), &tag), "EVP_CTRL_AEAD_SET_TAG")
        let verified = output.withUnsafeMutableBufferPointer { buffer in
            EVP_DecryptFinal_ex(context, buffer.baseAddress! + produced, &length)
        }
        guard verified == 1 else {
            ERR_clear_error()
            wipe(&output)
            throw IKECryptoError.integrityCheckFailed
        }
        produced += Int(length)
        return Array(output.prefix(produced))
    }
}
