// Key exchange throughput: the crypto ceiling of an IKE responder (each IKE_SA_INIT costs one
// key pair generation and one shared-secret computation).

import IKEv2

/// Measures key exchange operations per second on this machine.
public enum KeyExchangeBenchmark {
    /// One key exchange operation = a fresh key pair + the shared secret with a fixed peer
    /// value, as a responder does per IKE_SA_INIT. Returns operations per second.
    public static func measure(_ method: KeyExchangeMethod, iterations: Int,
                               provider: some IKECryptoProvider = OpenSSLCryptoProvider()) throws -> Double {
        let peer = try provider.makeKeyExchange(method).publicValue
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<max(iterations, 1) {
            let exchange = try provider.makeKeyExchange(method)
            _ = try exchange.sharedSecret(peerPublicValue: peer)
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Double(max(iterations, 1)) / max(seconds, 1e-9)
    }

    /// X25519 operations (key pair + shared secret) per second.
    public static func measureX25519(iterations: Int) throws -> Double {
        try measure(.curve25519, iterations: iterations)
    }
}
