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
}
