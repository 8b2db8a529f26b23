// PRF_HMAC_SHA2_256/384/512 (RFC 4868) with OpenSSL.

import COpenSSL
import IKEv2

/// An HMAC-SHA2 PRF (RFC 4868 2.1.2): any key length, output = digest length, preferred key
/// length = output length.
public struct OpenSSLHMACPseudorandomFunction: PseudorandomFunction {
    public let id: PseudorandomFunctionID
    let digest: SHA2Digest

    /// Throws `unsupportedPseudorandomFunction` for anything but PRF_HMAC_SHA2_256/384/512.
    public init(_ id: PseudorandomFunctionID) throws {
        switch id {
        case .hmacSHA2_256: digest = .sha256
        case .hmacSHA2_384: digest = .sha384
        case .hmacSHA2_512: digest = .sha512
        default: throw IKECryptoError.unsupportedPseudorandomFunction(id)
        }
        self.id = id
    }

    public var outputLength: Int { digest.outputLength }
    public var preferredKeyLength: Int { digest.outputLength }

    public func compute(key: some ContiguousOctets, data: some ContiguousOctets) throws -> SecretBytes {
        try key.withUnsafeBytes { k in try data.withUnsafeBytes { d in try hmac(digest, key: k, data: d) } }
    }

    /// prf+ (RFC 7296 2.13) with the HMAC keyed once: T1 = prf(K, S | 0x01), Tn = prf(K,
    /// Tn-1 | S | n), each block written straight into the secret output, the context
    /// re-initialised with the same key between blocks (no key schedule per block).
    public func prfPlus(key: some ContiguousOctets, seed: some ContiguousOctets, length: Int) throws -> SecretBytes {
        let blocks = try prfPlusBlocks(length: length)
        if blocks == 0 { return SecretBytes(zeroes: 0) }
        let size = digest.outputLength
        let digest = self.digest
        var outcome: Bool?
        let stream = key.withUnsafeBytes { k in
            seed.withUnsafeBytes { s in
                SecretBytes(count: blocks * size) { out in
                    outcome = OpenSSLThreadContexts.current.withHMAC(digest) { context -> Bool in
                        var empty: UInt8 = 0
                        let keyed: Int32 = k.count > 0
                            ? EVP_MAC_init(context, k.baseAddress!.assumingMemoryBound(to: UInt8.self), k.count, nil)
                            : EVP_MAC_init(context, &empty, 0, nil)
                        guard keyed == 1 else { return false }
                        let base = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
                        for counter in 1...blocks {
                            let block = base + (counter - 1) * size
                            if counter > 1 {
                                // Same key (NULL: keep it), then the previous block first.
                                guard EVP_MAC_init(context, nil, 0, nil) == 1,
                                      EVP_MAC_update(context, block - size, size) == 1 else { return false }
                            }
                            var counterOctet = UInt8(counter)
                            if s.count > 0 {
                                guard EVP_MAC_update(context, s.baseAddress!.assumingMemoryBound(to: UInt8.self), s.count) == 1
                                else { return false }
                            }
                            var produced = 0
                            guard EVP_MAC_update(context, &counterOctet, 1) == 1,
                                  EVP_MAC_final(context, block, &produced, size) == 1, produced == size else { return false }
                        }
                        return true
                    }
                }
            }
        }
        switch outcome {
        case true?: return length == stream.count ? stream : stream.subrange(offset: 0, count: length)
        case false?: throw openSSLError("HMAC (prf+)")
        case nil: return try genericPRFPlus(key: key, seed: seed, length: length)
        }
    }
}
