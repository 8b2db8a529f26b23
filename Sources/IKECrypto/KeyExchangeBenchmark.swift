// Key exchange throughput: the crypto ceiling of an IKE responder (each IKE_SA_INIT costs one
// key pair generation and one shared-secret computation).

import COpenSSL
import IKEv2

/// Measures key exchange operations per CPU-second (this thread's) on this machine.
public enum KeyExchangeBenchmark {
    /// One key exchange operation = a fresh key pair + the shared secret with a fixed peer
    /// value, as a responder does per IKE_SA_INIT. Returns operations per second.
    public static func measure(_ method: KeyExchangeMethod, iterations: Int,
                               provider: some IKECryptoProvider = OpenSSLCryptoProvider()) throws -> Double {
        let peer = try provider.makeKeyExchange(method).publicValue
        let start = threadCPUSeconds()
        for _ in 0..<max(iterations, 1) {
            let exchange = try provider.makeKeyExchange(method)
            _ = try exchange.sharedSecret(peerPublicValue: peer)
        }
        return rate(iterations: max(iterations, 1), since: start)
    }

    /// Shared-secret computations per second with one fixed key pair and peer value (the
    /// primitive alone, without key generation and object set-up): a same-run reference.
    public static func measureSharedSecretOnly(_ method: KeyExchangeMethod, iterations: Int,
                                               provider: some IKECryptoProvider = OpenSSLCryptoProvider()) throws -> Double {
        let peer = try provider.makeKeyExchange(method).publicValue
        let exchange = try provider.makeKeyExchange(method)
        let start = threadCPUSeconds()
        for _ in 0..<max(iterations, 1) {
            _ = try exchange.sharedSecret(peerPublicValue: peer)
        }
        return rate(iterations: max(iterations, 1), since: start)
    }

    /// The bare OpenSSL X25519 primitive: EVP_PKEY_derive in a loop on one prepared context
    /// (what `openssl speed ecdhx25519` measures). The machine's ceiling for any X25519 code.
    public static func measureX25519PrimitiveCeiling(iterations: Int) throws -> Double {
        let own = try OwnedPKey.generate(algorithm: "X25519", group: nil)
        let peer = try OwnedPKey.generate(algorithm: "X25519", group: nil)
        let context = try check(EVP_PKEY_CTX_new_from_pkey(nil, own.pointer, nil), "EVP_PKEY_CTX_new_from_pkey")
        defer { EVP_PKEY_CTX_free(context) }
        try check(EVP_PKEY_derive_init(context), "EVP_PKEY_derive_init")
        try check(EVP_PKEY_derive_set_peer_ex(context, peer.pointer, 0), "EVP_PKEY_derive_set_peer")
        var secret = [UInt8](repeating: 0, count: 32)
        defer { wipe(&secret) }
        let start = threadCPUSeconds()
        for _ in 0..<max(iterations, 1) {
            var length = 32
            try check(EVP_PKEY_derive(context, &secret, &length), "EVP_PKEY_derive")
        }
        return rate(iterations: max(iterations, 1), since: start)
    }

    /// `body` run `iterations` times; runs per second.
    public static func measureOperation(iterations: Int, _ body: () throws -> Void) rethrows -> Double {
        let start = threadCPUSeconds()
        for _ in 0..<max(iterations, 1) { try body() }
        return rate(iterations: max(iterations, 1), since: start)
    }

    /// OpenSSL 3's X25519 key pair + shared secret (the implementation vipsec used before
    /// swift-crypto's): a same-run comparison.
    public static func measureOpenSSLX25519(iterations: Int) throws -> Double {
        let peer = try OpenSSLX25519KeyExchange().publicValue
        return try measureOperation(iterations: iterations) {
            _ = try OpenSSLX25519KeyExchange().sharedSecret(peerPublicValue: peer)
        }
    }

    /// Runs per CPU-second of this thread (CPU time, not wall time: other load on the host
    /// inflates wall time far more).
    private static func rate(iterations: Int, since start: Double) -> Double {
        Double(iterations) / max(threadCPUSeconds() - start, 1e-9)
    }

    /// X25519 operations (key pair + shared secret) per second.
    public static func measureX25519(iterations: Int) throws -> Double {
        try measure(.curve25519, iterations: iterations)
    }
}
