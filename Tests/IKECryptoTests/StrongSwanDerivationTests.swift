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
        XCTAssertEqual(Set(strongSwanCapture.keys), ["gcm", "cbc", "modp"])
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
            // The kernel (ip xfrm state on the initiator) is the witness for every connection.
            XCTAssertEqual(keys.initiatorToResponderEncryption.bytes, try value(connection, "kernelInitiatorToResponderEncryption"),
                           "\(connection.name) i→r encryption (kernel)")
            XCTAssertEqual(keys.responderToInitiatorEncryption.bytes, try value(connection, "kernelResponderToInitiatorEncryption"),
                           "\(connection.name) r→i encryption (kernel)")
            if !connection.espSuite.encryption.isAEAD {
                XCTAssertEqual(keys.initiatorToResponderIntegrity.bytes, try value(connection, "kernelInitiatorToResponderIntegrity"))
                XCTAssertEqual(keys.responderToInitiatorIntegrity.bytes, try value(connection, "kernelResponderToInitiatorIntegrity"))
            }
            // charon's own dump, where the log has it.
            if let charon = strongSwanCapture[connection.name]?["childEncryptionInitiator"] {
                XCTAssertEqual(keys.initiatorToResponderEncryption.bytes, hex(charon), "\(connection.name) charon i→r")
            }
        }
    }
}
