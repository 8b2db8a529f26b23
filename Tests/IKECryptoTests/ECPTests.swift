// RFC 5903 section 8 (ECP-256 and ECP-384 test vectors) and peer-value validation.
import IKECrypto
import IKEv2
import XCTest

final class ECPTests: XCTestCase {
    struct Vector {
        let method: KeyExchangeMethod
        let i, giX, giY, r, grX, grY, girX: String
    }

    static let vectors = [
        Vector(method: .ecp256,
               i: "C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433",
               giX: "DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF 945D0C37 72581180",
               giY: "5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58 389E0577 B8990BB3",
               r: "C6EF9C5D 78AE012A 011164AC B397CE20 88685D8F 06BF9BE0 B283AB46 476BEE53",
               grX: "D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63",
               grY: "56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB",
               girX: "D6840F6B 42F6EDAF D13116E0 E1256520 2FEF8E9E CE7DCE03 812464D0 4B9442DE"),
        Vector(method: .ecp384,
               i: "099F3C70 34D4A2C6 99884D73 A375A67F 7624EF7C 6B3C0F16 0647B674 14DCE655 E35B5380 41E649EE 3FAEF896 783AB194",
               giX: "667842D7 D180AC2C DE6F74F3 7551F557 55C7645C 20EF73E3 1634FE72 B4C55EE6 DE3AC808 ACB4BDB4 C88732AE E95F41AA",
               giY: "9482ED1F C0EEB9CA FC498462 5CCFC23F 65032149 E0E144AD A0241815 35A0F38E EB9FCFF3 C2C947DA E69B4C63 4573A81C",
               r: "41CB0779 B4BDB85D 47846725 FBEC3C94 30FAB46C C8DC5060 855CC9BD A0AA2942 E0308312 916B8ED2 960E4BD5 5A7448FC",
               grX: "E558DBEF 53EECDE3 D3FCCFC1 AEA08A89 A987475D 12FD950D 83CFA417 32BC509D 0D1AC43A 0336DEF9 6FDA41D0 774A3571",
               grY: "DCFBEC7A ACF31964 72169E83 8430367F 66EEBE3C 6E70C416 DD5F0C68 759DD1FF F83FA401 42209DFF 5EAAD96D B9E6386C",
               girX: "11187331 C279962D 93D60424 3FD592CB 9D0A926F 422E4718 7521287E 7156C5C4 D6031355 69B9E9D0 9CF5D4A2 70F59746"),
    ]

    func testRFC5903Section8Vectors() throws {
        for v in Self.vectors {
            let initiator = try OpenSSLECPKeyExchange(v.method, privateKey: SecretBytes(hex(v.i)))
            let responder = try OpenSSLECPKeyExchange(v.method, privateKey: SecretBytes(hex(v.r)))
            XCTAssertEqual(initiator.publicValue, hex(v.giX + v.giY), "\(v.method) g^i is x | y without 0x04")
            XCTAssertEqual(responder.publicValue, hex(v.grX + v.grY), "\(v.method) g^r")
            XCTAssertEqual(try initiator.sharedSecret(peerPublicValue: responder.publicValue).bytes, hex(v.girX), "\(v.method) g^ir x")
            XCTAssertEqual(try responder.sharedSecret(peerPublicValue: initiator.publicValue).bytes, hex(v.girX), "\(v.method) g^ri x")
        }
    }

    func testFreshKeyPairsAgreeWithFieldSizedValues() throws {
        let provider = OpenSSLCryptoProvider()
        for (method, coordinate) in [(KeyExchangeMethod.ecp256, 32), (.ecp384, 48)] {
            let a = try provider.makeKeyExchange(method), b = try provider.makeKeyExchange(method)
            XCTAssertEqual(a.publicValue.count, 2 * coordinate)
            XCTAssertEqual(method.publicValueLength, 2 * coordinate)
            let secret = try a.sharedSecret(peerPublicValue: b.publicValue)
            XCTAssertEqual(secret.count, coordinate)
            XCTAssertEqual(secret, try b.sharedSecret(peerPublicValue: a.publicValue))
        }
    }

    func testPointNotOnCurveIsRejected() throws {
        let v = Self.vectors[0]
        let exchange = try OpenSSLECPKeyExchange(.ecp256)
        var tampered = hex(v.grX + v.grY)
        tampered[63] ^= 0x01
        XCTAssertThrowsCryptoError(try exchange.sharedSecret(peerPublicValue: tampered)) {
            $0 == .invalidPublicValue(.ecp256, reason: "point not on the curve")
        }
        XCTAssertThrowsCryptoError(try exchange.sharedSecret(peerPublicValue: [UInt8](repeating: 0, count: 64)), "(0,0)") {
            if case .invalidPublicValue(.ecp256, _) = $0 { return true } else { return false }
        }
    }

    func testWrongLengthIsRejected() throws {
        let exchange = try OpenSSLECPKeyExchange(.ecp384)
        let v = Self.vectors[0]
        // A valid P-256 point is the wrong length for P-384; and the 0x04-prefixed form is refused.
        for value in [hex(v.grX + v.grY), [0x04] + hex(Self.vectors[1].grX + Self.vectors[1].grY), []] {
            XCTAssertThrowsCryptoError(try exchange.sharedSecret(peerPublicValue: value)) {
                if case .invalidPublicValue(.ecp384, let reason) = $0 { return reason.hasPrefix("length") } else { return false }
            }
        }
    }

    func testUnsupportedMethodIsRejected() {
        XCTAssertThrowsCryptoError(try OpenSSLECPKeyExchange(.curve25519)) { $0 == .unsupportedKeyExchangeMethod(.curve25519) }
        XCTAssertThrowsCryptoError(try OpenSSLCryptoProvider().makeKeyExchange(KeyExchangeMethod(rawValue: 21))) {
            $0 == .unsupportedKeyExchangeMethod(KeyExchangeMethod(rawValue: 21))
        }
    }
}
