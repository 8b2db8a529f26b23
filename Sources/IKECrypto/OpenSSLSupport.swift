// Small helpers shared by the OpenSSL implementations: error mapping, randomness and the
// constants OpenSSL defines as compound macros (which Swift cannot import).

import COpenSSL
import IKEv2

/// OSSL_KEYMGMT_SELECT_ALL_PARAMETERS | OSSL_KEYMGMT_SELECT_PUBLIC_KEY (EVP_PKEY_PUBLIC_KEY).
let evpPKeyPublicKeySelection: Int32 = 0x86
/// EVP_PKEY_PUBLIC_KEY | OSSL_KEYMGMT_SELECT_PRIVATE_KEY (EVP_PKEY_KEYPAIR).
let evpPKeyKeypairSelection: Int32 = 0x87

/// Drains OpenSSL's per-thread error queue into a typed error for `operation`.
func openSSLError(_ operation: String) -> IKECryptoError {
    var reasons: [String] = []
    while true {
        let code = ERR_get_error()
        if code == 0 { break }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        reasons.append(String(decoding: bytes, as: UTF8.self))
    }
    return .backend(operation: operation, detail: reasons.isEmpty ? "no OpenSSL error queued" : reasons.joined(separator: "; "))
}

/// Throws `openSSLError(operation)` unless an OpenSSL call returned 1 (success).
func check(_ result: Int32, _ operation: String) throws {
    guard result == 1 else { throw openSSLError(operation) }
}

/// Unwraps a pointer an OpenSSL constructor returned, or throws its error.
func check<T>(_ pointer: T?, _ operation: String) throws -> T {
    guard let pointer else { throw openSSLError(operation) }
    return pointer
}

/// Cryptographically secure random octets from OpenSSL's DRBG.
func openSSLRandomBytes(count: Int) throws -> [UInt8] {
    guard count >= 0, count <= Int(Int32.max) else { throw IKECryptoError.invalidLength(what: "random bytes", requested: count) }
    var bytes = [UInt8](repeating: 0, count: count)
    if count == 0 { return bytes }
    let result = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
    guard result == 1 else { throw IKECryptoError.randomSourceFailed }
    return bytes
}

/// Converts a big-endian octet string to a new BIGNUM (caller frees with BN_free / BN_clear_free).
func makeBIGNUM(_ bytes: some ContiguousOctets) throws -> OpaquePointer {
    try bytes.withUnsafeBytes { raw in
        let pointer = raw.bindMemory(to: UInt8.self).baseAddress
        return try check(BN_bin2bn(pointer, Int32(raw.count), nil), "BN_bin2bn")
    }
}

/// The EVP_MD for an HMAC-SHA2 PRF or integrity transform.
enum SHA2Digest: Sendable {
    case sha256, sha384, sha512

    var evpMD: OpaquePointer? {
        switch self {
        case .sha256: return EVP_sha256()
        case .sha384: return EVP_sha384()
        case .sha512: return EVP_sha512()
        }
    }

    var outputLength: Int {
        switch self {
        case .sha256: return 32
        case .sha384: return 48
        case .sha512: return 64
        }
    }
}

/// HMAC(key, data), written straight into secret storage: through this thread's HMAC
/// context (OpenSSLContexts.swift), or OpenSSL's one-shot HMAC() if that is unavailable.
func hmac(_ digest: SHA2Digest, key: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer) throws -> SecretBytes {
    guard key.count <= Int(Int32.max) else { throw IKECryptoError.invalidLength(what: "HMAC key", requested: key.count) }
    var failed = false
    let output = SecretBytes(count: digest.outputLength) { out in
        if let done = contextHMAC(digest, key: key, data: [data], into: out.baseAddress!) {
            failed = !done
        } else {
            failed = !oneShotHMAC(digest, key: key, data: data, into: out)
        }
    }
    if failed { throw openSSLError("HMAC") }
    return output
}

/// OpenSSL's one-shot HMAC() (looks the algorithm up on every call).
func oneShotHMAC(_ digest: SHA2Digest, key: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer,
                 into out: UnsafeMutableRawBufferPointer) -> Bool {
    // HMAC() wants non-NULL pointers even for empty inputs.
    let emptyByte: [UInt8] = [0]
    return emptyByte.withUnsafeBytes { empty in
        var length: UInt32 = 0
        let keyPointer = key.baseAddress ?? empty.baseAddress
        let dataPointer = (data.baseAddress ?? empty.baseAddress)?.assumingMemoryBound(to: UInt8.self)
        let result = HMAC(digest.evpMD, keyPointer, Int32(key.count), dataPointer, data.count,
                          out.baseAddress?.assumingMemoryBound(to: UInt8.self), &length)
        return result != nil && Int(length) == digest.outputLength
    }
}
