// Our key derivation reproduces a real strongSwan 5.9.8 exchange, captured in the lab VM by
// StrongSwanCapture/capture.sh (two charons in two namespaces, PSK, charon log level 4 for
// ike/chd/enc) and extracted verbatim by StrongSwanCapture/extract.py into
// StrongSwanCaptureVectors.swift. The CHILD_SA keys are also checked against the initiator
// kernel's `ip xfrm state` (the kernel is the independent witness of what charon installed).
//
// From the capture we take only inputs (g^ir, the IKE_SA_INIT messages inside charon's
// "octets" dumps, IDx', the PSK) and compare everything we derive with charon's outputs.
import IKECrypto
import IKEv2
import XCTest

final class StrongSwanDerivationTests: XCTestCase {
    struct Connection {
        let name: String
        let prf: PseudorandomFunctionID
        let ikeSuite: EncryptionSuite
        let espSuite: EncryptionSuite
        /// Whether logs/ini-xfrm-state.txt holds this connection's first CHILD_SA (the "rekey"
        /// connection's was already replaced when the SPIs were listed).
        var kernelWitness = true
    }

    /// The negotiated transforms, as `swanctl --list-sas` reported them (logs/ini-list-sas.txt).
    static let connections = [
        Connection(name: "gcm", prf: .hmacSHA2_256,
                   ikeSuite: EncryptionSuite(encryption: .aesGCM16, keyLengthBits: 256),       // AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519
                   espSuite: EncryptionSuite(encryption: .aesGCM16, keyLengthBits: 256)),
        Connection(name: "cbc", prf: .hmacSHA2_256,
                   ikeSuite: EncryptionSuite(encryption: .aesCBC, keyLengthBits: 128, integrity: .hmacSHA2_256_128),  // ECP_256
                   espSuite: EncryptionSuite(encryption: .aesCBC, keyLengthBits: 128, integrity: .hmacSHA2_256_128)),
        Connection(name: "modp", prf: .hmacSHA2_384,
                   ikeSuite: EncryptionSuite(encryption: .aesCBC, keyLengthBits: 256, integrity: .hmacSHA2_384_192),  // MODP_2048
                   espSuite: EncryptionSuite(encryption: .aesGCM16, keyLengthBits: 256)),
        Connection(name: "rekey", prf: .hmacSHA2_256,
                   ikeSuite: EncryptionSuite(encryption: .aesGCM16, keyLengthBits: 128),       // AES_GCM_16-128/PRF_HMAC_SHA2_256/CURVE_25519
                   espSuite: EncryptionSuite(encryption: .aesGCM16, keyLengthBits: 128), kernelWitness: false),
    ]

    /// One side's signed octets split into RealMessage | peer Nonce Data | MACedID.
    struct SignedOctets {
        let message: [UInt8]
        let peerNonce: [UInt8]
        let macedID: [UInt8]

        init(_ octets: [UInt8], prfLength: Int) throws {
            // The IKE header's Length field (octets 24-27) says where the message ends.
            let length = try XCTUnwrap(octets.count >= 28 ? octets[24..<28].reduce(0) { $0 << 8 | Int($1) } : nil)
            XCTAssertLessThan(length + prfLength, octets.count)
            message = Array(octets[0..<length])
            peerNonce = Array(octets[length..<(octets.count - prfLength)])
            macedID = Array(octets.suffix(prfLength))
        }
    }

    func value(_ connection: Connection, _ field: String) throws -> [UInt8] {
        hex(try XCTUnwrap(strongSwanCapture[connection.name]?[field], "\(connection.name).\(field) missing from the capture"))
    }

    func testCaptureHoldsThreeIKESAs() {
        XCTAssertEqual(Set(strongSwanCapture.keys), ["gcm", "cbc", "modp", "rekey", "rekeyedIKESA"])
    }

    func testSKEYSEEDAndIKESAKeysMatchStrongSwan() throws {
        for connection in Self.connections {
            let prf = try OpenSSLHMACPseudorandomFunction(connection.prf)
            let initiator = try SignedOctets(try value(connection, "initiatorSignedOctets"), prfLength: prf.outputLength)
            let responder = try SignedOctets(try value(connection, "responderSignedOctets"), prfLength: prf.outputLength)
            let nonceI = responder.peerNonce, nonceR = initiator.peerNonce
            XCTAssertEqual(nonceI.count, 32, "\(connection.name): charon's nonces are 32 octets")
            if let seed = strongSwanCapture[connection.name]?["childSeed"] {
                XCTAssertEqual(nonceI + nonceR, hex(seed), "\(connection.name): Ni | Nr equal charon's CHILD_SA seed")
            }

            let skeyseed = try IKEKeyDerivation.skeyseed(prf: prf, nonceInitiator: nonceI, nonceResponder: nonceR,
                                                         sharedSecret: SecretBytes(try value(connection, "sharedSecret")))
            XCTAssertEqual(skeyseed.bytes, try value(connection, "skeyseed"), "\(connection.name) SKEYSEED")

            let keys = try IKEKeyDerivation.ikeSAKeys(prf: prf, skeyseed: skeyseed, nonceInitiator: nonceI, nonceResponder: nonceR,
                                                      initiatorSPI: Array(initiator.message[0..<8]),
                                                      responderSPI: Array(responder.message[8..<16]), suite: connection.ikeSuite)
            XCTAssertEqual(keys.skD.bytes, try value(connection, "skD"), "\(connection.name) SK_d")
            XCTAssertEqual(keys.skEi.bytes, try value(connection, "skEi"), "\(connection.name) SK_ei")
            XCTAssertEqual(keys.skEr.bytes, try value(connection, "skEr"), "\(connection.name) SK_er")
            XCTAssertEqual(keys.skPi.bytes, try value(connection, "skPi"), "\(connection.name) SK_pi")
            XCTAssertEqual(keys.skPr.bytes, try value(connection, "skPr"), "\(connection.name) SK_pr")
            if connection.ikeSuite.encryption.isAEAD {
                XCTAssertTrue(keys.skAi.isEmpty && keys.skAr.isEmpty, "charon derives no SK_a for AEAD")
            } else {
                XCTAssertEqual(keys.skAi.bytes, try value(connection, "skAi"), "\(connection.name) SK_ai")
                XCTAssertEqual(keys.skAr.bytes, try value(connection, "skAr"), "\(connection.name) SK_ar")
            }
        }
    }

    func testSignedOctetsAndPSKAuthMatchStrongSwan() throws {
        for connection in Self.connections {
            let prf = try OpenSSLHMACPseudorandomFunction(connection.prf)
            let psk = SecretBytes(try value(connection, "psk"))
            for (side, octetsField, idField, keyField, authField) in [
                ("initiator", "initiatorSignedOctets", "idInitiatorBody", "skPi", "initiatorAuth"),
                ("responder", "responderSignedOctets", "idResponderBody", "skPr", "responderAuth"),
            ] {
                let captured = try value(connection, octetsField)
                let parts = try SignedOctets(captured, prfLength: prf.outputLength)
                let octets = try PSKAuthentication.signedOctets(prf: prf, message: parts.message, peerNonce: parts.peerNonce,
                                                                skP: SecretBytes(try value(connection, keyField)),
                                                                identificationPayloadBody: try value(connection, idField))
                XCTAssertEqual(octets, captured, "\(connection.name) \(side) signed octets (MACedID)")
                let auth = try PSKAuthentication.authenticationData(prf: prf, sharedSecret: psk, signedOctets: octets)
                XCTAssertEqual(auth, try value(connection, authField), "\(connection.name) \(side) AUTH")
                XCTAssertTrue(try PSKAuthentication.verify(prf: prf, sharedSecret: psk, signedOctets: captured,
                                                           received: try value(connection, authField)))
                XCTAssertFalse(try PSKAuthentication.verify(prf: prf, sharedSecret: SecretBytes(Array("wrong".utf8)),
                                                            signedOctets: captured, received: try value(connection, authField)))
            }
        }
    }

    func testChildSAKeysMatchCharonAndTheKernel() throws {
        for connection in Self.connections {
            let prf = try OpenSSLHMACPseudorandomFunction(connection.prf)
            let initiator = try SignedOctets(try value(connection, "initiatorSignedOctets"), prfLength: prf.outputLength)
            let responder = try SignedOctets(try value(connection, "responderSignedOctets"), prfLength: prf.outputLength)
            let keys = try IKEKeyDerivation.childSAKeys(prf: prf, skD: SecretBytes(try value(connection, "skD")), sharedSecret: nil,
                                                        nonceInitiator: responder.peerNonce, nonceResponder: initiator.peerNonce,
                                                        suite: connection.espSuite)
            XCTAssertEqual(keys.initiatorToResponderEncryption.bytes, try value(connection, "childEncryptionInitiator"), "\(connection.name) charon i→r")
            XCTAssertEqual(keys.responderToInitiatorEncryption.bytes, try value(connection, "childEncryptionResponder"), "\(connection.name) charon r→i")
            // The kernel (ip xfrm state on the initiator) is the witness.
            guard connection.kernelWitness else { continue }
            XCTAssertEqual(keys.initiatorToResponderEncryption.bytes, try value(connection, "kernelInitiatorToResponderEncryption"),
                           "\(connection.name) i→r encryption (kernel)")
            XCTAssertEqual(keys.responderToInitiatorEncryption.bytes, try value(connection, "kernelResponderToInitiatorEncryption"),
                           "\(connection.name) r→i encryption (kernel)")
            if !connection.espSuite.encryption.isAEAD {
                XCTAssertEqual(keys.initiatorToResponderIntegrity.bytes, try value(connection, "kernelInitiatorToResponderIntegrity"))
                XCTAssertEqual(keys.responderToInitiatorIntegrity.bytes, try value(connection, "kernelResponderToInitiatorIntegrity"))
            }
        }
    }

    /// The IKE_AUTH request's SK payload as charon sealed it (IV, encrypted, ICV, and the
    /// header octets it authenticated) opens with our protection and SK_ei/SK_ai, and gives
    /// charon's plaintext; our seal of that plaintext opens with the same keys.
    func testStrongSwanSKPayloadOpensWithOurProtection() throws {
        let provider = OpenSSLCryptoProvider()
        for connection in Self.connections {
            let integrityKey = connection.ikeSuite.encryption.isAEAD ? SecretBytes(zeroes: 0) : SecretBytes(try value(connection, "skAi"))
            let protection = try provider.makeEncryptedPayloadProtection(suite: connection.ikeSuite,
                                                                         encryptionKey: SecretBytes(try value(connection, "skEi")),
                                                                         integrityKey: integrityKey)
            let sealed = try value(connection, "skIV") + value(connection, "skEncrypted") + value(connection, "skICV")
            let aad = try value(connection, "skAssociatedData")
            XCTAssertEqual(aad.count, 28 + 4, "IKE header + SK generic payload header")
            XCTAssertEqual(sealed.count, protection.sealedLength(plaintextLength: try value(connection, "skPlain").count),
                           "\(connection.name): charon pads like we do")
            XCTAssertEqual(try protection.open(sealed, associatedData: aad), try value(connection, "skPlain"), connection.name)
            var tampered = sealed
            tampered[protection.ivLength + 3] ^= 0x10
            XCTAssertThrowsCryptoError(try protection.open(tampered, associatedData: aad), connection.name) { $0 == .integrityCheckFailed }
            let ours = try protection.seal(plaintext: try value(connection, "skPlain"), associatedData: aad)
            XCTAssertEqual(try protection.open(ours, associatedData: aad), try value(connection, "skPlain"))
        }
    }

    /// The payloads of a decrypted SK payload: (type, body) pairs, walking the generic
    /// headers from the SK header's Next Payload (octet 28 of the associated data).
    func payloads(plain: [UInt8], associatedData: [UInt8]) throws -> [(UInt8, [UInt8])] {
        var type = associatedData[28]
        var offset = 0
        var result: [(UInt8, [UInt8])] = []
        while type != 0 {
            XCTAssertLessThanOrEqual(offset + 4, plain.count)
            let length = Int(plain[offset + 2]) << 8 | Int(plain[offset + 3])
            let body = Array(plain[(offset + 4)..<(offset + length)])
            result.append((type, body))
            type = plain[offset]
            offset += length
        }
        return result
    }

    /// RFC 7296 2.18: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr), and the new IKE SA's
    /// keys from prf+(SKEYSEED, Ni | Nr | SPIi | SPIr), against charon's rekey of "rekey".
    func testIKESARekeyMatchesStrongSwan() throws {
        let old = Self.connections[3]
        let rekeyed = Connection(name: "rekeyedIKESA", prf: old.prf, ikeSuite: old.ikeSuite, espSuite: old.espSuite)
        let prf = try OpenSSLHMACPseudorandomFunction(old.prf)
        let request = try payloads(plain: try value(old, "rekeyRequestPlain"), associatedData: try value(old, "rekeyRequestAssociatedData"))
        let response = try payloads(plain: try value(old, "rekeyResponsePlain"), associatedData: try value(old, "rekeyResponseAssociatedData"))
        let nonceI = try XCTUnwrap(request.first { $0.0 == 40 }?.1, "Ni payload")
        let nonceR = try XCTUnwrap(response.first { $0.0 == 40 }?.1, "Nr payload")
        // SA payload: the first proposal's SPI (Proposal header: 8 octets, SPI Size at octet 6).
        func spi(_ chain: [(UInt8, [UInt8])]) throws -> [UInt8] {
            let sa = try XCTUnwrap(chain.first { $0.0 == 33 }?.1, "SA payload")
            XCTAssertEqual(sa[5], 1, "protocol IKE")
            XCTAssertEqual(sa[6], 8, "8-octet IKE SPI")
            return Array(sa[8..<16])
        }
        let (spiI, spiR) = (try spi(request), try spi(response))
        XCTAssertEqual(hexString(spiI + spiR), "d3b43435f40afe54" + "d9714313e85c2da1", "the SPIs swanctl --list-sas shows after the rekey")

        let skeyseed = try IKEKeyDerivation.rekeyedSKEYSEED(prf: prf, oldSKd: SecretBytes(try value(old, "skD")),
                                                            sharedSecret: SecretBytes(try value(rekeyed, "sharedSecret")),
                                                            nonceInitiator: nonceI, nonceResponder: nonceR)
        XCTAssertEqual(skeyseed.bytes, try value(rekeyed, "skeyseed"), "rekeyed SKEYSEED")
        let keys = try IKEKeyDerivation.ikeSAKeys(prf: prf, skeyseed: skeyseed, nonceInitiator: nonceI, nonceResponder: nonceR,
                                                  initiatorSPI: spiI, responderSPI: spiR, suite: rekeyed.ikeSuite)
        XCTAssertEqual(keys.skD.bytes, try value(rekeyed, "skD"))
        XCTAssertEqual(keys.skEi.bytes, try value(rekeyed, "skEi"))
        XCTAssertEqual(keys.skEr.bytes, try value(rekeyed, "skEr"))
        XCTAssertEqual(keys.skPi.bytes, try value(rekeyed, "skPi"))
        XCTAssertEqual(keys.skPr.bytes, try value(rekeyed, "skPr"))
    }

    /// RFC 7296 2.17 with PFS: KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr), against charon's
    /// CHILD_SA rekey of "rekey" (x25519 KE) and the kernel's SAs after it.
    func testChildSARekeyWithPFSMatchesStrongSwanAndTheKernel() throws {
        let connection = Self.connections[3]
        let prf = try OpenSSLHMACPseudorandomFunction(connection.prf)
        let sharedSecret = try value(connection, "pfsSharedSecret")
        let seed = try value(connection, "pfsSeed")
        XCTAssertEqual(seed.count, 96)
        XCTAssertEqual(Array(seed[0..<32]), sharedSecret, "seed starts with g^ir")
        let keys = try IKEKeyDerivation.childSAKeys(prf: prf, skD: SecretBytes(try value(connection, "skD")),
                                                    sharedSecret: SecretBytes(sharedSecret),
                                                    nonceInitiator: Array(seed[32..<64]), nonceResponder: Array(seed[64..<96]),
                                                    suite: connection.espSuite)
        XCTAssertEqual(keys.initiatorToResponderEncryption.bytes, try value(connection, "pfsEncryptionInitiator"))
        XCTAssertEqual(keys.responderToInitiatorEncryption.bytes, try value(connection, "pfsEncryptionResponder"))
        XCTAssertEqual(keys.initiatorToResponderEncryption.bytes, try value(connection, "kernelAfterRekeyInitiatorToResponderEncryption"))
        XCTAssertEqual(keys.responderToInitiatorEncryption.bytes, try value(connection, "kernelAfterRekeyResponderToInitiatorEncryption"))
        // Without the new g^ir the keys differ (PFS really enters KEYMAT).
        let withoutPFS = try IKEKeyDerivation.childSAKeys(prf: prf, skD: SecretBytes(try value(connection, "skD")), sharedSecret: nil,
                                                          nonceInitiator: Array(seed[32..<64]), nonceResponder: Array(seed[64..<96]),
                                                          suite: connection.espSuite)
        XCTAssertNotEqual(withoutPFS.initiatorToResponderEncryption, keys.initiatorToResponderEncryption)
    }
}
