// SHA-1 for the NAT detection notifies (RFC 7296 2.23) and the response cache's request
// digests, with OpenSSL's one-shot EVP_Digest and the digest fetched once.
import COpenSSL
import IKEv2

/// SHA-1 of `data` (20 octets). Only for NAT_DETECTION_*_IP hashes, never for keys.
public func openSSLSHA1(_ data: [UInt8]) throws -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: 20)
    var length: UInt32 = 0
    let ok = data.withUnsafeBytes { input in
        digest.withUnsafeMutableBytes { output in
            EVP_Digest(input.baseAddress ?? UnsafeRawPointer(bitPattern: 1), input.count,
                       output.bindMemory(to: UInt8.self).baseAddress, &length, OpenSSLAlgorithms.sha1 ?? EVP_sha1(), nil)
        }
    }
    guard ok == 1, length == 20 else { throw IKECryptoError.backend(operation: "EVP_Digest(sha1)", detail: "failed") }
    return digest
}

extension OpenSSLCryptoProvider {
    /// SHA-1 of `data` (NAT detection).
    public func sha1(_ data: [UInt8]) throws -> [UInt8] { try openSSLSHA1(data) }
}
