// RFC 3526 group 14 (MODP-2048): the prime, agreement, and rejected public values.
import IKECrypto
import IKEv2
import XCTest

final class MODPTests: XCTestCase {
    /// RFC 3526 section 3, the 2048-bit MODP group's prime.
    static let rfc3526Prime = hex("""
        FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1
        29024E08 8A67CC74 020BBEA6 3B139B22 514A0879 8E3404DD
        EF9519B3 CD3A431B 302B0A6D F25F1437 4FE1356D 6D51C245
        E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED
        EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE45B3D
        C2007CB8 A163BF05 98DA4836 1C55D39A 69163FA8 FD24CF5F
        83655D23 DCA3AD96 1C62F356 208552BB 9ED52907 7096966D
        670C354E 4ABC9804 F1746C08 CA18217C 32905E46 2E36CE3B
        E39E772C 180E8603 9B2783A2 EC07A28F B5C55DF0 6F4C52C9
        DE2BCBF6 95581718 3995497C EA956AE5 15D22618 98FA0510
        15728E5A 8AACAA68 FFFFFFFF FFFFFFFF
        """)

    func testGroupIsRFC3526Group14() throws {
        XCTAssertEqual(Self.rfc3526Prime.count, 256)
        XCTAssertEqual(try OpenSSLMODPKeyExchange(.modp2048).prime(), Self.rfc3526Prime)
    }

    func testTwoPartiesAgreeOnAPrimeLengthSecret() throws {
        let provider = OpenSSLCryptoProvider()
        let initiator = try provider.makeKeyExchange(.modp2048), responder = try provider.makeKeyExchange(.modp2048)
        XCTAssertEqual(initiator.publicValue.count, 256)
        XCTAssertNotEqual(initiator.publicValue, responder.publicValue)
        let a = try initiator.sharedSecret(peerPublicValue: responder.publicValue)
        let b = try responder.sharedSecret(peerPublicValue: initiator.publicValue)
        XCTAssertEqual(a.count, 256)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, try initiator.sharedSecret(peerPublicValue: try provider.makeKeyExchange(.modp2048).publicValue))
    }

    func testOutOfRangePublicValuesAreRejected() throws {
        let exchange = try OpenSSLMODPKeyExchange(.modp2048)
        func value(_ lastByte: UInt8) -> [UInt8] { [UInt8](repeating: 0, count: 255) + [lastByte] }
        var pMinusOne = Self.rfc3526Prime
        pMinusOne[255] -= 1
        let cases: [(String, [UInt8])] = [
            ("0", value(0)), ("1", value(1)), ("p-1", pMinusOne), ("p", Self.rfc3526Prime),
            ("2^2048-1", [UInt8](repeating: 0xff, count: 256)),
        ]
        for (name, y) in cases {
            XCTAssertThrowsCryptoError(try exchange.sharedSecret(peerPublicValue: y), name) {
                $0 == .invalidPublicValue(.modp2048, reason: "not in 1 < y < p-1")
            }
        }
    }

    func testValueOutsideThePrimeOrderSubgroupIsRejected() throws {
        // p-2 ≡ -2 is in range, but a quadratic non-residue (p ≡ 7 mod 8: -1 is a non-residue,
        // 2 a residue), so it lies outside the order-q subgroup: OpenSSL's y^q mod p == 1 check fails.
        var pMinusTwo = Self.rfc3526Prime
        pMinusTwo[255] -= 2
        let exchange = try OpenSSLMODPKeyExchange(.modp2048)
        XCTAssertThrowsCryptoError(try exchange.sharedSecret(peerPublicValue: pMinusTwo)) {
            if case .invalidPublicValue(.modp2048, _) = $0 { return true } else { return false }
        }
    }

    /// The Legendre-symbol membership test accepts exactly what OpenSSL's full public-key check
    /// (y^q mod p = 1) accepts: fresh public values, squares, -2, and random in-range values
    /// (about half of them non-residues).
    func testSubgroupTestAgreesWithOpenSSLsFullCheck() throws {
        let exchange = try OpenSSLMODPKeyExchange(.modp2048)
        var pMinusTwo = Self.rfc3526Prime
        pMinusTwo[255] -= 2
        var values: [[UInt8]] = [pMinusTwo, [UInt8](repeating: 0, count: 255) + [2], [UInt8](repeating: 0, count: 255) + [3]]
        for _ in 0..<4 { values.append(try OpenSSLMODPKeyExchange(.modp2048).publicValue) }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<24 {
            // Below p (whose top octets are 0xFF): a first octet under 0x80 keeps it in range.
            values.append([UInt8.random(in: 1...0x7F, using: &generator)] + (1..<256).map { _ in UInt8.random(in: 0...255, using: &generator) })
        }
        var accepted = 0
        for value in values {
            let ours = try exchange.acceptsInRangePublicValue(value)
            XCTAssertEqual(ours, try OpenSSLMODPKeyExchange.openSSLAcceptsPublicValue(value))
            if ours { accepted += 1 }
        }
        XCTAssertFalse(try exchange.acceptsInRangePublicValue(pMinusTwo))
        XCTAssertTrue(try exchange.acceptsInRangePublicValue([UInt8](repeating: 0, count: 255) + [2]), "g = 2 generates the subgroup")
        XCTAssertGreaterThan(accepted, 4)
        XCTAssertLessThan(accepted, values.count - 1)
    }

    func testWrongLengthIsRejected() throws {
        let exchange = try OpenSSLMODPKeyExchange(.modp2048)
        let peer = try OpenSSLMODPKeyExchange(.modp2048).publicValue
        for value in [Array(peer.dropFirst()), [0] + peer, []] {
            XCTAssertThrowsCryptoError(try exchange.sharedSecret(peerPublicValue: value)) {
                if case .invalidPublicValue(.modp2048, let reason) = $0 { return reason.hasPrefix("length") } else { return false }
            }
        }
    }
}
