import Cluster
@testable import Inbound
@testable import InboundCrypto
import Secrets
import VipsecTestSupport
import XCTest

/// `verify = always | under-attack`: the routing node checks the whole packet's ICV before
/// the packet may move anything or be forwarded. Packets sealed by ESPReferenceCipher (full
/// OpenSSL AEAD / CBC + HMAC, as the kernel seals ESP), every suite, with and without ESN.
final class ICVVerificationTests: XCTestCase {
    typealias T = SealedPacketTests
    let helper = Helper()

    /// A classifier with the OpenSSL peekers and verifiers and two targets.
    struct Helper {
        func classifier(_ sas: [InboundSA], verification: ICVVerification) throws -> InboundClassifier {
            var configuration = InboundConfiguration()
            configuration.verification = verification
            var c = InboundClassifier(configuration: configuration, peekers: OpenSSLPeekerFactory())
            try c.upsertTarget(InboundTarget(id: T.t1, directMark: 1, encapsulatedMark: 11))
            try c.upsertTarget(InboundTarget(id: T.t2, directMark: 2, encapsulatedMark: 12))
            for sa in sas { try c.addSA(sa, now: T.now) }
            return c
        }
    }

    func inner(_ port: UInt16 = 4000, flags: UInt8 = 0x02) -> [UInt8] {
        PacketBuilder.ipv4(source: T.host, destination: T.dvipa, protocol: 6,
                           payload: PacketBuilder.tcp(source: port, destination: 443, flags: flags, payload: [UInt8](repeating: 7, count: 200)))
    }

    func tunnelCase(_ suite: ESPCipherSuite, esn: Bool, natT: Bool = false) -> T.Case {
        T.Case(suite: suite, mode: .tunnel, outerV6: false, innerV6: false, natT: natT, esn: esn, chacha: .swift)
    }

    /// Every suite, ESN or not, NAT-T or not: a real packet is verified and forwarded; a
    /// flipped bit anywhere the ICV covers (SPI aside: another SA), or in the ICV itself,
    /// is dropped as `icv`, creates no connection and moves no window.
    func testEverySuiteForwardsRealPacketsAndDropsFlippedBits() throws {
        var checked = 0
        for (n, suite) in T.suites.enumerated() {
            for esn in [false, true] {
                for natT in [false, true] {
                    let c = tunnelCase(suite, esn: esn, natT: natT)
                    var sealed = try T.Sealed(c, spi: 0x5000 + UInt32(n), seed: UInt64(n * 4 + (esn ? 2 : 0) + (natT ? 1 : 0)))
                    var classifier = try helper.classifier([sealed.sa], verification: .always)
                    // ESN: the high half comes from the window (evidence at 2^32), not the wire.
                    let base: UInt64 = esn ? 1 << 32 : 0
                    if esn { classifier.authenticated(destination: sealed.sa.destination, spi: sealed.sa.spi, top: base + 1, bitmap: [1]) }
                    let espOffset = 20 + (natT ? 8 : 0)
                    let packet = try sealed.packet(c, payload: inner(), nextHeader: 4, sequence: base + 9)
                    // Flipped: sequence number, IV, first and last ciphertext octet, first and last ICV octet.
                    let icv = packet.count - suite.icvLength
                    for position in [espOffset + 7, espOffset + 8, espOffset + 8 + suite.ivLength, icv - 1, icv, packet.count - 1] {
                        var forged = packet
                        forged[position] ^= 0x01
                        XCTAssertEqual(classifier.classify(forged, now: T.now), .drop(.icv), "\(c) bit at \(position)")
                    }
                    XCTAssertEqual(classifier.counters[.icv], 6, "\(c)")
                    XCTAssertEqual(classifier.flows.count, 0, "\(c): a forged packet made a connection")
                    XCTAssertEqual(classifier.replayWindow(destination: sealed.sa.destination, spi: sealed.sa.spi)?.top,
                                   esn ? base + 1 : 0, "\(c): a forged packet moved the window")
                    guard case .forward = classifier.classify(packet, now: T.now) else {
                        XCTFail("\(c): the real packet was not forwarded: \(classifier.counters)")
                        continue
                    }
                    XCTAssertEqual(classifier.counters.verified, 1, "\(c)")
                    XCTAssertEqual(classifier.replayWindow(destination: sealed.sa.destination, spi: sealed.sa.spi)?.top, base + 9)
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, T.suites.count * 4)
    }

    /// ESN: the high half of the sequence number enters the ICV (RFC 4303 §2.2.1) but not
    /// the wire. Without evidence that the SA passed 2^32 the routing node reconstructs the
    /// wrong high half and the ICV fails: proof that the high half is authenticated.
    func testESNHighHalfIsAuthenticated() throws {
        for suite in [ESPCipherSuite.aesGCM16(keyLength: 32), .aesCBC(keyLength: 16, integrity: .hmacSHA256_128), .chacha20Poly1305] {
            let c = tunnelCase(suite, esn: true)
            var sealed = try T.Sealed(c, spi: 0x5100, seed: 3)
            var classifier = try helper.classifier([sealed.sa], verification: .always)
            let packet = try sealed.packet(c, payload: inner(), nextHeader: 4, sequence: (1 << 32) + 5)
            XCTAssertEqual(classifier.classify(packet, now: T.now), .drop(.icv), "\(suite): read as sequence 5")
            classifier.authenticated(destination: sealed.sa.destination, spi: sealed.sa.spi, top: 1 << 32, bitmap: [1])
            guard case .forward = classifier.classify(packet, now: T.now) else { return XCTFail("\(suite)") }
        }
    }

    /// Too short: a copy that lacks the end of the packet, and packets cut to any length
    /// (with the IP length fixed up, or not), never pass verification or move the window.
    func testTruncatedPacketsNeverPassOrMoveTheWindow() throws {
        let c = tunnelCase(.aesGCM16(keyLength: 16), esn: false)
        var sealed = try T.Sealed(c, spi: 0x5200, seed: 4)
        var classifier = try helper.classifier([sealed.sa], verification: .always)
        let packet = try sealed.packet(c, payload: inner(), nextHeader: 4, sequence: 3)
        for length in 0..<packet.count {
            var cut = Array(packet.prefix(length))
            if case .forward = classifier.classify(cut, now: T.now) { XCTFail("copy of \(length) octets forwarded") }
            if length >= 20 {  // the IP header says this is the whole packet
                cut[2] = UInt8(length >> 8)
                cut[3] = UInt8(length & 0xFF)
                if case .forward = classifier.classify(cut, now: T.now) { XCTFail("packet of \(length) octets forwarded") }
            }
        }
        XCTAssertEqual(classifier.counters.verified, 0)
        XCTAssertGreaterThan(classifier.counters[.icv], 0, "a short copy of a whole packet is an icv drop")
        XCTAssertGreaterThan(classifier.counters[.tooShort], 0)
        XCTAssertEqual(classifier.replayWindow(destination: sealed.sa.destination, spi: sealed.sa.spi)?.top, 0)
        XCTAssertEqual(classifier.flows.count, 0)
    }

    /// RFC 4303 §3.4.3: with verification the window moves on verified packets only. A
    /// forged packet far ahead moves nothing (the real ones still pass); a verified one
    /// moves T, and the same packet again is then a replay at the routing node itself.
    /// Without verification a forwarded packet moves nothing (evidence only).
    func testTheWindowMovesOnlyAfterVerification() throws {
        let c = tunnelCase(.chacha20Poly1305, esn: false)
        for verification in [ICVVerification.never, .always] {
            var sealed = try T.Sealed(c, spi: 0x5300, seed: 5)
            var classifier = try helper.classifier([sealed.sa], verification: verification)
            var forged = try sealed.packet(c, payload: inner(), nextHeader: 4, sequence: 0x8000_0000)
            forged[forged.count - 1] ^= 0x80
            _ = classifier.classify(forged, now: T.now)
            let window = { classifier.replayWindow(destination: sealed.sa.destination, spi: sealed.sa.spi)! }
            XCTAssertEqual(window().top, 0, "\(verification): a forged packet moved the window")
            let real = try sealed.packet(c, payload: inner(), nextHeader: 4, sequence: 2)
            guard case .forward = classifier.classify(real, now: T.now) else { return XCTFail("\(verification)") }
            switch verification {
            case .always:
                XCTAssertEqual(window().top, 2)
                XCTAssertEqual(window().authenticatedNumbers, [2])
                XCTAssertEqual(classifier.classify(real, now: T.now), .drop(.replay))
                let older = try sealed.packet(c, payload: inner(4001), nextHeader: 4, sequence: 1)
                guard case .forward = classifier.classify(older, now: T.now) else { return XCTFail("in-window older packet") }
                XCTAssertEqual(window().authenticatedNumbers, [2, 1])
            default:
                XCTAssertEqual(window().top, 0, "never: only the targets' evidence moves the window")
                guard case .forward = classifier.classify(real, now: T.now) else { return XCTFail("never: no evidence yet") }
            }
        }
    }

    /// `under-attack`: off until a packet on the SA shows forgery (here: garbage that fails
    /// the peek's checks), then every packet of that SA is verified (a forged one is an
    /// `icv` drop, a real one passes), other SAs are not; off again after the quiet period.
    /// The attacker never makes a real packet drop.
    func testUnderAttackSwitchesPerSAAndNeverDropsRealPackets() throws {
        let c = tunnelCase(.aesGCM16(keyLength: 32), esn: false)
        var attacked = try T.Sealed(c, spi: 0x5400, seed: 6)
        var calm = try T.Sealed(c, spi: 0x5401, seed: 7)
        var classifier = try helper.classifier([attacked.sa, calm.sa], verification: .underAttack)
        let a = attacked.sa, b = calm.sa
        func verifying(_ sa: InboundSA, _ now: ClusterInstant) -> Bool {
            classifier.isVerifying(destination: sa.destination, spi: sa.spi, now: now)!
        }
        guard case .forward = classifier.classify(try attacked.packet(c, payload: inner(), nextHeader: 4, sequence: 1), now: T.now)
        else { return XCTFail() }
        XCTAssertEqual(classifier.counters.verified, 0, "off before any sign of attack")
        XCTAssertFalse(verifying(a, T.now))
        // Forged: the SA's SPI, random body (decrypts to garbage).
        var rng = SeededGenerator(seed: 11)
        let garbage = PacketBuilder.espHeader(spi: a.spi, sequenceNumber: 0x7000_0000)
            + (0..<256).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let forgedDecision = classifier.classify(PacketBuilder.outer(source: T.peer, destination: a.destination, esp: garbage), now: T.now)
        XCTAssertTrue(AttackRule.isEvidence({ if case .drop(let r) = forgedDecision { return r } else { return .noSA } }()), "\(forgedDecision)")
        XCTAssertTrue(verifying(a, T.now))
        XCTAssertFalse(verifying(b, T.now), "another SA is not switched on")
        // Now verified: forged packets are icv drops, real ones pass and move the window.
        XCTAssertEqual(classifier.classify(PacketBuilder.outer(source: T.peer, destination: a.destination, esp: garbage), now: T.now),
                       .drop(.icv))
        for sequence in UInt64(2)...20 {
            let real = try attacked.packet(c, payload: inner(UInt16(4000 + sequence)), nextHeader: 4, sequence: sequence)
            guard case .forward = classifier.classify(real, now: T.now) else { return XCTFail("real packet \(sequence) dropped") }
        }
        XCTAssertEqual(classifier.counters.verified, 19)
        XCTAssertEqual(classifier.replayWindow(destination: a.destination, spi: a.spi)?.top, 20)
        guard case .forward = classifier.classify(try calm.packet(c, payload: inner(), nextHeader: 4, sequence: 1), now: T.now)
        else { return XCTFail() }
        XCTAssertEqual(classifier.counters.verified, 19, "the calm SA is not verified")
        // Quiet for the period: off again.
        let later = ClusterInstant(nanoseconds: T.now.nanoseconds + 61_000_000_000)
        XCTAssertFalse(verifying(a, later))
        guard case .forward = classifier.classify(try attacked.packet(c, payload: inner(5000), nextHeader: 4, sequence: 21), now: later)
        else { return XCTFail() }
        XCTAssertEqual(classifier.counters.verified, 19)
    }

    /// A reload switches verification on SAs added before it: each gets its verifier then;
    /// an SA that cannot have one (no integrity key) is dropped as `icv`, never forwarded
    /// unverified; back to `never`, peeking only again.
    func testSwitchingVerificationLiveCoversTheSAsAlreadyThere() throws {
        let c = tunnelCase(.aesGCM16(keyLength: 16), esn: false)
        let cbc = tunnelCase(.aesCBC(keyLength: 16, integrity: .hmacSHA256_128), esn: false)
        var sealed = try T.Sealed(c, spi: 0x5600, seed: 12)
        var keyless = try T.Sealed(cbc, spi: 0x5601, seed: 13)
        keyless.sa.integrityKey = SecretBytes(zeroes: 0)
        var classifier = try helper.classifier([sealed.sa, keyless.sa], verification: .never)
        var forged = try sealed.packet(c, payload: inner(), nextHeader: 4, sequence: 1)
        forged[forged.count - 1] ^= 1
        guard case .forward = classifier.classify(forged, now: T.now) else { return XCTFail("never: a wrong ICV is not seen") }
        XCTAssertEqual(classifier.setVerification(.always), [0x5601], "the SA without its HMAC key")
        XCTAssertEqual(classifier.configuration.verification, .always)
        XCTAssertEqual(classifier.classify(forged, now: T.now), .drop(.icv))
        guard case .forward = classifier.classify(try sealed.packet(c, payload: inner(), nextHeader: 4, sequence: 2), now: T.now)
        else { return XCTFail() }
        XCTAssertEqual(classifier.counters.verified, 1)
        XCTAssertEqual(classifier.classify(try keyless.packet(cbc, payload: inner(), nextHeader: 4, sequence: 1), now: T.now), .drop(.icv),
                       "fail closed: no verifier, no forwarding")
        XCTAssertEqual(classifier.setVerification(.never), [])
        guard case .forward = classifier.classify(try keyless.packet(cbc, payload: inner(), nextHeader: 4, sequence: 2), now: T.now)
        else { return XCTFail("never again: peek only") }
        XCTAssertEqual(classifier.counters.verified, 1)
    }

    /// The HMAC verifier against RFC 2202 / RFC 4231 test case 2 (key "Jefe"), as an ESP
    /// packet whose ICV is the truncated HMAC of the rest.
    func testHMACVerifierMatchesRFC4231() throws {
        let data = Array("what do ya want for nothing?".utf8)
        let vectors: [(ESPIntegrity, String)] = [
            (.hmacSHA1_96, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
            (.hmacSHA256_128, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            (.hmacSHA384_192, "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"),
            (.hmacSHA512_256, "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"),
        ]
        for (integrity, hex) in vectors {
            let verifier = try HMACVerifier(key: SecretBytes(Array("Jefe".utf8)), integrity: integrity, extended: false)
            let packet = data + hexBytes(hex).prefix(integrity.icvLength)
            XCTAssertTrue(packet.withUnsafeBytes { verifier.verify($0, sequence: 0) }, "\(integrity)")
            var wrong = packet
            wrong[0] ^= 1
            XCTAssertFalse(wrong.withUnsafeBytes { verifier.verify($0, sequence: 0) }, "\(integrity)")
            // ESN: the high half is appended to the HMAC input, so the same octets fail.
            let esn = try HMACVerifier(key: SecretBytes(Array("Jefe".utf8)), integrity: integrity, extended: true)
            XCTAssertFalse(packet.withUnsafeBytes { esn.verify($0, sequence: 1 << 32) }, "\(integrity) ESN")
        }
    }

    /// Verification on refuses an SA it cannot verify (no integrity key for CBC) at `addSA`.
    func testAnSAWithoutItsIntegrityKeyIsRefusedWhenVerifying() throws {
        let c = tunnelCase(.aesCBC(keyLength: 16, integrity: .hmacSHA256_128), esn: false)
        var sealed = try T.Sealed(c, spi: 0x5500, seed: 8)
        sealed.sa.integrityKey = SecretBytes(zeroes: 0)
        XCTAssertThrowsError(try helper.classifier([sealed.sa], verification: .always))
        XCTAssertNoThrow(try helper.classifier([sealed.sa], verification: .never))
    }
}
