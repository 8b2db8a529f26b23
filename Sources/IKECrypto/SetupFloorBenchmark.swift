// The crypto floor of one responder setup (IKE_SA_INIT + IKE_AUTH with a PSK + the first
// CHILD_SA, aes256gcm16-prfsha256-x25519 as `scripts/bench ike` negotiates): the crypto a
// responder cannot avoid, done with the same provider the daemon uses, each part timed in its
// own loop in thread CPU time. What a setup costs above the sum is parsing, state, I/O and
// the runtime - the part the daemon can make cheaper.

#if canImport(Glibc)
import Glibc
#endif
import IKEv2

/// Per-setup CPU microseconds of the unavoidable crypto, by part.
public struct SetupFloor: Sendable {
    /// X25519: a fresh key pair + the shared secret (RFC 8031).
    public var keyExchange: Double
    /// Nr (32 octets) and the responder's SPI (8 octets) from the RNG.
    public var randomness: Double
    /// SKEYSEED, prf+ for SK_d/SK_e*/SK_p* (RFC 7296 2.14), both directions' AEAD contexts.
    public var ikeSAKeys: Double
    /// NAT_DETECTION_*: two hashes checked, two sent (SHA-1, RFC 7296 2.23).
    public var natDetection: Double
    /// IKE_AUTH: open the request, PSK AUTH checked and computed (2 MACedIDs, the key pad
    /// prf, 2 AUTH prfs; RFC 7296 2.15), seal the response (AES-256-GCM, RFC 5282).
    public var authExchange: Double
    /// KEYMAT = prf+(SK_d, Ni | Nr) for the CHILD_SA (RFC 7296 2.17).
    public var childSAKeys: Double

    public var total: Double { keyExchange + randomness + ikeSAKeys + natDetection + authExchange + childSAKeys }
}

public enum SetupFloorBenchmark {
    /// Typical IKE_AUTH plaintext and IKE_SA_INIT sizes of the bench's setups (octets).
    static let requestPlaintext = 200, responsePlaintext = 180, initMessage = 260

    /// Measures every part `iterations` times; per-setup CPU microseconds.
    public static func measure(iterations: Int, provider: some IKECryptoProvider = OpenSSLCryptoProvider()) throws -> SetupFloor {
        let n = max(iterations, 1)
        let prf = try provider.makePseudorandomFunction(.hmacSHA2_256)
        let suite = EncryptionSuite(encryption: .aesGCM16, keyLengthBits: 256)
        let peer = try provider.makeKeyExchange(.curve25519)
        let nonceI = try provider.randomBytes(count: 32), nonceR = try provider.randomBytes(count: 32)
        let spiI = try provider.randomBytes(count: 8), spiR = try provider.randomBytes(count: 8)
        let secret = try peer.sharedSecret(peerPublicValue: try provider.makeKeyExchange(.curve25519).publicValue)

        let keyExchange = try cpuMicroseconds(n) {
            _ = try provider.makeKeyExchange(.curve25519).sharedSecret(peerPublicValue: peer.publicValue)
        }
        let randomness = try cpuMicroseconds(n) {
            _ = try provider.randomBytes(count: 32)
            _ = try provider.randomBytes(count: 8)
        }
        let ikeSAKeys = try cpuMicroseconds(n) {
            let skeyseed = try IKEKeyDerivation.skeyseed(prf: prf, nonceInitiator: nonceI, nonceResponder: nonceR, sharedSecret: secret)
            let keys = try IKEKeyDerivation.ikeSAKeys(prf: prf, skeyseed: skeyseed, nonceInitiator: nonceI, nonceResponder: nonceR,
                                                      initiatorSPI: spiI, responderSPI: spiR, suite: suite)
            _ = try provider.makeIKESAProtections(keys: keys, suite: suite, isInitiator: false)
        }
        let natData = spiI + spiR + [127, 0, 0, 1, 1, 244]
        let natDetection = try cpuMicroseconds(n) {
            for _ in 0..<4 { _ = try provider.sha1(natData) }
        }

        // IKE_AUTH on fixed keys: the request sealed once by the initiator's side, outside the loop.
        let skeyseed = try IKEKeyDerivation.skeyseed(prf: prf, nonceInitiator: nonceI, nonceResponder: nonceR, sharedSecret: secret)
        let keys = try IKEKeyDerivation.ikeSAKeys(prf: prf, skeyseed: skeyseed, nonceInitiator: nonceI, nonceResponder: nonceR,
                                                  initiatorSPI: spiI, responderSPI: spiR, suite: suite)
        let responder = try provider.makeIKESAProtections(keys: keys, suite: suite, isInitiator: false)
        let initiator = try provider.makeIKESAProtections(keys: keys, suite: suite, isInitiator: true)
        let header = [UInt8](repeating: 0x2e, count: 32)
        let request = try initiator.outbound.seal(plaintext: [UInt8](repeating: 0x21, count: requestPlaintext), associatedData: header)
        let psk = SecretBytes(Array("vipsec-bench-pre-shared-key-0123456789".utf8))
        let initRequest = [UInt8](repeating: 0x22, count: initMessage), initResponse = [UInt8](repeating: 0x23, count: initMessage)
        let idBody: [UInt8] = [1, 0, 0, 0, 10, 128, 0, 1]
        let authExchange = try cpuMicroseconds(n) {
            guard try responder.inbound.open(request, associatedData: header).count == requestPlaintext else {
                throw IKECryptoError.backend(operation: "setup floor", detail: "IKE_AUTH request did not open")
            }
            let theirs = try PSKAuthentication.signedOctets(prf: prf, message: initRequest, peerNonce: nonceR, skP: keys.skPi,
                                                            identificationPayloadBody: idBody)
            let received = try PSKAuthentication.authenticationData(prf: prf, sharedSecret: psk, signedOctets: theirs)
            guard try PSKAuthentication.verify(prf: prf, sharedSecret: psk, signedOctets: theirs, received: received) else {
                throw IKECryptoError.backend(operation: "setup floor", detail: "AUTH did not verify")
            }
            let ours = try PSKAuthentication.signedOctets(prf: prf, message: initResponse, peerNonce: nonceI, skP: keys.skPr,
                                                          identificationPayloadBody: idBody)
            _ = try PSKAuthentication.authenticationData(prf: prf, sharedSecret: psk, signedOctets: ours)
            _ = try responder.outbound.seal(plaintext: [UInt8](repeating: 0x24, count: responsePlaintext), associatedData: header)
        }
        // `received` above stands in for the initiator's AUTH (computed by the initiator, not
        // the responder): subtract one AUTH computation so the part holds the responder's work.
        let oneAuth = try cpuMicroseconds(n) {
            _ = try PSKAuthentication.authenticationData(prf: prf, sharedSecret: psk, signedOctets: initRequest)
        }
        let childSAKeys = try cpuMicroseconds(n) {
            _ = try IKEKeyDerivation.childSAKeys(prf: prf, skD: keys.skD, sharedSecret: nil, nonceInitiator: nonceI,
                                                   nonceResponder: nonceR, suite: suite)
        }
        return SetupFloor(keyExchange: keyExchange, randomness: randomness, ikeSAKeys: ikeSAKeys, natDetection: natDetection,
                          authExchange: max(authExchange - oneAuth, 0), childSAKeys: childSAKeys)
    }

    /// CPU microseconds (this thread's) per run of `body`.
    static func cpuMicroseconds(_ iterations: Int, _ body: () throws -> Void) rethrows -> Double {
        let start = threadCPUSeconds()
        for _ in 0..<iterations { try body() }
        return (threadCPUSeconds() - start) * 1e6 / Double(iterations)
    }
}

/// CPU time this thread has used (CLOCK_THREAD_CPUTIME_ID): a benchmark figure that another
/// process's load on the same CPUs does not inflate as much as wall time.
public func threadCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}
