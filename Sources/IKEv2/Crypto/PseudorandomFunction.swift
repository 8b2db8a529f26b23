// The PRF transform (RFC 7296 3.3.2 Transform Type 2) and prf+ (RFC 7296 2.13).

/// A negotiated pseudorandom function, e.g. PRF_HMAC_SHA2_256.
public protocol PseudorandomFunction: Sendable {
    /// Transform ID.
    var id: PseudorandomFunctionID { get }
    /// Output length in octets (32/48/64 for HMAC-SHA2-256/384/512).
    var outputLength: Int { get }
    /// The preferred key length in octets: the size of SK_d, SK_pi and SK_pr (RFC 7296 2.13).
    var preferredKeyLength: Int { get }

    /// prf(key, data). Keys of any length are accepted (HMAC, RFC 2104). The output is
    /// returned as a secret; call `unprotectedCopy()` where it is public (AUTH, MACed ID).
    func compute(key: some ContiguousOctets, data: some ContiguousOctets) throws -> SecretBytes

    /// prf+ (RFC 7296 2.13), `length` octets; see the default implementation. A backend may
    /// provide its own (e.g. keying the MAC once for all blocks) with the same result.
    func prfPlus(key: some ContiguousOctets, seed: some ContiguousOctets, length: Int) throws -> SecretBytes
}

extension PseudorandomFunction {
    public func prfPlus(key: some ContiguousOctets, seed: some ContiguousOctets, length: Int) throws -> SecretBytes {
        try genericPRFPlus(key: key, seed: seed, length: length)
    }

    /// The number of prf+ blocks for `length` octets; throws `invalidLength` beyond 255
    /// (the counter is one octet) or for a negative length.
    public func prfPlusBlocks(length: Int) throws -> Int {
        guard length >= 0, outputLength > 0 else {
            throw IKECryptoError.invalidLength(what: "prf+ output", requested: length)
        }
        let blocks = (length + outputLength - 1) / outputLength
        guard blocks <= 255 else { throw IKECryptoError.invalidLength(what: "prf+ output", requested: length) }
        return blocks
    }

    /// prf+ (RFC 7296 2.13):
    ///
    ///     prf+ (K,S) = T1 | T2 | T3 | T4 | ...
    ///     T1 = prf (K, S | 0x01)
    ///     T2 = prf (K, T1 | S | 0x02)
    ///     ...
    ///
    /// truncated to `length` octets. Throws `invalidLength` beyond 255 iterations (the
    /// counter is one octet) or for a negative length.
    public func genericPRFPlus(key: some ContiguousOctets, seed: some ContiguousOctets, length: Int) throws -> SecretBytes {
        let blocks = try prfPlusBlocks(length: length)
        if blocks == 0 { return SecretBytes(zeroes: 0) }
        var produced: [SecretBytes] = []
        produced.reserveCapacity(blocks)
        var previous = SecretBytes(zeroes: 0)
        for counter in 1...blocks {
            let input = SecretBytes.concatenating([previous, seed, [UInt8(counter)]])
            previous = try compute(key: key, data: input)
            produced.append(previous)
        }
        let all = SecretBytes.concatenating(produced)
        return all.subrange(offset: 0, count: length)
    }
}
