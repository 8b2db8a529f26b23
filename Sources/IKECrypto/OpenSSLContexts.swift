// OpenSSL objects that are costly to make and cheap to keep. OpenSSL 3 looks algorithms up
// by name (a locked hash-table search and string compares) in every one-shot call such as
// HMAC() or EVP_Digest(EVP_sha1()); an IKE_SA setup makes about sixteen HMAC calls, two SHA-1
// digests per request and two AEAD operations, and those look-ups were a large part of the
// crypto's cost (README, Benchmarks). Here they are fetched once per process (the fetched
// objects are immutable and may be shared by threads) and the HMAC contexts kept once per
// thread (a context is used by one thread at a time).

import COpenSSL
import IKEv2
#if canImport(Glibc)
import Glibc
#endif

/// Algorithm implementations fetched once (EVP_*_fetch); nil when the provider lacks one,
/// in which case the callers fall back to the by-name path.
enum OpenSSLAlgorithms {
    nonisolated(unsafe) static let hmac: OpaquePointer? = EVP_MAC_fetch(nil, "HMAC", nil)
    nonisolated(unsafe) static let sha1: OpaquePointer? = EVP_MD_fetch(nil, "SHA1", nil)
    nonisolated(unsafe) static let aes128GCM: OpaquePointer? = EVP_CIPHER_fetch(nil, "AES-128-GCM", nil)
    nonisolated(unsafe) static let aes192GCM: OpaquePointer? = EVP_CIPHER_fetch(nil, "AES-192-GCM", nil)
    nonisolated(unsafe) static let aes256GCM: OpaquePointer? = EVP_CIPHER_fetch(nil, "AES-256-GCM", nil)
    nonisolated(unsafe) static let chacha20Poly1305: OpaquePointer? = EVP_CIPHER_fetch(nil, "ChaCha20-Poly1305", nil)
}

extension SHA2Digest {
    /// OpenSSL's digest name for the HMAC context's "digest" parameter.
    var openSSLName: StaticString {
        switch self {
        case .sha256: return "SHA256"
        case .sha384: return "SHA384"
        case .sha512: return "SHA512"
        }
    }

    var index: Int {
        switch self {
        case .sha256: return 0
        case .sha384: return 1
        case .sha512: return 2
        }
    }
}

/// This thread's HMAC contexts, one per digest, made on first use and freed when the thread
/// ends. Keys never stay in them: every use ends by re-keying the context with a fixed
/// one-octet key, which overwrites the keyed inner/outer states (`withHMAC`).
final class OpenSSLThreadContexts {
    private var hmacContexts: [OpaquePointer?] = [nil, nil, nil]

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { pointer in
            guard let pointer else { return }
            Unmanaged<OpenSSLThreadContexts>.fromOpaque(pointer).release()
        }
        precondition(status == 0, "pthread_key_create failed")
        return key
    }()

    /// The calling thread's contexts.
    static var current: OpenSSLThreadContexts {
        if let pointer = pthread_getspecific(key) {
            return Unmanaged<OpenSSLThreadContexts>.fromOpaque(pointer).takeUnretainedValue()
        }
        let contexts = OpenSSLThreadContexts()
        pthread_setspecific(key, Unmanaged.passRetained(contexts).toOpaque())
        return contexts
    }

    deinit {
        for context in hmacContexts { if let context { EVP_MAC_CTX_free(context) } }
    }

    /// Runs `body` with this thread's HMAC context for `digest` (EVP_MAC_CTX, digest set, no
    /// key: `body` keys it with EVP_MAC_init), then scrubs the key out of it. Nil context:
    /// HMAC could not be fetched; the caller uses the one-shot path.
    func withHMAC<R>(_ digest: SHA2Digest, _ body: (OpaquePointer) throws -> R) rethrows -> R? {
        guard let context = hmacContext(digest) else { return nil }
        defer {
            var scrubKey: UInt8 = 0
            if EVP_MAC_init(context, &scrubKey, 1, nil) != 1 {
                // Could not re-key: drop the context (freeing cleanses it) and make a new one next time.
                EVP_MAC_CTX_free(context)
                hmacContexts[digest.index] = nil
                ERR_clear_error()
            }
        }
        return try body(context)
    }

    private func hmacContext(_ digest: SHA2Digest) -> OpaquePointer? {
        if let context = hmacContexts[digest.index] { return context }
        guard let mac = OpenSSLAlgorithms.hmac, let context = EVP_MAC_CTX_new(mac) else { return nil }
        let name = digest.openSSLName
        let ok = name.withUTF8Buffer { utf8 -> Bool in
            var params = [
                OSSL_PARAM_construct_utf8_string("digest", UnsafeMutableRawPointer(mutating: utf8.baseAddress!)
                    .assumingMemoryBound(to: CChar.self), 0),
                OSSL_PARAM_construct_end(),
            ]
            return EVP_MAC_CTX_set_params(context, &params) == 1
        }
        guard ok else {
            EVP_MAC_CTX_free(context)
            ERR_clear_error()
            return nil
        }
        hmacContexts[digest.index] = context
        return context
    }
}

/// HMAC(key, data) through this thread's context for `digest`, written into `out`
/// (digest.outputLength octets). False if the context path is unavailable.
func contextHMAC(_ digest: SHA2Digest, key: UnsafeRawBufferPointer, data: [UnsafeRawBufferPointer],
                 into out: UnsafeMutableRawPointer) -> Bool? {
    OpenSSLThreadContexts.current.withHMAC(digest) { context -> Bool in
        // EVP_MAC_init wants a non-NULL key to re-key (NULL means: keep the current key).
        var empty: UInt8 = 0
        let keyed: Int32 = key.count > 0
            ? EVP_MAC_init(context, key.baseAddress!.assumingMemoryBound(to: UInt8.self), key.count, nil)
            : EVP_MAC_init(context, &empty, 0, nil)
        guard keyed == 1 else { return false }
        for part in data where part.count > 0 {
            guard EVP_MAC_update(context, part.baseAddress!.assumingMemoryBound(to: UInt8.self), part.count) == 1 else {
                return false
            }
        }
        var length = 0
        return EVP_MAC_final(context, out.assumingMemoryBound(to: UInt8.self), &length, digest.outputLength) == 1
            && length == digest.outputLength
    }
}
