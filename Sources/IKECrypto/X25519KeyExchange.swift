// Curve25519 key exchange for IKEv2 (RFC 8031, RFC 7748) with swift-crypto (BoringSSL's
// X25519): the responder's per-IKE_SA_INIT key pair + shared secret. Chosen over OpenSSL 3's
// for speed: OpenSSL's key generation computes the public value with generic C code and
// fetches its provider by name each time (~1.7x a shared secret); BoringSSL's uses a
// precomputed base-point table. `OpenSSLX25519KeyExchange` stays as the cross-check in tests.

import Crypto
import IKEv2

/// X25519: public values and shared secrets are 32 octets (RFC 8031 2). The private key and
/// the shared secret live in swift-crypto's SecureBytes (zeroed when freed); the secret is
/// handed on as SecretBytes.
public final class X25519KeyExchange: KeyExchange {
    public let method = KeyExchangeMethod.curve25519
    public let publicValue: [UInt8]
    private let key: Curve25519.KeyAgreement.PrivateKey

    /// A fresh random key pair.
    public init() {
        key = Curve25519.KeyAgreement.PrivateKey()
        publicValue = Array(key.publicKey.rawRepresentation)
    }

    /// A key pair from a known 32-octet private scalar (known-answer tests, RFC 7748 6.1).
    public init(privateKey: SecretBytes) throws {
        guard privateKey.count == 32 else {
            throw IKECryptoError.invalidKeyLength(algorithm: "X25519", expected: 32, actual: privateKey.count)
        }
        do {
            key = try privateKey.withUnsafeBytes { try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: $0) }
        } catch {
            throw IKECryptoError.backend(operation: "X25519 private key", detail: "\(error)")
        }
        publicValue = Array(key.publicKey.rawRepresentation)
    }

    /// X25519(our scalar, peer u). Rejects a peer value that is not 32 octets and an
    /// all-zero result (RFC 7748 6.1: a small-order peer point; RFC 8031 2.3 says MUST check).
    public func sharedSecret(peerPublicValue: [UInt8]) throws -> SecretBytes {
        guard peerPublicValue.count == 32 else {
            throw IKECryptoError.invalidPublicValue(method, reason: "length \(peerPublicValue.count), expected 32")
        }
        let shared: SharedSecret
        do {
            let peer = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: peerPublicValue)
            shared = try key.sharedSecretFromKeyAgreement(with: peer)
        } catch {
            // Only a wrong-length public key throws here (checked above already).
            throw IKECryptoError.invalidPublicValue(method, reason: "\(error)")
        }
        // swift-crypto does not reject an all-zero result (it ignores X25519()'s return code):
        // the check below is the one RFC 8031 2.3 asks for.
        let secret = shared.withUnsafeBytes { SecretBytes(copying: $0) }
        guard secret.count == 32, !constantTimeEquals(secret, SecretBytes(zeroes: 32)) else {
            throw IKECryptoError.degenerateSharedSecret(method)
        }
        return secret
    }
}
