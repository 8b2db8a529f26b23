// ECP key exchange for IKEv2 (RFC 5903: groups 19 and 20, NIST P-256 and P-384) with OpenSSL.

import COpenSSL
import IKEv2

/// Elliptic-curve Diffie-Hellman over P-256 or P-384.
///
/// Key Exchange Data is x | y, each coordinate padded to the field size, without the 0x04
/// prefix (RFC 5903 7); the shared secret is the x-coordinate of the shared point.
public final class OpenSSLECPKeyExchange: KeyExchange {
    public let method: KeyExchangeMethod
    public let publicValue: [UInt8]
    private let curve: Curve
    private let key: OwnedPKey

    struct Curve {
        let groupName: String
        let nid: Int32
        let coordinateLength: Int

        init(_ method: KeyExchangeMethod) throws {
            switch method {
            case .ecp256: self = Curve(groupName: "P-256", nid: NID_X9_62_prime256v1, coordinateLength: 32)
            case .ecp384: self = Curve(groupName: "P-384", nid: NID_secp384r1, coordinateLength: 48)
            default: throw IKECryptoError.unsupportedKeyExchangeMethod(method)
            }
        }

        private init(groupName: String, nid: Int32, coordinateLength: Int) {
            self.groupName = groupName; self.nid = nid; self.coordinateLength = coordinateLength
        }
    }

    /// A fresh random key pair on the method's curve.
    public init(_ method: KeyExchangeMethod) throws {
        self.method = method
        curve = try Curve(method)
        key = try OwnedPKey.generate(algorithm: "EC", group: curve.groupName)
        publicValue = try Self.encodedPublicValue(key, curve)
    }

    /// A key pair from a known private scalar (big-endian; known-answer tests, RFC 5903 8).
    public init(_ method: KeyExchangeMethod, privateKey: SecretBytes) throws {
        self.method = method
        let curve = try Curve(method)
        self.curve = curve
        guard privateKey.count == curve.coordinateLength else {
            throw IKECryptoError.invalidKeyLength(algorithm: "\(method)", expected: curve.coordinateLength, actual: privateKey.count)
        }
        let uncompressed = try Self.publicPoint(forPrivateKey: privateKey, curve)
        key = try OwnedPKey.fromData(algorithm: "EC", selection: evpPKeyKeypairSelection) { builder in
            try builder.pushUTF8String("group", curve.groupName)
            try builder.pushOctetString("pub", uncompressed)
            try builder.pushBigNumber("priv", privateKey)
        }
        publicValue = try Self.encodedPublicValue(key, curve)
    }

    /// Validates the peer's x | y (length, on the curve, OpenSSL's public key check) and
    /// returns the x-coordinate of the shared point.
    public func sharedSecret(peerPublicValue: [UInt8]) throws -> SecretBytes {
        let curve = self.curve
        let expected = 2 * curve.coordinateLength
        guard peerPublicValue.count == expected else {
            throw IKECryptoError.invalidPublicValue(method, reason: "length \(peerPublicValue.count), expected \(expected)")
        }
        let uncompressed = [0x04] + peerPublicValue
        guard try Self.isOnCurve(uncompressed, curve) else {
            throw IKECryptoError.invalidPublicValue(method, reason: "point not on the curve")
        }
        let peer: OwnedPKey
        do {
            peer = try OwnedPKey.fromData(algorithm: "EC", selection: evpPKeyPublicKeySelection) { builder in
                try builder.pushUTF8String("group", curve.groupName)
                try builder.pushOctetString("pub", uncompressed)
            }
        } catch {
            ERR_clear_error()
            throw IKECryptoError.invalidPublicValue(method, reason: "point rejected by OpenSSL")
        }
        guard peer.publicKeyIsValid() else {
            throw IKECryptoError.invalidPublicValue(method, reason: "public key check failed")
        }
        // publicKeyIsValid() above ran OpenSSL's full public-key check (EVP_PKEY_public_check:
        // on the curve, coordinates in range); asking derive to validate the peer ran it again.
        let secret = try key.derive(peer: peer, validatePeer: false)
        guard secret.count == curve.coordinateLength else {
            throw IKECryptoError.backend(operation: "ECDH", detail: "shared secret length \(secret.count)")
        }
        return secret
    }

    /// x | y of our public key (the uncompressed point without its 0x04 prefix).
    private static func encodedPublicValue(_ key: OwnedPKey, _ curve: Curve) throws -> [UInt8] {
        let point = try key.octetStringParameter("pub", capacity: 1 + 2 * curve.coordinateLength)
        guard point.count == 1 + 2 * curve.coordinateLength, point.first == 0x04 else {
            throw IKECryptoError.backend(operation: "EC public key", detail: "unexpected point encoding")
        }
        return Array(point.dropFirst())
    }

    /// Whether an uncompressed point decodes and lies on the curve.
    private static func isOnCurve(_ uncompressed: [UInt8], _ curve: Curve) throws -> Bool {
        let group = try check(EC_GROUP_new_by_curve_name(curve.nid), "EC_GROUP_new_by_curve_name")
        defer { EC_GROUP_free(group) }
        let point = try check(EC_POINT_new(group), "EC_POINT_new")
        defer { EC_POINT_free(point) }
        defer { ERR_clear_error() }
        guard EC_POINT_oct2point(group, point, uncompressed, uncompressed.count, nil) == 1 else { return false }
        return EC_POINT_is_on_curve(group, point, nil) == 1 && EC_POINT_is_at_infinity(group, point) == 0
    }

    /// The uncompressed public point d·G for a private scalar d.
    private static func publicPoint(forPrivateKey privateKey: SecretBytes, _ curve: Curve) throws -> [UInt8] {
        let group = try check(EC_GROUP_new_by_curve_name(curve.nid), "EC_GROUP_new_by_curve_name")
        defer { EC_GROUP_free(group) }
        let point = try check(EC_POINT_new(group), "EC_POINT_new")
        defer { EC_POINT_free(point) }
        let scalar = try makeBIGNUM(privateKey)
        defer { BN_clear_free(scalar) }
        try check(EC_POINT_mul(group, point, scalar, nil, nil, nil), "EC_POINT_mul")
        var bytes = [UInt8](repeating: 0, count: 1 + 2 * curve.coordinateLength)
        let written = EC_POINT_point2oct(group, point, POINT_CONVERSION_UNCOMPRESSED, &bytes, bytes.count, nil)
        guard written == bytes.count else { throw openSSLError("EC_POINT_point2oct") }
        return bytes
    }
}
