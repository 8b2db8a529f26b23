// The SK payload's protection (RFC 7296 3.14): encryption + integrity for one direction of
// an IKE SA, with either an AEAD (RFC 5282 AES-GCM-16, RFC 7634 ChaCha20-Poly1305) or
// AES-CBC + HMAC-SHA2 truncated (RFC 3602, RFC 4868).

/// Seals and opens the contents of an Encrypted (SK) payload for one direction of an IKE SA
/// (made with SK_ei/SK_ai for messages the initiator sends, SK_er/SK_ar for the responder's).
///
/// The SK payload on the wire is `IV | Encrypted(payloads | Padding | Pad Length) | ICV`.
/// `seal` returns exactly those octets (to follow the SK generic payload header) and
/// `open` takes them back, so the wire codec only moves bytes:
///
/// - `associatedData` is the message from the first octet of the IKE header up to and
///   including the SK generic payload header (RFC 5282 5.1: the AEAD's AAD; for CBC the
///   ICV covers `associatedData | IV | ciphertext`, RFC 7296 3.14). The header's Length
///   fields must already be final: compute them with `sealedLength(plaintextLength:)`.
/// - `plaintext` is the inner payload chain. `seal` appends the Padding and the Pad Length
///   octet; `open` checks and strips them.
///
/// Implementations are reference types holding key schedules (wiped on deinit) and, for the
/// AEADs, the per-key IV counter; use one instance serially (one IKE SA direction).
public protocol EncryptedPayloadProtection: AnyObject {
    /// The negotiated ENCR/INTEG transforms and their lengths.
    var suite: EncryptionSuite { get }
    /// Length of the IV field: 8 for the AEADs (RFC 5282 3, RFC 7634 2), 16 for AES-CBC.
    var ivLength: Int { get }
    /// The alignment of `payloads | Padding | Pad Length`: 16 for AES-CBC, 1 for the AEADs.
    var blockSize: Int { get }
    /// Length of the ICV: 16 for the AEADs, the truncated HMAC length for CBC.
    var icvLength: Int { get }

    /// `IV | ciphertext | ICV` for `plaintext` (the inner payloads).
    func seal(plaintext: [UInt8], associatedData: [UInt8]) throws -> [UInt8]

    /// Verifies the ICV (in constant time) and decrypts; returns the inner payloads with
    /// Padding and Pad Length removed. Throws `integrityCheckFailed` for any tampering
    /// (ciphertext, ICV or associated data) and `malformedCiphertext` for impossible lengths.
    func open(_ sealed: [UInt8], associatedData: [UInt8]) throws -> [UInt8]
}

extension EncryptedPayloadProtection {
    /// The number of padding octets (excluding the Pad Length octet) `seal` adds to a
    /// plaintext of `plaintextLength` octets: the minimum that aligns to `blockSize`.
    public func paddingLength(plaintextLength: Int) -> Int {
        let unpadded = plaintextLength + 1
        return (blockSize - unpadded % blockSize) % blockSize
    }

    /// The length of `seal`'s output for `plaintextLength` octets of inner payloads: use it to
    /// fill in the SK payload and IKE header lengths before sealing.
    public func sealedLength(plaintextLength: Int) -> Int {
        ivLength + plaintextLength + paddingLength(plaintextLength: plaintextLength) + 1 + icvLength
    }
}
