// One side of a Diffie-Hellman key exchange (RFC 7296 1.2, 3.4).

/// A fresh ephemeral key pair for one key exchange method.
///
/// Made by `IKECryptoProvider.makeKeyExchange(_:)`; use it for one exchange and drop it
/// (the implementation frees and wipes the private key on deinit).
public protocol KeyExchange: AnyObject {
    /// The key exchange method (Transform Type 4 ID) this key pair belongs to.
    var method: KeyExchangeMethod { get }

    /// Our public value exactly as the KE payload's Key Exchange Data carries it:
    /// - MODP: g^x mod p big-endian, left-padded with zeroes to the prime's length (256 for group 14);
    /// - ECP (RFC 5903 7): x | y, each coordinate padded to the field size, no 0x04 prefix;
    /// - Curve25519 (RFC 8031 2): the 32-octet u-coordinate.
    var publicValue: [UInt8] { get }

    /// Computes the shared secret g^ir from the peer's Key Exchange Data.
    ///
    /// Validates the peer value first and throws `invalidPublicValue` for: a wrong length;
    /// MODP y outside 1 < y < p-1; an ECP point that is not on the curve; and
    /// `degenerateSharedSecret` for an all-zero X25519 result (RFC 7748 6.1, RFC 8031 2.3).
    /// The result has the method's fixed length: MODP padded to the prime length, ECP the
    /// x-coordinate only (RFC 5903 7), X25519 32 octets.
    func sharedSecret(peerPublicValue: [UInt8]) throws -> SecretBytes
}
