// Peek decryption with OpenSSL (claims 4-5, 21): only the blocks that hold the inner headers
// (and the trailer), no ICV check. Every AES context is keyed once per SA (no per-packet
// EVP init): AES-GCM = keystream AES_K(salt ‖ IV ‖ BE32(i + 2)) for plaintext block i
// (RFC 4106, SP 800-38D; counter 1 is J0, kept for the tag); AES-CBC = ECB-decrypt the block
// and XOR the previous ciphertext block or the IV (RFC 3602). The key schedules live in the
// EVP contexts, which EVP_CIPHER_CTX_free cleanses when the SA is removed; keys are never
// logged (SecretBytes prints as <redacted>).

import COpenSSL
import Inbound
import Secrets

/// How ChaCha20 keystream is made.
public enum ChaCha20Backend: Sendable {
    /// The Swift block function (no per-packet EVP init).
    case swift
    /// EVP_chacha20 re-initialised per packet with the counter and nonce.
    case openSSL
}

/// Makes the OpenSSL peeker of each SA's suite.
public struct OpenSSLPeekerFactory: ESPPeekerFactory {
    public var chacha20: ChaCha20Backend

    public init(chacha20: ChaCha20Backend = .swift) { self.chacha20 = chacha20 }

    public func makePeeker(for sa: InboundSA) throws -> ESPPeekDecryptor {
        switch sa.suite {
        case .aesGCM16(let keyLength): return try AESGCMPeeker(keymat: sa.encryptionKey, keyLength: keyLength)
        case .aesCBC(let keyLength, _): return try AESCBCPeeker(key: sa.encryptionKey, keyLength: keyLength)
        case .chacha20Poly1305:
            switch chacha20 {
            case .swift: return try ChaCha20Peeker(keymat: sa.encryptionKey)
            case .openSSL: return try EVPChaCha20Peeker(keymat: sa.encryptionKey)
            }
        case .null: return NullPeeker()
        }
    }
}

/// An AES-ECB context keyed once (`encrypt` true: for keystream; false: for CBC decryption).
func makeECBContext(key: SecretBytes, keyLength: Int, encrypt: Bool) throws -> OpaquePointer {
    guard key.count >= keyLength, keyLength == 16 || keyLength == 32 else {
        throw InboundSAError.keyLength(expected: keyLength, actual: key.count)
    }
    guard let context = EVP_CIPHER_CTX_new() else { throw InboundSAError.backend("EVP_CIPHER_CTX_new") }
    let cipher = keyLength == 16 ? EVP_aes_128_ecb() : EVP_aes_256_ecb()
    let ok = key.withUnsafeBytes { raw -> Bool in
        let k = raw.bindMemory(to: UInt8.self).baseAddress
        return EVP_CipherInit_ex(context, cipher, nil, k, nil, encrypt ? 1 : 0) == 1
            && EVP_CIPHER_CTX_set_padding(context, 0) == 1
    }
    guard ok else {
        EVP_CIPHER_CTX_free(context)
        ERR_clear_error()
        throw InboundSAError.backend("AES-ECB init")
    }
    return context
}

/// The most plaintext octets one chunk decrypts with fixed-size stack scratch (larger
/// ranges are done chunk by chunk).
let peekChunkSize = 256

/// Runs `body` over `range` in chunks of at most `peekChunkSize` octets, writing consecutively.
@inline(__always) func chunked(_ range: Range<Int>, into output: UnsafeMutableRawPointer,
                               _ body: (Range<Int>, UnsafeMutableRawPointer) -> Bool) -> Bool {
    var lower = range.lowerBound
    while lower < range.upperBound {
        let upper = min(range.upperBound, lower + peekChunkSize)
        guard body(lower..<upper, output + (lower - range.lowerBound)) else { return false }
        lower = upper
    }
    return true
}

/// Blocks `first...last` (16 octets) that cover plaintext `range`.
@inline(__always) func blockSpan(_ range: Range<Int>, _ size: Int) -> (first: Int, count: Int) {
    let first = range.lowerBound / size
    return (first, (range.upperBound - 1) / size - first + 1)
}

/// AES-GCM (RFC 4106): keystream from counter blocks through a keyed ECB context.
final class AESGCMPeeker: ESPPeekDecryptor {
    private let context: OpaquePointer
    private let salt: (UInt8, UInt8, UInt8, UInt8)

    init(keymat: SecretBytes, keyLength: Int) throws {
        guard keymat.count == keyLength + 4 else { throw InboundSAError.keyLength(expected: keyLength + 4, actual: keymat.count) }
        context = try makeECBContext(key: keymat, keyLength: keyLength, encrypt: true)
        salt = keymat.withUnsafeBytes { ($0[keyLength], $0[keyLength + 1], $0[keyLength + 2], $0[keyLength + 3]) }
    }

    deinit { EVP_CIPHER_CTX_free(context) }

    func peek(_ packet: UnsafeRawBufferPointer, layout: ESPLayout, range: Range<Int>,
              into output: UnsafeMutableRawPointer) -> Bool {
        chunked(range, into: output) { peekChunk(packet, layout: layout, range: $0, into: $1) }
    }

    /// Head and trailer in one ECB call (the usual tunnel/transport decision: 4 + 1-2 blocks).
    func peek(_ packet: UnsafeRawBufferPointer, layout: ESPLayout, head: Range<Int>, into headOutput: UnsafeMutableRawPointer,
              trailer: Range<Int>, into trailerOutput: UnsafeMutableRawPointer) -> Bool {
        let (headFirst, headCount) = blockSpan(head, 16), (trailerFirst, trailerCount) = blockSpan(trailer, 16)
        guard headCount + trailerCount <= 17 else {
            return peek(packet, layout: layout, range: head, into: headOutput)
                && peek(packet, layout: layout, range: trailer, into: trailerOutput)
        }
        return withUnsafeTemporaryAllocation(byteCount: 2 * (peekChunkSize + 32), alignment: 16) { scratch -> Bool in
            let total = headCount + trailerCount
            let counters = scratch.baseAddress!, keystream = counters + total * 16
            let iv = packet.baseAddress! + layout.ivOffset
            for b in 0..<total {
                let blockIndex = b < headCount ? headFirst + b : trailerFirst + (b - headCount)
                writeCounter(counters + b * 16, iv: iv, block: blockIndex)
            }
            var produced: Int32 = 0
            guard EVP_EncryptUpdate(context, keystream.assumingMemoryBound(to: UInt8.self), &produced,
                                    counters.assumingMemoryBound(to: UInt8.self), Int32(total * 16)) == 1,
                  produced == Int32(total * 16) else { ERR_clear_error(); return false }
            let ciphertext = packet.baseAddress! + layout.ciphertextOffset
            xor(ciphertext + head.lowerBound, keystream + (head.lowerBound - headFirst * 16), head.count, into: headOutput)
            xor(ciphertext + trailer.lowerBound, keystream + headCount * 16 + (trailer.lowerBound - trailerFirst * 16),
                trailer.count, into: trailerOutput)
            return true
        }
    }

    /// salt ‖ IV ‖ BE32(block + 2): the counter block of plaintext block `block`.
    @inline(__always) private func writeCounter(_ out: UnsafeMutableRawPointer, iv: UnsafeRawPointer, block: Int) {
        out.storeBytes(of: salt.0, toByteOffset: 0, as: UInt8.self)
        out.storeBytes(of: salt.1, toByteOffset: 1, as: UInt8.self)
        out.storeBytes(of: salt.2, toByteOffset: 2, as: UInt8.self)
        out.storeBytes(of: salt.3, toByteOffset: 3, as: UInt8.self)
        (out + 4).copyMemory(from: iv, byteCount: 8)
        out.storeBytes(of: UInt32(block + 2).bigEndian, toByteOffset: 12, as: UInt32.self)
    }

    private func peekChunk(_ packet: UnsafeRawBufferPointer, layout: ESPLayout, range: Range<Int>,
                           into output: UnsafeMutableRawPointer) -> Bool {
        let (first, count) = blockSpan(range, 16)
        // Constant size: stack scratch (17 blocks of counters and of keystream at most).
        return withUnsafeTemporaryAllocation(byteCount: 2 * (peekChunkSize + 32), alignment: 16) { scratch -> Bool in
            let counters = scratch.baseAddress!, keystream = counters + count * 16
            let iv = packet.baseAddress! + layout.ivOffset
            for b in 0..<count { writeCounter(counters + b * 16, iv: iv, block: first + b) }
            var produced: Int32 = 0
            guard EVP_EncryptUpdate(context, keystream.assumingMemoryBound(to: UInt8.self), &produced,
                                    counters.assumingMemoryBound(to: UInt8.self), Int32(count * 16)) == 1,
                  produced == Int32(count * 16) else { ERR_clear_error(); return false }
            xor(packet.baseAddress! + layout.ciphertextOffset + range.lowerBound,
                keystream + (range.lowerBound - first * 16), range.count, into: output)
            return true
        }
    }
}

/// AES-CBC (RFC 3602): P_i = D_K(C_i) ⊕ C_{i-1}, C_{-1} = the IV; any block on its own.
final class AESCBCPeeker: ESPPeekDecryptor {
    private let context: OpaquePointer

    init(key: SecretBytes, keyLength: Int) throws {
        guard key.count == keyLength else { throw InboundSAError.keyLength(expected: keyLength, actual: key.count) }
        context = try makeECBContext(key: key, keyLength: keyLength, encrypt: false)
    }

    deinit { EVP_CIPHER_CTX_free(context) }

    func peek(_ packet: UnsafeRawBufferPointer, layout: ESPLayout, range: Range<Int>,
              into output: UnsafeMutableRawPointer) -> Bool {
        chunked(range, into: output) { peekChunk(packet, layout: layout, range: $0, into: $1) }
    }

    /// Head and trailer in one ECB call: the trailer's blocks are copied after the head's.
    func peek(_ packet: UnsafeRawBufferPointer, layout: ESPLayout, head: Range<Int>, into headOutput: UnsafeMutableRawPointer,
              trailer: Range<Int>, into trailerOutput: UnsafeMutableRawPointer) -> Bool {
        let (headFirst, headCount) = blockSpan(head, 16), (trailerFirst, trailerCount) = blockSpan(trailer, 16)
        guard headCount + trailerCount <= 17 else {
            return peek(packet, layout: layout, range: head, into: headOutput)
                && peek(packet, layout: layout, range: trailer, into: trailerOutput)
        }
        return withUnsafeTemporaryAllocation(byteCount: 2 * (peekChunkSize + 32), alignment: 16) { scratch -> Bool in
            let total = headCount + trailerCount
            let input = scratch.baseAddress!, decrypted = input + total * 16
            let ciphertext = packet.baseAddress! + layout.ciphertextOffset
            input.copyMemory(from: ciphertext + headFirst * 16, byteCount: headCount * 16)
            (input + headCount * 16).copyMemory(from: ciphertext + trailerFirst * 16, byteCount: trailerCount * 16)
            var produced: Int32 = 0
            guard EVP_DecryptUpdate(context, decrypted.assumingMemoryBound(to: UInt8.self), &produced,
                                    input.assumingMemoryBound(to: UInt8.self), Int32(total * 16)) == 1,
                  produced == Int32(total * 16) else { ERR_clear_error(); return false }
            let headSkip = head.lowerBound - headFirst * 16, trailerSkip = trailer.lowerBound - trailerFirst * 16
            xor(decrypted + headSkip, ciphertext + headFirst * 16 - 16 + headSkip, head.count, into: headOutput)
            xor(decrypted + headCount * 16 + trailerSkip, ciphertext + trailerFirst * 16 - 16 + trailerSkip,
                trailer.count, into: trailerOutput)
            return true
        }
    }

    private func peekChunk(_ packet: UnsafeRawBufferPointer, layout: ESPLayout, range: Range<Int>,
                           into output: UnsafeMutableRawPointer) -> Bool {
        let (first, count) = blockSpan(range, 16)
        return withUnsafeTemporaryAllocation(byteCount: peekChunkSize + 32, alignment: 16) { scratch -> Bool in
            let decrypted = scratch.baseAddress!
            let ciphertext = packet.baseAddress! + layout.ciphertextOffset
            var produced: Int32 = 0
            guard EVP_DecryptUpdate(context, decrypted.assumingMemoryBound(to: UInt8.self), &produced,
                                    (ciphertext + first * 16).assumingMemoryBound(to: UInt8.self), Int32(count * 16)) == 1,
                  produced == Int32(count * 16) else { ERR_clear_error(); return false }
            // Each block XORs the 16 octets before it in the packet: the previous ciphertext
            // block, or for block 0 the IV, which sits right before the ciphertext.
            let skip = range.lowerBound - first * 16
            xor(decrypted + skip, ciphertext + first * 16 - 16 + skip, range.count, into: output)
            return true
        }
    }
}

/// ChaCha20-Poly1305 (RFC 7634): nonce = salt ‖ IV; payload octet j uses block 1 + j/64.
final class ChaCha20Peeker: ESPPeekDecryptor {
    private let key: UnsafeMutablePointer<UInt32>
    private let salt: UInt32

    init(keymat: SecretBytes) throws {
        guard keymat.count == 36 else { throw InboundSAError.keyLength(expected: 36, actual: keymat.count) }
        let words = UnsafeMutablePointer<UInt32>.allocate(capacity: 8)
        salt = keymat.withUnsafeBytes { raw in
            for i in 0..<8 { words[i] = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
            return UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 32, as: UInt32.self))
        }
        key = words
    }

    deinit {
        UnsafeMutableRawPointer(key).initializeMemory(as: UInt8.self, repeating: 0, count: 32)
        key.deallocate()
    }

    func peek(_ packet: UnsafeRawBufferPointer, layout: ESPLayout, range: Range<Int>,
              into output: UnsafeMutableRawPointer) -> Bool {
        chunked(range, into: output) { peekChunk(packet, layout: layout, range: $0, into: $1) }
    }

    private func peekChunk(_ packet: UnsafeRawBufferPointer, layout: ESPLayout, range: Range<Int>,
                           into output: UnsafeMutableRawPointer) -> Bool {
        let (first, count) = blockSpan(range, 64)
        let nonce = (salt, UInt32(littleEndian: packet.loadUnaligned(fromByteOffset: layout.ivOffset, as: UInt32.self)),
                     UInt32(littleEndian: packet.loadUnaligned(fromByteOffset: layout.ivOffset + 4, as: UInt32.self)))
        return withUnsafeTemporaryAllocation(byteCount: peekChunkSize + 128, alignment: 16) { scratch -> Bool in
            let keystream = scratch.baseAddress!
            for b in 0..<count {
                ChaCha20.block(key: key, counter: UInt32(first + b + 1), nonce: nonce, into: keystream + b * 64)
            }
            xor(packet.baseAddress! + layout.ciphertextOffset + range.lowerBound,
                keystream + (range.lowerBound - first * 64), range.count, into: output)
            UnsafeMutableRawPointer(keystream).initializeMemory(as: UInt8.self, repeating: 0, count: count * 64)
            return true
        }
    }
}

/// ChaCha20 through EVP_chacha20, re-initialised per packet (IV = LE32(counter) ‖ nonce).
final class EVPChaCha20Peeker: ESPPeekDecryptor {
    private let context: OpaquePointer
    private let salt: (UInt8, UInt8, UInt8, UInt8)

    init(keymat: SecretBytes) throws {
        guard keymat.count == 36 else { throw InboundSAError.keyLength(expected: 36, actual: keymat.count) }
        guard let context = EVP_CIPHER_CTX_new() else { throw InboundSAError.backend("EVP_CIPHER_CTX_new") }
        let ok = keymat.withUnsafeBytes { raw in
            EVP_EncryptInit_ex(context, EVP_chacha20(), nil, raw.bindMemory(to: UInt8.self).baseAddress, nil) == 1
        }
        guard ok else { EVP_CIPHER_CTX_free(context); throw InboundSAError.backend("ChaCha20 init") }
        self.context = context
        salt = keymat.withUnsafeBytes { ($0[32], $0[33], $0[34], $0[35]) }
    }

    deinit { EVP_CIPHER_CTX_free(context) }

    func peek(_ packet: UnsafeRawBufferPointer, layout: ESPLayout, range: Range<Int>,
              into output: UnsafeMutableRawPointer) -> Bool {
        chunked(range, into: output) { peekChunk(packet, layout: layout, range: $0, into: $1) }
    }

    private func peekChunk(_ packet: UnsafeRawBufferPointer, layout: ESPLayout, range: Range<Int>,
                           into output: UnsafeMutableRawPointer) -> Bool {
        let first = range.lowerBound / 64
        let skip = range.lowerBound - first * 64
        let counter = UInt32(first + 1)
        return withUnsafeTemporaryAllocation(byteCount: 16 + 64 + peekChunkSize, alignment: 16) { scratch -> Bool in
            // IV = LE32(counter) ‖ salt ‖ packet IV, then the data to XOR in place.
            let iv = scratch.baseAddress!, buffer = iv + 16
            iv.storeBytes(of: counter.littleEndian, toByteOffset: 0, as: UInt32.self)
            iv.storeBytes(of: salt.0, toByteOffset: 4, as: UInt8.self)
            iv.storeBytes(of: salt.1, toByteOffset: 5, as: UInt8.self)
            iv.storeBytes(of: salt.2, toByteOffset: 6, as: UInt8.self)
            iv.storeBytes(of: salt.3, toByteOffset: 7, as: UInt8.self)
            (iv + 8).copyMemory(from: packet.baseAddress! + layout.ivOffset, byteCount: 8)
            buffer.initializeMemory(as: UInt8.self, repeating: 0, count: skip)
            (buffer + skip).copyMemory(from: packet.baseAddress! + layout.ciphertextOffset + range.lowerBound,
                                       byteCount: range.count)
            var produced: Int32 = 0
            let bytes = buffer.assumingMemoryBound(to: UInt8.self)
            guard EVP_EncryptInit_ex(context, nil, nil, nil, iv.assumingMemoryBound(to: UInt8.self)) == 1,
                  EVP_EncryptUpdate(context, bytes, &produced, bytes, Int32(skip + range.count)) == 1
            else { ERR_clear_error(); return false }
            output.copyMemory(from: buffer + skip, byteCount: range.count)
            return true
        }
    }
}

/// out[i] = a[i] ^ b[i] for `count` octets, 8 at a time.
@inline(__always) func xor(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ count: Int, into out: UnsafeMutableRawPointer) {
    var i = 0
    while i + 8 <= count {
        let x = a.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        out.storeBytes(of: x, toByteOffset: i, as: UInt64.self)
        i += 8
    }
    while i < count {
        out.storeBytes(of: a.load(fromByteOffset: i, as: UInt8.self) ^ b.load(fromByteOffset: i, as: UInt8.self),
                       toByteOffset: i, as: UInt8.self)
        i += 1
    }
}
