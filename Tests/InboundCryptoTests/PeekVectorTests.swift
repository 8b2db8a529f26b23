import COpenSSL
@testable import Inbound
@testable import InboundCrypto
import Secrets
import VipsecTestSupport
import XCTest

/// The peekers against published vectors and against OpenSSL's full ciphers.
final class PeekVectorTests: XCTestCase {
    /// A packet buffer holding `iv` then `ciphertext` at offset 0, and its layout.
    private func peek(_ peeker: ESPPeekDecryptor, iv: [UInt8], ciphertext: [UInt8], range: Range<Int>) -> [UInt8] {
        let packet = iv + ciphertext
        let layout = ESPLayout(ivOffset: 0, ciphertextOffset: iv.count, ciphertextLength: ciphertext.count, available: packet.count)
        var out = [UInt8](repeating: 0, count: range.count)
        let ok = packet.withUnsafeBytes { p in out.withUnsafeMutableBytes { peeker.peek(p, layout: layout, range: range, into: $0.baseAddress!) } }
        XCTAssertTrue(ok)
        return out
    }

    /// GCM test case 3 (McGrew & Viega; SP 800-38D), framed as RFC 4106: salt = the IV's
    /// first 4 octets, the ESP IV its last 8.
    func testAESGCMPeekMatchesTheGCMTestVector() throws {
        let key = hexBytes("feffe9928665731c6d6a8f9467308308"), nonce = hexBytes("cafebabefacedbaddecaf888")
        let plain = hexBytes("""
            d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
            1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255
            """)
        let cipher = hexBytes("""
            42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e
            21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985
            """)
        let peeker = try AESGCMPeeker(keymat: SecretBytes(key + nonce.prefix(4)), keyLength: 16)
        XCTAssertEqual(peek(peeker, iv: Array(nonce.suffix(8)), ciphertext: cipher, range: 0..<64), plain)
        XCTAssertEqual(peek(peeker, iv: Array(nonce.suffix(8)), ciphertext: cipher, range: 37..<50), Array(plain[37..<50]))
    }

    /// RFC 3602 §4 cases 1 and 2 (AES-128-CBC).
    func testAESCBCPeekMatchesRFC3602() throws {
        let one = try AESCBCPeeker(key: SecretBytes(hexBytes("06a9214036b8a15b512e03d534120006")), keyLength: 16)
        XCTAssertEqual(peek(one, iv: hexBytes("3dafba429d9eb430b422da802c9fac41"),
                            ciphertext: hexBytes("e353779c1079aeb82708942dbe77181a"), range: 0..<16),
                       Array("Single block msg".utf8))
        let two = try AESCBCPeeker(key: SecretBytes(hexBytes("c286696d887c9aa0611bbb3e2025a45a")), keyLength: 16)
        let iv = hexBytes("562e17996d093d28ddb3ba695a2e6f58")
        let c = hexBytes("d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1")
        XCTAssertEqual(peek(two, iv: iv, ciphertext: c, range: 0..<32), (0..<32).map(UInt8.init))
        XCTAssertEqual(peek(two, iv: iv, ciphertext: c, range: 20..<31), (20..<31).map(UInt8.init), "block 1 alone")
    }

    /// RFC 8439 §2.3.2: the block function's test vector.
    func testChaCha20BlockMatchesRFC8439() {
        let key = (0..<32).map(UInt8.init)
        let words: [UInt32] = (0..<8).map { (i: Int) -> UInt32 in
            var word: UInt32 = 0
            for j in 0..<4 { word |= UInt32(key[4 * i + j]) << UInt32(8 * j) }
            return word
        }
        var out = [UInt8](repeating: 0, count: 64)
        words.withUnsafeBufferPointer { k in
            out.withUnsafeMutableBytes { ChaCha20.block(key: k.baseAddress!, counter: 1, nonce: (0x0900_0000, 0x4a00_0000, 0), into: $0.baseAddress!) }
        }
        XCTAssertEqual(out, hexBytes("""
            10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e
            d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e
            """))
    }

    /// Both ChaCha20 peekers agree with OpenSSL's full EVP_chacha20 over random keys, IVs and ranges.
    func testChaCha20PeekersAgreeWithOpenSSL() throws {
        var rng = SeededGenerator(seed: 20)
        for _ in 0..<50 {
            let keymat = (0..<36).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let iv = (0..<8).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let plain = (0..<300).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Reference: EVP_chacha20 with counter 1 over the whole payload.
            var cipher = [UInt8](repeating: 0, count: plain.count)
            let ctx = EVP_CIPHER_CTX_new()!
            defer { EVP_CIPHER_CTX_free(ctx) }
            var fullIV: [UInt8] = [1, 0, 0, 0] + keymat.suffix(4) + iv
            var length: Int32 = 0
            XCTAssertEqual(EVP_EncryptInit_ex(ctx, EVP_chacha20(), nil, keymat, &fullIV), 1)
            XCTAssertEqual(EVP_EncryptUpdate(ctx, &cipher, &length, plain, Int32(plain.count)), 1)
            let lower = Int.random(in: 0..<290, using: &rng), upper = Int.random(in: (lower + 1)...300, using: &rng)
            for peeker: ESPPeekDecryptor in [try ChaCha20Peeker(keymat: SecretBytes(keymat)), try EVPChaCha20Peeker(keymat: SecretBytes(keymat))] {
                XCTAssertEqual(peek(peeker, iv: iv, ciphertext: cipher, range: lower..<upper), Array(plain[lower..<upper]))
            }
        }
    }

    /// The one-call head + trailer peeks (GCM, CBC) agree with two single peeks.
    func testHeadAndTrailerPeekAgreesWithSinglePeeks() throws {
        var rng = SeededGenerator(seed: 31)
        for _ in 0..<40 {
            let key = (0..<36).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let peekers: [(ESPPeekDecryptor, Int)] = [
                (try AESGCMPeeker(keymat: SecretBytes(key), keyLength: 32), 8),
                (try AESCBCPeeker(key: SecretBytes(key.prefix(32)), keyLength: 32), 16),
                (try ChaCha20Peeker(keymat: SecretBytes(key)), 8),
            ]
            let length = 16 * Int.random(in: 2...40, using: &rng)
            let ciphertext = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            for (peeker, ivLength) in peekers {
                let iv = (0..<ivLength).map { _ in UInt8.random(in: 0...255, using: &rng) }
                let packet = iv + ciphertext
                let layout = ESPLayout(ivOffset: 0, ciphertextOffset: ivLength, ciphertextLength: length, available: packet.count)
                let head = 0..<min(64, length), trailer = (length - Int.random(in: 1...16, using: &rng))..<length
                var a = [UInt8](repeating: 0, count: head.count), b = [UInt8](repeating: 0, count: trailer.count)
                var c = a, d = b
                packet.withUnsafeBytes { p in
                    a.withUnsafeMutableBytes { x in b.withUnsafeMutableBytes { y in
                        XCTAssertTrue(peeker.peek(p, layout: layout, head: head, into: x.baseAddress!, trailer: trailer, into: y.baseAddress!))
                    } }
                    c.withUnsafeMutableBytes { XCTAssertTrue(peeker.peek(p, layout: layout, range: head, into: $0.baseAddress!)) }
                    d.withUnsafeMutableBytes { XCTAssertTrue(peeker.peek(p, layout: layout, range: trailer, into: $0.baseAddress!)) }
                }
                XCTAssertEqual(a, c)
                XCTAssertEqual(b, d)
            }
        }
    }

    func testWrongKeyLengthsAreRefused() {
        XCTAssertThrowsError(try AESGCMPeeker(keymat: SecretBytes([UInt8](repeating: 1, count: 16)), keyLength: 16))
        XCTAssertThrowsError(try ChaCha20Peeker(keymat: SecretBytes([UInt8](repeating: 1, count: 32))))
        XCTAssertThrowsError(try OpenSSLPeekerFactory().makePeeker(for: InboundSA(
            spi: 1, destination: .v4(1, 2, 3, 4), suite: .aesCBC(keyLength: 24, integrity: .hmacSHA256_128),
            encryptionKey: SecretBytes([UInt8](repeating: 0, count: 24)), mode: .tunnel, lineage: SALineageID(1), holders: [])))
    }

    func testSecretKeysAreNeverPrinted() {
        let sa = InboundSA(spi: 1, destination: .v4(1, 2, 3, 4), suite: .aesGCM16(keyLength: 16),
                           encryptionKey: SecretBytes([UInt8](repeating: 0xAB, count: 20)), mode: .tunnel,
                           lineage: SALineageID(1), holders: [])
        XCTAssertFalse("\(sa)".contains("171"))
        XCTAssertFalse(String(reflecting: sa).contains("171, 171"))
        XCTAssertTrue("\(sa.encryptionKey)".contains("redacted"))
    }
}
