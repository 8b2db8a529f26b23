// SecretBytes, prf+ and the pure derivation helpers (lengths, order, determinism).
import IKECrypto
import IKEv2
import XCTest

final class KeyDerivationTests: XCTestCase {
    let prf256 = try! OpenSSLHMACPseudorandomFunction(.hmacSHA2_256)

    func testSecretBytesNeverPrintsItsContents() {
        let secret = SecretBytes(Array("hunter2-hunter2".utf8))
        XCTAssertEqual(secret.description, "<redacted 15 bytes>")
        XCTAssertEqual("\(secret)", "<redacted 15 bytes>")
        XCTAssertEqual(String(reflecting: secret), "<redacted 15 bytes>")
        XCTAssertFalse("\([secret])".contains("hunter"))
        let keys = IKESAKeys(skD: secret, skAi: secret, skAr: secret, skEi: secret, skEr: secret, skPi: secret, skPr: secret)
        XCTAssertFalse("\(keys)".contains("68"), "no hex either")
    }

    func testSecretBytesEqualityAndSlicing() {
        let a = SecretBytes([1, 2, 3, 4]), b = SecretBytes([1, 2, 3, 4]), c = SecretBytes([1, 2, 3, 5])
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        XCTAssertNotEqual(a, SecretBytes([1, 2, 3]))
        XCTAssertEqual(a.subrange(offset: 1, count: 2).bytes, [2, 3])
        XCTAssertEqual(SecretBytes.concatenating([a, [9, 9] as [UInt8]]).bytes, [1, 2, 3, 4, 9, 9])
        XCTAssertTrue(constantTimeEquals([1, 2] as [UInt8], [1, 2] as [UInt8]))
        XCTAssertFalse(constantTimeEquals([1, 2] as [UInt8], [1, 3] as [UInt8]))
    }

    func testPRFPlusFollowsRFC7296Section2_13() throws {
        let key: [UInt8] = Array("key".utf8), seed: [UInt8] = Array("seed".utf8)
        let t1 = try prf256.compute(key: key, data: seed + [1]).bytes
        let t2 = try prf256.compute(key: key, data: t1 + seed + [2]).bytes
        let t3 = try prf256.compute(key: key, data: t2 + seed + [3]).bytes
        XCTAssertEqual(try prf256.prfPlus(key: key, seed: seed, length: 80).bytes, Array((t1 + t2 + t3).prefix(80)))
        XCTAssertEqual(try prf256.prfPlus(key: key, seed: seed, length: 32).bytes, t1)
        XCTAssertEqual(try prf256.prfPlus(key: key, seed: seed, length: 0).count, 0)
        XCTAssertEqual(try prf256.prfPlus(key: key, seed: seed, length: 80), try prf256.prfPlus(key: key, seed: seed, length: 80))
        XCTAssertNotEqual(try prf256.prfPlus(key: key, seed: seed + [0], length: 80), try prf256.prfPlus(key: key, seed: seed, length: 80))
    }

    func testPRFPlusStopsAt255Blocks() throws {
        XCTAssertEqual(try prf256.prfPlus(key: [1], seed: [2], length: 255 * 32).count, 255 * 32)
        XCTAssertThrowsCryptoError(try prf256.prfPlus(key: [1], seed: [2], length: 255 * 32 + 1)) {
            $0 == .invalidLength(what: "prf+ output", requested: 255 * 32 + 1)
        }
        XCTAssertThrowsCryptoError(try prf256.prfPlus(key: [1], seed: [2], length: -1)) {
            $0 == .invalidLength(what: "prf+ output", requested: -1)
        }
    }


    /// The OpenSSL PRF's own prf+ (HMAC keyed once per stream, per-thread contexts) gives the
    /// generic RFC 7296 construction's octets, for every digest, empty and over-long keys.
    func testOpenSSLPRFPlusEqualsTheGenericConstruction() throws {
        for id in [PseudorandomFunctionID.hmacSHA2_256, .hmacSHA2_384, .hmacSHA2_512] {
            let prf = try OpenSSLHMACPseudorandomFunction(id)
            for key in [[UInt8](), [7], [UInt8](repeating: 0xA5, count: 200)] {
                for length in [0, 1, 31, 32, 33, 64, 100, 255 * prf.outputLength] {
                    let seed = (0..<57).map { UInt8($0) }
                    XCTAssertEqual(try prf.prfPlus(key: key, seed: seed, length: length).bytes,
                                   try prf.genericPRFPlus(key: key, seed: seed, length: length).bytes, "\(id) \(key.count) \(length)")
                }
            }
            // One-shot computes between streams: no state carries over from one key to the next.
            let a = try prf.compute(key: [1, 2, 3], data: [4])
            _ = try prf.prfPlus(key: [9], seed: [9], length: 100)
            XCTAssertEqual(try prf.compute(key: [1, 2, 3], data: [4]), a)
            XCTAssertEqual(try prf.compute(key: [UInt8](), data: [UInt8]()).count, prf.outputLength)
        }
    }
    func testIKESAKeyLengthsForEachSuite() throws {
        let cases: [(EncryptionSuite, PseudorandomFunctionID, [Int])] = [
            (EncryptionSuite(encryption: .aesGCM16, keyLengthBits: 256), .hmacSHA2_256, [32, 0, 0, 36, 36, 32, 32]),
            (EncryptionSuite(encryption: .aesGCM16, keyLengthBits: 128), .hmacSHA2_512, [64, 0, 0, 20, 20, 64, 64]),
            (EncryptionSuite(encryption: .chacha20Poly1305, keyLengthBits: nil), .hmacSHA2_256, [32, 0, 0, 36, 36, 32, 32]),
            (EncryptionSuite(encryption: .aesCBC, keyLengthBits: 128, integrity: .hmacSHA2_256_128), .hmacSHA2_256, [32, 32, 32, 16, 16, 32, 32]),
            (EncryptionSuite(encryption: .aesCBC, keyLengthBits: 256, integrity: .hmacSHA2_384_192), .hmacSHA2_384, [48, 48, 48, 32, 32, 48, 48]),
            (EncryptionSuite(encryption: .aesCBC, keyLengthBits: 256, integrity: .hmacSHA2_512_256), .hmacSHA2_512, [64, 64, 64, 32, 32, 64, 64]),
        ]
        for (suite, prfID, lengths) in cases {
            let prf = try OpenSSLHMACPseudorandomFunction(prfID)
            let keys = try IKEKeyDerivation.ikeSAKeys(prf: prf, skeyseed: SecretBytes([1, 2, 3]), nonceInitiator: [4], nonceResponder: [5],
                                                     initiatorSPI: [UInt8](repeating: 6, count: 8), responderSPI: [UInt8](repeating: 7, count: 8),
                                                     suite: suite)
            XCTAssertEqual([keys.skD, keys.skAi, keys.skAr, keys.skEi, keys.skEr, keys.skPi, keys.skPr].map(\.count), lengths, "\(suite)")
            // The keys are consecutive slices of one prf+ stream.
            let stream = try prf.prfPlus(key: SecretBytes([1, 2, 3]), seed: [4, 5] + [UInt8](repeating: 6, count: 8) + [UInt8](repeating: 7, count: 8),
                                         length: lengths.reduce(0, +))
            let joined = [keys.skD, keys.skAi, keys.skAr, keys.skEi, keys.skEr, keys.skPi, keys.skPr].flatMap(\.bytes)
            XCTAssertEqual(joined, stream.bytes, "\(suite)")
        }
    }

    func testChildSAKeysWithAndWithoutPFS() throws {
        let suite = EncryptionSuite(encryption: .aesCBC, keyLengthBits: 128, integrity: .hmacSHA2_256_128)
        let skD = SecretBytes([UInt8](repeating: 0x42, count: 32))
        let ni: [UInt8] = [1, 1, 1], nr: [UInt8] = [2, 2]
        let noPFS = try IKEKeyDerivation.childSAKeys(prf: prf256, skD: skD, sharedSecret: nil, nonceInitiator: ni, nonceResponder: nr, suite: suite)
        let keymat = try prf256.prfPlus(key: skD, seed: ni + nr, length: 96).bytes
        XCTAssertEqual(noPFS.initiatorToResponderEncryption.bytes, Array(keymat[0..<16]))
        XCTAssertEqual(noPFS.initiatorToResponderIntegrity.bytes, Array(keymat[16..<48]))
        XCTAssertEqual(noPFS.responderToInitiatorEncryption.bytes, Array(keymat[48..<64]))
        XCTAssertEqual(noPFS.responderToInitiatorIntegrity.bytes, Array(keymat[64..<96]))

        let gir = SecretBytes([9, 9, 9, 9])
        let pfs = try IKEKeyDerivation.childSAKeys(prf: prf256, skD: skD, sharedSecret: gir, nonceInitiator: ni, nonceResponder: nr,
                                                   suite: EncryptionSuite(encryption: .aesGCM16, keyLengthBits: 256))
        let pfsKeymat = try prf256.prfPlus(key: skD, seed: [9, 9, 9, 9] + ni + nr, length: 72).bytes
        XCTAssertEqual(pfs.initiatorToResponderEncryption.bytes, Array(pfsKeymat[0..<36]), "rfc4106 key | salt")
        XCTAssertEqual(pfs.responderToInitiatorEncryption.bytes, Array(pfsKeymat[36..<72]))
        XCTAssertTrue(pfs.initiatorToResponderIntegrity.isEmpty)
    }

    func testRekeyedSKEYSEEDFollowsSection2_18() throws {
        let oldSKd = SecretBytes([UInt8](repeating: 0x11, count: 32))
        let gir = SecretBytes([0xaa, 0xbb])
        let expected = try prf256.compute(key: oldSKd, data: [0xaa, 0xbb, 1, 2, 3, 4]).bytes
        XCTAssertEqual(try IKEKeyDerivation.rekeyedSKEYSEED(prf: prf256, oldSKd: oldSKd, sharedSecret: gir,
                                                            nonceInitiator: [1, 2], nonceResponder: [3, 4]).bytes, expected)
    }

    func testPSKAuthenticationAndVerify() throws {
        let psk = SecretBytes(Array("secret".utf8))
        let octets: [UInt8] = [1, 2, 3]
        let pad = try prf256.compute(key: psk, data: Array("Key Pad for IKEv2".utf8))
        let expected = try prf256.compute(key: pad, data: octets).bytes
        let auth = try PSKAuthentication.authenticationData(prf: prf256, sharedSecret: psk, signedOctets: octets)
        XCTAssertEqual(auth, expected)
        XCTAssertTrue(try PSKAuthentication.verify(prf: prf256, sharedSecret: psk, signedOctets: octets, received: auth))
        var wrong = auth; wrong[0] ^= 1
        XCTAssertFalse(try PSKAuthentication.verify(prf: prf256, sharedSecret: psk, signedOctets: octets, received: wrong))
        XCTAssertFalse(try PSKAuthentication.verify(prf: prf256, sharedSecret: SecretBytes(Array("Secret".utf8)), signedOctets: octets, received: auth))
    }

    func testSuiteValidation() {
        XCTAssertNoThrow(try EncryptionSuite(encryption: .aesCBC, keyLengthBits: 192, integrity: .hmacSHA2_512_256).validate())
        XCTAssertThrowsCryptoError(try EncryptionSuite(encryption: EncryptionAlgorithm(rawValue: 3), keyLengthBits: nil,
                                                       integrity: .hmacSHA2_256_128).validate()) {
            if case .unsupportedEncryptionSuite = $0 { return true } else { return false }
        }
        XCTAssertEqual(KeyExchangeMethod.modp2048.publicValueLength, 256)
        XCTAssertEqual(KeyExchangeMethod.curve25519.publicValueLength, 32)
        XCTAssertNil(KeyExchangeMethod(rawValue: 2).publicValueLength)
    }
}
