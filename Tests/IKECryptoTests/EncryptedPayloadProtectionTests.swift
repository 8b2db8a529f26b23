// SK payload seal/open for every suite the provider offers: round trips, lengths, padding,
// and tampered ciphertext / ICV / associated data / IV rejected.
import IKECrypto
import IKEv2
import XCTest

final class EncryptedPayloadProtectionTests: XCTestCase {
    let provider = OpenSSLCryptoProvider()
    /// A stand-in IKE header + SK generic payload header (the AAD).
    let header = hex("0011223344556677 8899aabbccddeeff 2e202508 00000002 000000a0 2900 0084")

    func makePair(_ suite: EncryptionSuite) throws -> (any EncryptedPayloadProtection, any EncryptedPayloadProtection) {
        let encryptionKey = SecretBytes(try provider.randomBytes(count: suite.encryptionKeyLength ?? 0))
        let integrityKey = SecretBytes(try provider.randomBytes(count: suite.integrityKeyLength ?? 0))
        return (try provider.makeEncryptedPayloadProtection(suite: suite, encryptionKey: encryptionKey, integrityKey: integrityKey),
                try provider.makeEncryptedPayloadProtection(suite: suite, encryptionKey: encryptionKey, integrityKey: integrityKey))
    }

    func testRoundTripForEverySupportedSuiteAndLength() throws {
        for suite in provider.supportedEncryptionSuites {
            let (sender, receiver) = try makePair(suite)
            for length in [0, 1, 15, 16, 17, 100, 1000] {
                let payloads = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7) }
                let sealed = try sender.seal(plaintext: payloads, associatedData: header)
                XCTAssertEqual(sealed.count, sender.sealedLength(plaintextLength: length), "\(suite) length \(length)")
                XCTAssertEqual((sealed.count - sender.ivLength - sender.icvLength) % sender.blockSize, 0, "\(suite) aligned")
                XCTAssertEqual(try receiver.open(sealed, associatedData: header), payloads, "\(suite) length \(length)")
            }
        }
    }

    func testLengthsFollowTheRFCs() throws {
        let gcm = try makePair(EncryptionSuite(encryption: .aesGCM16, keyLengthBits: 128)).0
        XCTAssertEqual([gcm.ivLength, gcm.icvLength, gcm.blockSize], [8, 16, 1])
        let chacha = try makePair(EncryptionSuite(encryption: .chacha20Poly1305, keyLengthBits: nil)).0
        XCTAssertEqual([chacha.ivLength, chacha.icvLength, chacha.blockSize], [8, 16, 1])
        for (integrity, icv) in [(IntegrityAlgorithm.hmacSHA2_256_128, 16), (.hmacSHA2_384_192, 24), (.hmacSHA2_512_256, 32)] {
            let cbc = try makePair(EncryptionSuite(encryption: .aesCBC, keyLengthBits: 256, integrity: integrity)).0
            XCTAssertEqual([cbc.ivLength, cbc.icvLength, cbc.blockSize], [16, icv, 16])
        }
    }

    func testTamperedMessagesAreRejectedForEverySuite() throws {
        for suite in provider.supportedEncryptionSuites {
            let (sender, receiver) = try makePair(suite)
            let sealed = try sender.seal(plaintext: Array("an IKE_AUTH payload chain".utf8), associatedData: header)
            var ciphertext = sealed; ciphertext[sender.ivLength] ^= 0x01
            var icv = sealed; icv[icv.count - 1] ^= 0x01
            var iv = sealed; iv[0] ^= 0x01
            var aad = header; aad[19] ^= 0x01   // the Message ID
            for (what, message, associated) in [("ciphertext", ciphertext, header), ("ICV", icv, header),
                                                 ("IV", iv, header), ("AAD", sealed, aad)] {
                XCTAssertThrowsCryptoError(try receiver.open(message, associatedData: associated), "\(suite) \(what)") {
                    $0 == .integrityCheckFailed
                }
            }
            XCTAssertThrowsCryptoError(try receiver.open(Array(sealed.prefix(sender.ivLength + sender.icvLength)), associatedData: header),
                                       "\(suite) truncated") {
                if case .malformedCiphertext = $0 { return true } else { return false }
            }
        }
    }

    func testOtherDirectionKeyCannotOpen() throws {
        let suite = EncryptionSuite(encryption: .aesGCM16, keyLengthBits: 256)
        let (initiator, _) = try makePair(suite)
        let (responder, _) = try makePair(suite)
        let sealed = try initiator.seal(plaintext: [1, 2, 3], associatedData: header)
        XCTAssertThrowsCryptoError(try responder.open(sealed, associatedData: header)) { $0 == .integrityCheckFailed }
    }

    func testAEADExplicitIVsNeverRepeatAndSaltComesFromTheKey() throws {
        let suite = EncryptionSuite(encryption: .chacha20Poly1305, keyLengthBits: nil)
        let (sender, _) = try makePair(suite)
        var seen = Set<[UInt8]>()
        for _ in 0..<100 { seen.insert(Array(try sender.seal(plaintext: [0], associatedData: header).prefix(8))) }
        XCTAssertEqual(seen.count, 100)

        // SK_e = key | salt: the salt is the nonce's first 4 octets, the explicit IV the rest.
        let key = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
        let salt = hex("07000000")
        let protection = try provider.makeEncryptedPayloadProtection(suite: suite, encryptionKey: SecretBytes(key + salt),
                                                                     integrityKey: SecretBytes(zeroes: 0))
        let payloads = Array("payloads".utf8)
        let sealed = try protection.seal(plaintext: payloads, associatedData: header)
        let viaPrimitive = try OpenSSLAEAD.open(.chacha20Poly1305, key: key, nonce: salt + Array(sealed.prefix(8)),
                                                associatedData: header, sealed: sealed.dropFirst(8))
        XCTAssertEqual(viaPrimitive, payloads + [0], "payloads | Pad Length 0 (AEAD: no padding needed)")
    }

    func testCBCPaddingAndPadLengthAreChecked() throws {
        let suite = EncryptionSuite(encryption: .aesCBC, keyLengthBits: 128, integrity: .hmacSHA2_256_128)
        let (sender, _) = try makePair(suite)
        XCTAssertEqual(sender.paddingLength(plaintextLength: 15), 0)
        XCTAssertEqual(sender.paddingLength(plaintextLength: 16), 15)
        XCTAssertEqual(sender.sealedLength(plaintextLength: 20), 16 + 32 + 16)
        // Not a multiple of the block size: malformed, before any MAC work.
        XCTAssertThrowsCryptoError(try sender.open([UInt8](repeating: 0, count: 16 + 17 + 16), associatedData: header)) {
            if case .malformedCiphertext = $0 { return true } else { return false }
        }
    }

    func testInvalidSuitesAndKeysAreRejected() throws {
        let key16 = SecretBytes(zeroes: 16), key20 = SecretBytes(zeroes: 20), key32 = SecretBytes(zeroes: 32)
        let gcmWithInteg = EncryptionSuite(encryption: .aesGCM16, keyLengthBits: 128, integrity: .hmacSHA2_256_128)
        let cbcWithoutInteg = EncryptionSuite(encryption: .aesCBC, keyLengthBits: 128)
        let aes100 = EncryptionSuite(encryption: .aesGCM16, keyLengthBits: 100)
        let chacha128 = EncryptionSuite(encryption: .chacha20Poly1305, keyLengthBits: 128)
        for suite in [gcmWithInteg, cbcWithoutInteg, aes100, chacha128] {
            XCTAssertThrowsCryptoError(try provider.makeEncryptedPayloadProtection(suite: suite, encryptionKey: key20, integrityKey: key32),
                                       "\(suite)") { $0 == .unsupportedEncryptionSuite(suite) }
        }
        let gcm = EncryptionSuite(encryption: .aesGCM16, keyLengthBits: 128)
        XCTAssertThrowsCryptoError(try provider.makeEncryptedPayloadProtection(suite: gcm, encryptionKey: key16, integrityKey: SecretBytes(zeroes: 0)),
                                   "GCM key without salt") { $0 == .invalidKeyLength(algorithm: "\(gcm)", expected: 20, actual: 16) }
        let cbc = EncryptionSuite(encryption: .aesCBC, keyLengthBits: 128, integrity: .hmacSHA2_256_128)
        XCTAssertThrowsCryptoError(try provider.makeEncryptedPayloadProtection(suite: cbc, encryptionKey: key16, integrityKey: key16)) {
            $0 == .invalidKeyLength(algorithm: "AUTH_HMAC_SHA2_256_128", expected: 32, actual: 16)
        }
    }
}

final class IKESAProtectionsTests: XCTestCase {
    func testInitiatorAndResponderTalkBothWaysAndNotToThemselves() throws {
        let provider = OpenSSLCryptoProvider()
        for suite in [EncryptionSuite(encryption: .aesGCM16, keyLengthBits: 256),
                      EncryptionSuite(encryption: .aesCBC, keyLengthBits: 256, integrity: .hmacSHA2_512_256)] {
            let prf = try OpenSSLHMACPseudorandomFunction(.hmacSHA2_512)
            let keys = try IKEKeyDerivation.ikeSAKeys(prf: prf, skeyseed: SecretBytes(try provider.randomBytes(count: 64)),
                                                      nonceInitiator: [1], nonceResponder: [2], initiatorSPI: [3], responderSPI: [4], suite: suite)
            let initiator = try provider.makeIKESAProtections(keys: keys, suite: suite, isInitiator: true)
            let responder = try provider.makeIKESAProtections(keys: keys, suite: suite, isInitiator: false)
            let aad: [UInt8] = Array(repeating: 7, count: 32)
            XCTAssertEqual(try responder.inbound.open(try initiator.outbound.seal(plaintext: [1, 2], associatedData: aad), associatedData: aad), [1, 2])
            XCTAssertEqual(try initiator.inbound.open(try responder.outbound.seal(plaintext: [3], associatedData: aad), associatedData: aad), [3])
            XCTAssertThrowsCryptoError(try initiator.inbound.open(try initiator.outbound.seal(plaintext: [1], associatedData: aad),
                                                                  associatedData: aad), "\(suite) reflected") { $0 == .integrityCheckFailed }
        }
    }
}
