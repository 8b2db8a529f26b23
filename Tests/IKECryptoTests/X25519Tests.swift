// RFC 7748 sections 5.2 and 6.1 (X25519) and RFC 8031's checks, through both implementations:
// X25519KeyExchange (swift-crypto/BoringSSL, what the provider makes) and OpenSSLX25519KeyExchange.
import IKECrypto
import IKEv2
import XCTest

final class X25519Tests: XCTestCase {
    /// Each implementation: from a known private scalar, and fresh.
    let implementations: [(name: String, known: (SecretBytes) throws -> any KeyExchange, fresh: () throws -> any KeyExchange)] = [
        ("swift-crypto", { try X25519KeyExchange(privateKey: $0) }, { X25519KeyExchange() }),
        ("OpenSSL", { try OpenSSLX25519KeyExchange(privateKey: $0) }, { try OpenSSLX25519KeyExchange() }),
    ]

    /// X25519(k, u) via the key exchange API: our scalar k, the peer's u; every implementation
    /// must give the same answer, which is returned.
    func x25519(_ scalar: [UInt8], _ u: [UInt8]) throws -> [UInt8] {
        let results = try implementations.map { try $0.known(SecretBytes(scalar)).sharedSecret(peerPublicValue: u).bytes }
        XCTAssertEqual(Set(results).count, 1, "implementations disagree")
        return results[0]
    }

    func testRFC7748Section5_2ScalarMultiplication() throws {
        XCTAssertEqual(hexString(try x25519(hex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
                                            hex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"))),
                       "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")
        // The second vector's u has its top bit set: RFC 7748 5 says it MUST be masked.
        XCTAssertEqual(hexString(try x25519(hex("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d"),
                                            hex("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493"))),
                       "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957")
    }

    func testRFC7748Section5_2IteratedOnceAndThousandTimes() throws {
        var k = [UInt8](repeating: 0, count: 32)
        k[0] = 9
        var u = k
        for iteration in 1...1000 {
            let next = try x25519(k, u)
            u = k
            k = next
            if iteration == 1 {
                XCTAssertEqual(hexString(k), "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079")
            }
        }
        XCTAssertEqual(hexString(k), "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51")
    }

    func testRFC7748Section6_1DiffieHellman() throws {
        for implementation in implementations {
            let alice = try implementation.known(SecretBytes(hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")))
            let bob = try implementation.known(SecretBytes(hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")))
            XCTAssertEqual(hexString(alice.publicValue), "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", implementation.name)
            XCTAssertEqual(hexString(bob.publicValue), "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", implementation.name)
            let shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
            XCTAssertEqual(hexString(try alice.sharedSecret(peerPublicValue: bob.publicValue).bytes), shared, implementation.name)
            XCTAssertEqual(hexString(try bob.sharedSecret(peerPublicValue: alice.publicValue).bytes), shared, implementation.name)
        }
    }

    func testFreshKeyPairsAgree() throws {
        let provider = OpenSSLCryptoProvider()
        let a = try provider.makeKeyExchange(.curve25519), b = try provider.makeKeyExchange(.curve25519)
        XCTAssertTrue(a is X25519KeyExchange, "the provider makes swift-crypto's X25519")
        XCTAssertEqual(a.publicValue.count, 32)
        XCTAssertNotEqual(a.publicValue, b.publicValue)
        XCTAssertEqual(try a.sharedSecret(peerPublicValue: b.publicValue), try b.sharedSecret(peerPublicValue: a.publicValue))
    }

    /// A fresh key pair of one implementation agrees with one of the other (both directions).
    func testImplementationsInteroperate() throws {
        let ours = X25519KeyExchange(), theirs = try OpenSSLX25519KeyExchange()
        XCTAssertEqual(try ours.sharedSecret(peerPublicValue: theirs.publicValue),
                       try theirs.sharedSecret(peerPublicValue: ours.publicValue))
    }

    func testWrongLengthPeerValueIsRejected() throws {
        for implementation in implementations {
            let exchange = try implementation.fresh()
            for length in [0, 31, 33, 64] {
                XCTAssertThrowsCryptoError(try exchange.sharedSecret(peerPublicValue: [UInt8](repeating: 9, count: length))) {
                    if case .invalidPublicValue(.curve25519, _) = $0 { return true } else { return false }
                }
            }
        }
    }

    func testSmallOrderPeerValuesGiveAllZeroSecretAndAreRejected() throws {
        // u = 0 and u = 1 are points of small order: X25519 yields all zeroes (RFC 7748 6.1).
        var one = [UInt8](repeating: 0, count: 32)
        one[0] = 1
        for implementation in implementations {
            let exchange = try implementation.fresh()
            for u in [[UInt8](repeating: 0, count: 32), one] {
                XCTAssertThrowsCryptoError(try exchange.sharedSecret(peerPublicValue: u)) { $0 == .degenerateSharedSecret(.curve25519) }
            }
        }
    }

    func testPrivateKeyOfWrongLengthIsRejected() {
        for implementation in implementations {
            XCTAssertThrowsCryptoError(try implementation.known(SecretBytes([1, 2, 3]))) {
                $0 == .invalidKeyLength(algorithm: "X25519", expected: 32, actual: 3)
            }
        }
    }
}
