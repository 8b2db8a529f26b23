// IKEv2's crypto provider backed by OpenSSL 3 (EVP APIs).

import COpenSSL
import IKEv2

/// The production `IKECryptoProvider`: X25519, ECP-256/384, MODP-2048; HMAC-SHA2 PRFs;
/// AES-GCM-16, ChaCha20-Poly1305 and AES-CBC + HMAC-SHA2 for the SK payload.
public struct OpenSSLCryptoProvider: IKECryptoProvider {
    public init() {}

    public var supportedKeyExchangeMethods: [KeyExchangeMethod] { [.curve25519, .ecp256, .ecp384, .modp2048] }

    public var supportedPseudorandomFunctions: [PseudorandomFunctionID] { [.hmacSHA2_256, .hmacSHA2_384, .hmacSHA2_512] }

    public var supportedEncryptionSuites: [EncryptionSuite] {
        var suites: [EncryptionSuite] = [
            EncryptionSuite(encryption: .aesGCM16, keyLengthBits: 256),
            EncryptionSuite(encryption: .aesGCM16, keyLengthBits: 128),
            EncryptionSuite(encryption: .chacha20Poly1305, keyLengthBits: nil),
        ]
        for bits in [256, 128] {
            for integrity in [IntegrityAlgorithm.hmacSHA2_256_128, .hmacSHA2_384_192, .hmacSHA2_512_256] {
                suites.append(EncryptionSuite(encryption: .aesCBC, keyLengthBits: bits, integrity: integrity))
            }
        }
        return suites
    }

    public func makeKeyExchange(_ method: KeyExchangeMethod) throws -> any KeyExchange {
        switch method {
        case .curve25519: return X25519KeyExchange()
        case .ecp256, .ecp384: return try OpenSSLECPKeyExchange(method)
        case .modp2048: return try OpenSSLMODPKeyExchange(method)
        default: throw IKECryptoError.unsupportedKeyExchangeMethod(method)
        }
    }

    public func makePseudorandomFunction(_ id: PseudorandomFunctionID) throws -> any PseudorandomFunction {
        try OpenSSLHMACPseudorandomFunction(id)
    }

    public func makeEncryptedPayloadProtection(
        suite: EncryptionSuite, encryptionKey: SecretBytes, integrityKey: SecretBytes
    ) throws -> any EncryptedPayloadProtection {
        try suite.validate()
        if suite.encryption.isAEAD {
            guard integrityKey.isEmpty else {
                throw IKECryptoError.invalidKeyLength(algorithm: "\(suite)", expected: 0, actual: integrityKey.count)
            }
            return try OpenSSLAEADProtection(suite: suite, encryptionKey: encryptionKey)
        }
        return try OpenSSLCBCProtection(suite: suite, encryptionKey: encryptionKey, integrityKey: integrityKey)
    }

    public func randomBytes(count: Int) throws -> [UInt8] {
        try openSSLRandomBytes(count: count)
    }
}
