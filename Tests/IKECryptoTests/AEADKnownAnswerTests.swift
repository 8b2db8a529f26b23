// AEAD known answers: the GCM specification's test cases 4 and 16 (McGrew & Viega, "The
// Galois/Counter Mode of Operation", with a 12-octet IV split RFC 4106 style into a 4-octet
// salt and an 8-octet IV) and RFC 8439 2.8.2 (ChaCha20-Poly1305).
import IKECrypto
import IKEv2
import XCTest

final class AEADKnownAnswerTests: XCTestCase {
    static let gcmPlaintext = hex("""
        d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525
        b16aedf5aa0de657ba637b39
        """)
    static let gcmAAD = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    static let gcmSalt = hex("cafebabe")
    static let gcmIV = hex("facedbaddecaf888")

    func testGCMSpecTestCase4AES128() throws {
        let sealed = try OpenSSLAEAD.seal(.aesGCM, key: hex("feffe9928665731c6d6a8f9467308308"), nonce: Self.gcmSalt + Self.gcmIV,
                                          associatedData: Self.gcmAAD, plaintext: Self.gcmPlaintext)
        XCTAssertEqual(hexString(sealed),
                       "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa05"
                       + "1ba30b396a0aac973d58e091" + "5bc94fbc3221a5db94fae95ae7121a47")
        let opened = try OpenSSLAEAD.open(.aesGCM, key: hex("feffe9928665731c6d6a8f9467308308"), nonce: Self.gcmSalt + Self.gcmIV,
                                          associatedData: Self.gcmAAD, sealed: sealed[...])
        XCTAssertEqual(opened, Self.gcmPlaintext)
    }

    func testGCMSpecTestCase16AES256() throws {
        let key = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
        let sealed = try OpenSSLAEAD.seal(.aesGCM, key: key, nonce: Self.gcmSalt + Self.gcmIV,
                                          associatedData: Self.gcmAAD, plaintext: Self.gcmPlaintext)
        XCTAssertEqual(hexString(sealed),
                       "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838"
                       + "c5f61e6393ba7a0abcc9f662" + "76fc6ece0f4e1768cddf8853bb2d551b")
    }

    static let chachaPlaintext = Array(
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".utf8)
    static let chachaKey = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
    static let chachaNonce = hex("07000000" + "4041424344454647")
    static let chachaAAD = hex("50515253c0c1c2c3c4c5c6c7")
    static let chachaSealed = hex("""
        d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b
        1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
        3ff4def08e4b7a9de576d26586cec64b6116
        1ae10b594f09e26a7e902ecbd0600691
        """)

    func testRFC8439Section2_8_2ChaCha20Poly1305() throws {
        let sealed = try OpenSSLAEAD.seal(.chacha20Poly1305, key: Self.chachaKey, nonce: Self.chachaNonce,
                                          associatedData: Self.chachaAAD, plaintext: Self.chachaPlaintext)
        XCTAssertEqual(sealed, Self.chachaSealed)
        XCTAssertEqual(try OpenSSLAEAD.open(.chacha20Poly1305, key: Self.chachaKey, nonce: Self.chachaNonce,
                                            associatedData: Self.chachaAAD, sealed: Self.chachaSealed[...]),
                       Self.chachaPlaintext)
    }

    func testTamperingWithAnyInputFailsTheTag() throws {
        func open(key: [UInt8] = AEADKnownAnswerTests.chachaKey, nonce: [UInt8] = AEADKnownAnswerTests.chachaNonce, aad: [UInt8] = AEADKnownAnswerTests.chachaAAD,
                  sealed: [UInt8] = AEADKnownAnswerTests.chachaSealed) throws -> [UInt8] {
            try OpenSSLAEAD.open(.chacha20Poly1305, key: key, nonce: nonce, associatedData: aad, sealed: sealed[...])
        }
        var flippedCiphertext = Self.chachaSealed; flippedCiphertext[5] ^= 0x80
        var flippedTag = Self.chachaSealed; flippedTag[flippedTag.count - 1] ^= 0x01
        var flippedAAD = Self.chachaAAD; flippedAAD[0] ^= 0x01
        var flippedNonce = Self.chachaNonce; flippedNonce[11] ^= 0x01
        var flippedKey = Self.chachaKey; flippedKey[31] ^= 0x01
        XCTAssertThrowsCryptoError(try open(sealed: flippedCiphertext)) { $0 == .integrityCheckFailed }
        XCTAssertThrowsCryptoError(try open(sealed: flippedTag)) { $0 == .integrityCheckFailed }
        XCTAssertThrowsCryptoError(try open(aad: flippedAAD)) { $0 == .integrityCheckFailed }
        XCTAssertThrowsCryptoError(try open(nonce: flippedNonce)) { $0 == .integrityCheckFailed }
        XCTAssertThrowsCryptoError(try open(key: flippedKey)) { $0 == .integrityCheckFailed }
        XCTAssertThrowsCryptoError(try open(sealed: Array(Self.chachaSealed.prefix(15)))) {
            if case .malformedCiphertext = $0 { return true } else { return false }
        }
    }

    func testBadKeyAndNonceLengthsAreRejected() {
        XCTAssertThrowsCryptoError(try OpenSSLAEAD.seal(.aesGCM, key: [UInt8](repeating: 0, count: 20), nonce: [UInt8](repeating: 0, count: 12),
                                                        associatedData: [], plaintext: [1])) {
            if case .invalidKeyLength = $0 { return true } else { return false }
        }
        XCTAssertThrowsCryptoError(try OpenSSLAEAD.seal(.chacha20Poly1305, key: Self.chachaKey, nonce: [UInt8](repeating: 0, count: 8),
                                                        associatedData: [], plaintext: [1])) {
            $0 == .invalidLength(what: "AEAD nonce", requested: 8)
        }
    }
}
