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
        primeValue = try key.bigNumberParameter("p", length: primeLength)
    }

    private let primeValue: [UInt8]

    /// The group's prime p, big-endian (the test compares it with RFC 3526's).
    public func prime() throws -> [UInt8] {
        primeValue
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
        guard try Self.isInPrimeOrderSubgroup(peerPublicValue, prime: prime()) else {
            throw IKECryptoError.invalidPublicValue(method, reason: "not in the prime-order subgroup")
        }
        // The membership test above is the one OpenSSL's public-key check makes (y^q mod p = 1),
        // decided without its 2047-bit exponentiation; derive need not repeat it.
        let raw = try key.derive(peer: peer, validatePeer: false)
        guard raw.count <= primeLength else {
            throw IKECryptoError.backend(operation: "DH derive", detail: "shared secret length \(raw.count)")
        }
        if raw.count == primeLength { return raw }
        return SecretBytes.concatenating([[UInt8](repeating: 0, count: primeLength - raw.count), raw])
    }

    /// Whether y (already known to satisfy 1 < y < p-1) lies in the subgroup of prime order
    /// q = (p-1)/2 of the safe-prime group: y^q = 1 mod p, the test OpenSSL's public-key check
    /// (EVP_PKEY_public_check) makes with a 2047-bit modular exponentiation. By Euler's
    /// criterion y^((p-1)/2) mod p is the Legendre symbol (y/p), so the same test is
    /// (y/p) = 1, which BN_kronecker computes with a binary gcd-like algorithm, a small
    /// fraction of the exponentiation's cost (it was about 3/4 of a MODP shared secret).
    /// The accepted values are exactly the same (MODPTests compares both on random values).
    static func isInPrimeOrderSubgroup(_ value: [UInt8], prime: [UInt8]) throws -> Bool {
        let y = try makeBIGNUM(value)
        defer { BN_free(y) }
        let p = try makeBIGNUM(prime)
        defer { BN_free(p) }
        let context = try check(BN_CTX_new(), "BN_CTX_new")
        defer { BN_CTX_free(context) }
        let symbol = BN_kronecker(y, p, context)
        guard symbol != -2 else { throw openSSLError("BN_kronecker") }
        return symbol == 1
    }

    /// OpenSSL's own full public-key check of a MODP public value (the exponentiation), for
    /// tests that compare it with `isInPrimeOrderSubgroup`.
    public static func openSSLAcceptsPublicValue(_ value: [UInt8]) throws -> Bool {
        let peer = try OwnedPKey.fromData(algorithm: "DH", selection: evpPKeyPublicKeySelection) { builder in
            try builder.pushUTF8String("group", "modp_2048")
            try builder.pushBigNumber("pub", value)
        }
        return peer.publicKeyIsValid()
    }

    /// Our membership test on a value in 1 < y < p-1 (see `isInPrimeOrderSubgroup`).
    public func acceptsInRangePublicValue(_ value: [UInt8]) throws -> Bool {
        try Self.isInPrimeOrderSubgroup(value, prime: prime())
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
