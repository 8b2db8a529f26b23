// Curve25519 key exchange for IKEv2 (RFC 8031, RFC 7748) with OpenSSL.

import COpenSSL
import IKEv2

/// X25519: public values and shared secrets are 32 octets (RFC 8031 2).
public final class OpenSSLX25519KeyExchange: KeyExchange {
    public let method = KeyExchangeMethod.curve25519
    public let publicValue: [UInt8]
    private let key: OwnedPKey

    /// A fresh random key pair.
    public init() throws {
        key = try OwnedPKey.generate(algorithm: "X25519", group: nil)
        publicValue = try Self.rawPublicKey(key)
    }

    /// A key pair from a known 32-octet private scalar (known-answer tests, RFC 7748 6.1).
    public init(privateKey: SecretBytes) throws {
        guard privateKey.count == 32 else {
            throw IKECryptoError.invalidKeyLength(algorithm: "X25519", expected: 32, actual: privateKey.count)
        }
        let raw = privateKey.withUnsafeBytes { bytes in
            EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nil, bytes.bindMemory(to: UInt8.self).baseAddress, 32)
        }
        key = OwnedPKey(taking: try check(raw, "EVP_PKEY_new_raw_private_key"))
        publicValue = try Self.rawPublicKey(key)
    }

    /// X25519(our scalar, peer u). Rejects a peer value that is not 32 octets and an
    /// all-zero result (RFC 7748 6.1: a small-order peer point; RFC 8031 2.3 says MUST check).
    public func sharedSecret(peerPublicValue: [UInt8]) throws -> SecretBytes {
        guard peerPublicValue.count == 32 else {
            throw IKECryptoError.invalidPublicValue(method, reason: "length \(peerPublicValue.count), expected 32")
        }
        let raw = peerPublicValue.withUnsafeBufferPointer {
            EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nil, $0.baseAddress, 32)
        }
        let peer = OwnedPKey(taking: try check(raw, "EVP_PKEY_new_raw_public_key"))
        let secret: SecretBytes
        do {
            secret = try key.derive(peer: peer, validatePeer: false)
        } catch {
            // OpenSSL's X25519 derive fails only for an all-zero output.
            throw IKECryptoError.degenerateSharedSecret(method)
        }
        guard secret.count == 32, !constantTimeEquals(secret, SecretBytes(zeroes: 32)) else {
            throw IKECryptoError.degenerateSharedSecret(method)
        }
        return secret
    }

    private static func rawPublicKey(_ key: OwnedPKey) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 32)
        var length = 32
        try check(EVP_PKEY_get_raw_public_key(key.pointer, &bytes, &length), "EVP_PKEY_get_raw_public_key")
        guard length == 32 else { throw IKECryptoError.backend(operation: "EVP_PKEY_get_raw_public_key", detail: "length \(length)") }
        return bytes
    }
}
