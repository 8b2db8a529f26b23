// MODP key exchange for IKEv2: group 14, the 2048-bit MODP group of RFC 3526 3, with OpenSSL
// (its named safe-prime group "modp_2048", whose prime is RFC 3526's).

import COpenSSL
import IKEv2

/// Finite-field Diffie-Hellman in the 2048-bit MODP group (RFC 3526 group 14, generator 2).
///
/// Public values and shared secrets are big-endian, left-padded to the prime's length (256
/// octets), as RFC 7296 3.4 and 2.14 require.
public final class OpenSSLMODPKeyExchange: KeyExchange {
    public let method: KeyExchangeMethod
    public let publicValue: [UInt8]
    private let key: OwnedPKey
    private let groupName: String
    private let primeLength: Int

    /// A fresh random key pair. Throws `unsupportedKeyExchangeMethod` for other groups.
    public init(_ method: KeyExchangeMethod) throws {
        guard method == .modp2048 else { throw IKECryptoError.unsupportedKeyExchangeMethod(method) }
        self.method = method
        groupName = "modp_2048"
        primeLength = 256
        key = try OwnedPKey.generate(algorithm: "DH", group: groupName)
        publicValue = try key.bigNumberParameter("pub", length: primeLength)
    }

    /// The group's prime p, big-endian (the test compares it with RFC 3526's).
    public func prime() throws -> [UInt8] {
        try key.bigNumberParameter("p", length: primeLength)
    }

    /// Validates 1 < y < p-1 (and OpenSSL's subgroup check), then g^xy mod p padded to 256 octets.
    public func sharedSecret(peerPublicValue: [UInt8]) throws -> SecretBytes {
        guard peerPublicValue.count == primeLength else {
            throw IKECryptoError.invalidPublicValue(method, reason: "length \(peerPublicValue.count), expected \(primeLength)")
        }
        try checkRange(peerPublicValue)
        let peer: OwnedPKey
        let groupName = self.groupName
        do {
            peer = try OwnedPKey.fromData(algorithm: "DH", selection: evpPKeyPublicKeySelection) { builder in
                try builder.pushUTF8String("group", groupName)
                try builder.pushBigNumber("pub", peerPublicValue)
            }
        } catch {
            ERR_clear_error()
            throw IKECryptoError.invalidPublicValue(method, reason: "rejected by OpenSSL")
        }
        guard peer.publicKeyIsValid() else {
            throw IKECryptoError.invalidPublicValue(method, reason: "not in the prime-order subgroup")
        }
        // publicKeyIsValid() above ran OpenSSL's full public-key check (EVP_PKEY_public_check:
        // for MODP the subgroup test y^q mod p = 1, a 2047-bit exponentiation, ~7x the cost of
        // the derive itself); asking derive to validate the peer ran the same check again.
        let raw = try key.derive(peer: peer, validatePeer: false)
        guard raw.count <= primeLength else {
            throw IKECryptoError.backend(operation: "DH derive", detail: "shared secret length \(raw.count)")
        }
        if raw.count == primeLength { return raw }
        return SecretBytes.concatenating([[UInt8](repeating: 0, count: primeLength - raw.count), raw])
    }

    /// Throws unless 1 < y < p-1 (RFC 7296 allows any such y; 0, 1 and p-1 force the secret).
    private func checkRange(_ value: [UInt8]) throws {
        let y = try makeBIGNUM(value)
        defer { BN_free(y) }
        let p = try makeBIGNUM(try prime())
        defer { BN_free(p) }
        let pMinusOne = try check(BN_dup(p), "BN_dup")
        defer { BN_free(pMinusOne) }
        try check(BN_sub_word(pMinusOne, 1), "BN_sub_word")
        guard BN_cmp(y, BN_value_one()) > 0, BN_cmp(y, pMinusOne) < 0 else {
            throw IKECryptoError.invalidPublicValue(method, reason: "not in 1 < y < p-1")
        }
    }
}
