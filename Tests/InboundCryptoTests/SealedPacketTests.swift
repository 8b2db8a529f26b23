import Cluster
import Inbound
import InboundCrypto
import Secrets
import VipsecTestSupport
import XCTest

/// Real ESP packets sealed with OpenSSL's full AEAD / CBC + HMAC (ESPReferenceCipher,
/// independent of the peek code), classified by the classifier with the OpenSSL peekers.
final class SealedPacketTests: XCTestCase {
    static let dvipa = InboundAddress.v4(192, 0, 2, 10)
    static let dvipa6 = InboundAddress(v6: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10])!
    static let peer = InboundAddress.v4(198, 51, 100, 7)
    static let peer6 = InboundAddress(v6: [0x20, 0x01, 0x0d, 0xb8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7])!
    static let host = InboundAddress.v4(10, 1, 0, 5)
    static let host6 = InboundAddress(v6: [0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5])!
    static let now = ClusterInstant(nanoseconds: 5_000_000_000)
    static let t1 = try! NodeID("t1"), t2 = try! NodeID("t2")

    static let suites: [ESPCipherSuite] = [
        .aesGCM16(keyLength: 16), .aesGCM16(keyLength: 32),
        .aesCBC(keyLength: 16, integrity: .hmacSHA1_96), .aesCBC(keyLength: 32, integrity: .hmacSHA256_128),
        .aesCBC(keyLength: 32, integrity: .hmacSHA512_256), .chacha20Poly1305,
    ]

    struct Case {
        var suite: ESPCipherSuite
        var mode: IPsecMode
        var outerV6: Bool
        var innerV6: Bool
        var natT: Bool
        var esn: Bool
        var chacha: ChaCha20Backend
    }

    static func allCases() -> [Case] {
        var cases: [Case] = []
        for suite in suites {
            for mode in [IPsecMode.tunnel, .transport] {
                for outerV6 in [false, true] {
                    for innerV6 in (mode == .tunnel ? [false, true] : [outerV6]) {
                        for natT in [false, true] {
                            for esn in [false, true] {
                                for chacha in (suite == .chacha20Poly1305 ? [ChaCha20Backend.swift, .openSSL] : [.swift]) {
                                    cases.append(Case(suite: suite, mode: mode, outerV6: outerV6, innerV6: innerV6, natT: natT,
                                                      esn: esn, chacha: chacha))
                                }
                            }
                        }
                    }
                }
            }
        }
        return cases
    }

    /// A sealed SA: the classifier's view and the sender's cipher.
    struct Sealed {
        var sa: InboundSA
        var cipher: ESPReferenceCipher
        var rng: SeededGenerator

        init(_ c: Case, spi: UInt32, seed: UInt64) throws {
            rng = SeededGenerator(seed: seed)
            var g = rng
            let keymat = SecretBytes((0..<(c.suite.keyLength + c.suite.saltLength)).map { _ in UInt8.random(in: 0...255, using: &g) })
            let integrity = SecretBytes((0..<32).map { _ in UInt8.random(in: 0...255, using: &g) })
            rng = g
            let dvipa = c.outerV6 ? SealedPacketTests.dvipa6 : SealedPacketTests.dvipa
            sa = InboundSA(spi: spi, destination: dvipa, suite: c.suite, encryptionKey: keymat, integrityKey: integrity, mode: c.mode,
                           extendedSequenceNumbers: c.esn,
                           remoteSelectors: c.mode == .tunnel ? [InboundTrafficSelector(prefix: SealedPacketTests.host, length: 16),
                                                                 InboundTrafficSelector(prefix: SealedPacketTests.host6, length: 64)] : [],
                           localSelectors: [InboundTrafficSelector(prefix: SealedPacketTests.dvipa, length: 32),
                                            InboundTrafficSelector(prefix: SealedPacketTests.dvipa6, length: 128)],
                           lineage: SALineageID(spi), holders: [SealedPacketTests.t1, SealedPacketTests.t2],
                           forwarding: .encapsulated)
            cipher = try ESPReferenceCipher(suite: c.suite, encryptionKey: keymat, integrityKey: integrity, extendedSequenceNumbers: c.esn)
        }

        /// The whole packet from the outer IP header.
        mutating func packet(_ c: Case, payload: [UInt8], nextHeader: UInt8, sequence: UInt64) throws -> [UInt8] {
            let plain = PacketBuilder.espPlaintext(payload: payload, nextHeader: nextHeader, multiple: c.suite.lengthMultiple)
            var g = rng
            let iv = (0..<c.suite.ivLength).map { _ in UInt8.random(in: 0...255, using: &g) }
            rng = g
            let esp = try cipher.seal(spi: sa.spi, sequence: sequence, iv: iv, plaintext: plain)
            let source = c.outerV6 ? SealedPacketTests.peer6 : SealedPacketTests.peer
            return PacketBuilder.outer(source: source, destination: sa.destination, udpEncapsulated: c.natT, esp: esp)
        }
    }

    func classifier(_ sas: [InboundSA], chacha: ChaCha20Backend = .swift) throws -> InboundClassifier {
        var c = InboundClassifier(peekers: OpenSSLPeekerFactory(chacha20: chacha))
        try c.upsertTarget(InboundTarget(id: Self.t1, directMark: 1, encapsulatedMark: 11))
        try c.upsertTarget(InboundTarget(id: Self.t2, directMark: 2, encapsulatedMark: 12))
        for sa in sas { try c.addSA(sa, now: Self.now) }
        return c
    }

    /// Every suite × mode × outer family × inner family × NAT-T × ESN: the right 5-tuple.
    func testEveryCombinationReadsTheRightFiveTuple() throws {
        var checked = 0
        for (n, c) in Self.allCases().enumerated() {
            var sealed = try Sealed(c, spi: 0x1000 + UInt32(n), seed: UInt64(n))
            var classifier = try classifier([sealed.sa], chacha: c.chacha)
            let innerDestination = c.innerV6 ? Self.dvipa6 : Self.dvipa
            let innerSource = c.mode == .transport ? (c.outerV6 ? Self.peer6 : Self.peer) : (c.innerV6 ? Self.host6 : Self.host)
            let sport = UInt16(30000 + n), dport: UInt16 = c.natT ? 53 : 443
            let proto: UInt8 = c.natT ? 17 : 6
            let l4 = proto == 6 ? PacketBuilder.tcp(source: sport, destination: dport, flags: 0x02, payload: [UInt8](repeating: 0x55, count: 100))
                                : PacketBuilder.udp(source: sport, destination: dport, payload: [UInt8](repeating: 0x66, count: 77))
            let payload: [UInt8], nextHeader: UInt8
            switch c.mode {
            case .transport: payload = l4; nextHeader = proto
            case .tunnel:
                payload = c.innerV6 ? PacketBuilder.ipv6(source: innerSource, destination: innerDestination, nextHeader: proto, payload: l4)
                                    : PacketBuilder.ipv4(source: innerSource, destination: innerDestination, protocol: proto, payload: l4)
                nextHeader = c.innerV6 ? 41 : 4
            }
            // ESN: a sequence number past 2^32 (the wire carries the low half).
            let sequence: UInt64 = c.esn ? (1 << 32) + 7 : 7
            let packet = try sealed.packet(c, payload: payload, nextHeader: nextHeader, sequence: sequence)
            // The sender's packet opens with the full cipher (the sealer is sound).
            let espOffset = (c.outerV6 ? 40 : 20) + (c.natT ? 8 : 0)
            var opened = [UInt8](repeating: 0, count: packet.count)
            let openedLength = try packet.withUnsafeBytes { p in
                try opened.withUnsafeMutableBytes { try sealed.cipher.open(UnsafeRawBufferPointer(rebasing: p[espOffset...]), sequence: sequence, into: $0.baseAddress!) }
            }
            XCTAssertEqual(Array(opened.prefix(payload.count)), payload, "\(c)")
            XCTAssertGreaterThanOrEqual(openedLength, payload.count + 2)

            let decision = classifier.classify(packet, now: Self.now)
            guard case .forward(let ref) = decision else { XCTFail("\(c): \(decision)"); continue }
            XCTAssertEqual(ref.mark, 10 + UInt32(ref.index) + 1, "encapsulated mark")
            let expected = FlowKey(lineage: sealed.sa.lineage, source: innerSource,
                                   destination: c.mode == .transport ? sealed.sa.destination : innerDestination,
                                   sourcePort: sport, destinationPort: dport, ipProtocol: proto)
            XCTAssertEqual(classifier.connections(now: Self.now).map(\.key), [expected], "\(c)")
            checked += 1
        }
        XCTAssertEqual(checked, Self.allCases().count)
        XCTAssertGreaterThan(checked, 150)
    }

    /// Forged ESP (a known SPI, random ciphertext, no key): rejected by the sanity checks with
    /// high probability; never more entries than the SA's new-flow budget.
    func testGarbageCiphertextIsRejectedAndCannotFillTheTable() throws {
        var rng = SeededGenerator(seed: 77)
        for suite in [ESPCipherSuite.aesGCM16(keyLength: 32), .aesCBC(keyLength: 32, integrity: .hmacSHA256_128), .chacha20Poly1305] {
            for mode in [IPsecMode.tunnel, .transport] {
                let c = Case(suite: suite, mode: mode, outerV6: false, innerV6: false, natT: false, esn: false, chacha: .swift)
                var sealed = try Sealed(c, spi: 0x2000, seed: 5)
                sealed.sa.newFlowsPerSecond = 0
                sealed.sa.newFlowBurst = 3
                sealed.sa.remoteSelectors = []  // the weakest configuration: no selector filtering
                sealed.sa.localSelectors = []
                var classifier = try classifier([sealed.sa])
                let forgedCount = 20_000
                for i in 0..<forgedCount {
                    let length = 64 + 16 * Int.random(in: 0...60, using: &rng)
                    var random = [UInt8](repeating: 0, count: length)
                    random.withUnsafeMutableBytes { raw in
                        for w in 0..<(length / 8) { raw.storeBytes(of: rng.next(), toByteOffset: 8 * w, as: UInt64.self) }
                    }
                    let body = PacketBuilder.espHeader(spi: 0x2000, sequenceNumber: UInt32(i + 1) &* 7919) + random
                    _ = classifier.classify(PacketBuilder.outer(source: Self.peer, destination: Self.dvipa, esp: body), now: Self.now)
                }
                let forwarded = classifier.counters.forwarded
                print("garbage \(suite) \(mode): \(classifier.counters)")
                XCTAssertLessThan(Double(forwarded) / Double(forgedCount), 0.002, "\(suite) \(mode): \(classifier.counters)")
                XCTAssertLessThanOrEqual(classifier.flows.count, 3)
                XCTAssertEqual(classifier.counters.forwarded + classifier.counters.droppedTotal, UInt64(forgedCount))
            }
        }
    }

    func testWrongSPIAndTruncatedSealedPackets() throws {
        let c = Case(suite: .aesGCM16(keyLength: 16), mode: .tunnel, outerV6: false, innerV6: false, natT: true, esn: false, chacha: .swift)
        var sealed = try Sealed(c, spi: 0x3000, seed: 9)
        var classifier = try classifier([sealed.sa])
        let inner = PacketBuilder.ipv4(source: Self.host, destination: Self.dvipa, protocol: 6,
                                       payload: PacketBuilder.tcp(source: 1, destination: 2, flags: 0x02))
        let packet = try sealed.packet(c, payload: inner, nextHeader: 4, sequence: 1)
        let whole = classifier.classify(packet, now: Self.now)
        XCTAssertNotNil({ if case .forward = whole { return true } else { return nil } }())
        var wrong = packet
        wrong[28 + 3] ^= 1  // the SPI's last octet (20 IP + 8 UDP)
        XCTAssertEqual(classifier.classify(wrong, now: Self.now), .drop(.noSA))
        for length in 0..<packet.count {
            let decision = classifier.classify(Array(packet.prefix(length)), now: Self.now)
            if case .forward = decision { XCTAssertEqual(decision, whole) }
        }
        XCTAssertEqual(classifier.flows.count, 1)
    }
}
