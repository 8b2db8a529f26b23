// Full ESP protection with OpenSSL's AEAD and CBC + HMAC, independent of the peek code: the
// tests seal real packets with it, the benchmark uses `open` as the naive reference (and it
// is what an "under attack" mode, INBOUND.md §3 option A, would run: full ICV verification at
// the routing node). Contexts keyed once per SA; the IV is set per packet.
//
// AAD (RFC 4106 §5, RFC 7634 §2.1): SPI ‖ sequence number (low 32), or with ESN
// SPI ‖ high 32 ‖ low 32. CBC ICV (RFC 4303 §2.8, RFC 4868): HMAC over
// SPI ‖ sequence (low) ‖ IV ‖ ciphertext [‖ high 32 with ESN], truncated.

import COpenSSL
import Inbound
import Secrets

public enum ESPReferenceError: Error, Equatable {
    case unsupported
    case backend(String)
    case integrityCheckFailed
}

public final class ESPReferenceCipher {
    public let suite: ESPCipherSuite
    public let extendedSequenceNumbers: Bool
    private let encryptContext: OpaquePointer
    private let decryptContext: OpaquePointer
    private let salt: [UInt8]
    private let integrityKey: SecretBytes

    /// `encryptionKey`: key ‖ salt (AEAD) or key (CBC); `integrityKey`: the HMAC key (CBC only).
    public init(suite: ESPCipherSuite, encryptionKey: SecretBytes, integrityKey: SecretBytes = SecretBytes([]),
                extendedSequenceNumbers: Bool = false) throws {
        self.suite = suite
        self.extendedSequenceNumbers = extendedSequenceNumbers
        self.integrityKey = integrityKey
        let cipher: OpaquePointer?
        switch suite {
        case .aesGCM16(16): cipher = EVP_aes_128_gcm()
        case .aesGCM16(32): cipher = EVP_aes_256_gcm()
        case .chacha20Poly1305: cipher = EVP_chacha20_poly1305()
        case .aesCBC(16, _): cipher = EVP_aes_128_cbc()
        case .aesCBC(32, _): cipher = EVP_aes_256_cbc()
        default: throw ESPReferenceError.unsupported
        }
        guard encryptionKey.count == suite.keyLength + suite.saltLength else { throw ESPReferenceError.unsupported }
        salt = encryptionKey.withUnsafeBytes { Array($0.suffix(suite.saltLength)) }
        guard let e = EVP_CIPHER_CTX_new(), let d = EVP_CIPHER_CTX_new() else { throw ESPReferenceError.backend("ctx") }
        encryptContext = e
        decryptContext = d
        let ok = encryptionKey.withUnsafeBytes { raw -> Bool in
            let key = raw.bindMemory(to: UInt8.self).baseAddress
            return EVP_CipherInit_ex(e, cipher, nil, key, nil, 1) == 1 && EVP_CipherInit_ex(d, cipher, nil, key, nil, 0) == 1
        }
        guard ok else { throw ESPReferenceError.backend("init") }
        if case .aesCBC = suite {
            EVP_CIPHER_CTX_set_padding(e, 0)
            EVP_CIPHER_CTX_set_padding(d, 0)
        }
    }

    deinit {
        EVP_CIPHER_CTX_free(encryptContext)
        EVP_CIPHER_CTX_free(decryptContext)
    }

    private var isAEAD: Bool {
        switch suite {
        case .aesGCM16, .chacha20Poly1305: return true
        default: return false
        }
    }

    private func aad(spi: UInt32, sequence: UInt64) -> [UInt8] {
        var bytes = PacketBuilder.espHeader(spi: spi, sequenceNumber: UInt32(truncatingIfNeeded: sequence))
        if extendedSequenceNumbers {
            let high = PacketBuilder.espHeader(spi: UInt32(truncatingIfNeeded: sequence >> 32), sequenceNumber: 0)
            bytes = Array(bytes[0..<4]) + Array(high[0..<4]) + Array(bytes[4..<8])
        }
        return bytes
    }

    /// The ESP packet from the ESP header on: SPI ‖ seq ‖ IV ‖ ciphertext ‖ ICV.
    public func seal(spi: UInt32, sequence: UInt64, iv: [UInt8], plaintext: [UInt8]) throws -> [UInt8] {
        precondition(iv.count == suite.ivLength)
        let header = PacketBuilder.espHeader(spi: spi, sequenceNumber: UInt32(truncatingIfNeeded: sequence))
        var ciphertext = [UInt8](repeating: 0, count: plaintext.count)
        var length: Int32 = 0
        if isAEAD {
            let nonce = salt + iv
            var tag = [UInt8](repeating: 0, count: 16)
            let associated = aad(spi: spi, sequence: sequence)
            guard EVP_EncryptInit_ex(encryptContext, nil, nil, nil, nonce) == 1,
                  EVP_EncryptUpdate(encryptContext, nil, &length, associated, Int32(associated.count)) == 1,
                  EVP_EncryptUpdate(encryptContext, &ciphertext, &length, plaintext, Int32(plaintext.count)) == 1,
                  EVP_EncryptFinal_ex(encryptContext, &tag, &length) == 1,
                  EVP_CIPHER_CTX_ctrl(encryptContext, EVP_CTRL_AEAD_GET_TAG, 16, &tag) == 1
            else { throw ESPReferenceError.backend("AEAD seal") }
            return header + iv + ciphertext + tag
        }
        guard EVP_EncryptInit_ex(encryptContext, nil, nil, nil, iv) == 1,
              EVP_EncryptUpdate(encryptContext, &ciphertext, &length, plaintext, Int32(plaintext.count)) == 1
        else { throw ESPReferenceError.backend("CBC seal") }
        let icv = try hmac(header + iv + ciphertext, sequence: sequence)
        return header + iv + ciphertext + icv
    }

    /// Verifies and decrypts `esp` (from the ESP header on); `sequence`'s high 32 bits are the
    /// ESN high half (the low half is read from the packet). Returns the plaintext length
    /// written into `output` (room for the ciphertext).
    public func open(_ esp: UnsafeRawBufferPointer, sequence: UInt64, into output: UnsafeMutableRawPointer) throws -> Int {
        let ivLength = suite.ivLength, icvLength = suite.icvLength
        let ciphertextLength = esp.count - 8 - ivLength - icvLength
        guard ciphertextLength >= 0 else { throw ESPReferenceError.integrityCheckFailed }
        let base = esp.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let ciphertext = base + 8 + ivLength
        var length: Int32 = 0
        if isAEAD {
            var nonce = salt + Array(UnsafeRawBufferPointer(rebasing: esp[8..<16]))
            // The low 32 bits come from the packet; `sequence` supplies the ESN high half.
            let associated = aad(spi: esp.be32(0), sequence: sequence & 0xFFFF_FFFF_0000_0000 | UInt64(esp.be32(4)))
            var tag = Array(UnsafeRawBufferPointer(rebasing: esp[(esp.count - 16)...]))
            guard EVP_DecryptInit_ex(decryptContext, nil, nil, nil, &nonce) == 1,
                  EVP_DecryptUpdate(decryptContext, nil, &length, associated, Int32(associated.count)) == 1,
                  EVP_DecryptUpdate(decryptContext, output.assumingMemoryBound(to: UInt8.self), &length, ciphertext,
                                    Int32(ciphertextLength)) == 1,
                  EVP_CIPHER_CTX_ctrl(decryptContext, EVP_CTRL_AEAD_SET_TAG, 16, &tag) == 1
            else { throw ESPReferenceError.backend("AEAD open") }
            guard EVP_DecryptFinal_ex(decryptContext, output.assumingMemoryBound(to: UInt8.self) + Int(length), &length) == 1 else {
                ERR_clear_error()
                throw ESPReferenceError.integrityCheckFailed
            }
            return ciphertextLength
        }
        let expected = try hmac(Array(UnsafeRawBufferPointer(rebasing: esp[0..<(esp.count - icvLength)])), sequence: sequence)
        let received = UnsafeRawBufferPointer(rebasing: esp[(esp.count - icvLength)...])
        guard expected.withUnsafeBytes({ constantTimeEquals($0, received) }) else { throw ESPReferenceError.integrityCheckFailed }
        guard EVP_DecryptInit_ex(decryptContext, nil, nil, nil, base + 8) == 1,
              EVP_DecryptUpdate(decryptContext, output.assumingMemoryBound(to: UInt8.self), &length, ciphertext,
                                Int32(ciphertextLength)) == 1
        else { throw ESPReferenceError.backend("CBC open") }
        return ciphertextLength
    }

    private func hmac(_ data: [UInt8], sequence: UInt64) throws -> [UInt8] {
        guard case .aesCBC(_, let integrity) = suite else { throw ESPReferenceError.unsupported }
        let md: OpaquePointer?
        switch integrity {
        case .hmacSHA1_96: md = EVP_sha1()
        case .hmacSHA256_128: md = EVP_sha256()
        case .hmacSHA384_192: md = EVP_sha384()
        case .hmacSHA512_256: md = EVP_sha512()
        }
        var input = data
        if extendedSequenceNumbers {
            let high = UInt32(truncatingIfNeeded: sequence >> 32)
            input += [UInt8(high >> 24), UInt8(high >> 16 & 0xFF), UInt8(high >> 8 & 0xFF), UInt8(high & 0xFF)]
        }
        var out = [UInt8](repeating: 0, count: 64)
        var outLength: UInt32 = 0
        let ok = integrityKey.withUnsafeBytes { key in
            HMAC(md, key.baseAddress, Int32(key.count), input, input.count, &out, &outLength) != nil
        }
        guard ok else { throw ESPReferenceError.backend("HMAC") }
        return Array(out.prefix(integrity.icvLength))
    }
}

extension UnsafeRawBufferPointer {
    func be32(_ i: Int) -> UInt32 {
        UInt32(self[i]) << 24 | UInt32(self[i + 1]) << 16 | UInt32(self[i + 2]) << 8 | UInt32(self[i + 3])
    }
}
