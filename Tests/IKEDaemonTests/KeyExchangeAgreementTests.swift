import XCTest
import IKEv2
import IKECrypto
/// Both sides of every group derive the same secret (regression: ECP/MODP peer keys were
/// imported from dangling OSSL_PARAM_BLD pointers and rejected).
final class KeyExchangeAgreementTests: XCTestCase {
    func testEveryGroupAgreesWithItself() throws {
        let p = OpenSSLCryptoProvider()
        for g in [KeyExchangeMethod.ecp256, .modp2048, .ecp384, .curve25519] {
            let a = try p.makeKeyExchange(g), b = try p.makeKeyExchange(g)
            do {
                let s1 = try a.sharedSecret(peerPublicValue: b.publicValue)
                let s2 = try b.sharedSecret(peerPublicValue: a.publicValue)
                XCTAssertEqual(s1, s2, "\(g)")
            } catch { XCTFail("\(g): \(error) pub len \(a.publicValue.count)") }
        }
    }
}
