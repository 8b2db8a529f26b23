import Cluster
@testable import Inbound
import Secrets
import XCTest

/// SA lifecycle and the replay rule end to end through the classifier.
final class LifecycleTests: XCTestCase {
    final class TrackingPeeker: ESPPeekDecryptor {
        let inner = NullPeeker()
        func peek(_ packet: UnsafeRawBufferPointer, layout: ESPLayout, range: Range<Int>, into output: UnsafeMutableRawPointer) -> Bool {
            inner.peek(packet, layout: layout, range: range, into: output)
        }
    }

    final class TrackingFactory: ESPPeekerFactory {
        var made: [WeakPeeker] = []
        func makePeeker(for sa: InboundSA) throws -> ESPPeekDecryptor {
            let peeker = TrackingPeeker()
            made.append(WeakPeeker(peeker: peeker))
            return peeker
        }
    }

    struct WeakPeeker { weak var peeker: TrackingPeeker? }

    func testRemovingAnSAReleasesItsPeekerAndKeyState() throws {
        let factory = TrackingFactory()
        var c = InboundClassifier(peekers: factory)
        try c.upsertTarget(InboundTarget(id: Fixture.t1, directMark: 1, encapsulatedMark: 2))
        try c.addSA(Fixture.sa(), now: Fixture.now)
        try c.addSA(Fixture.sa(spi: 2), now: Fixture.now)
        XCTAssertNotNil(c.classify(Fixture.tcp(sport: 1, flags: Fixture.syn), now: Fixture.now).target)
        XCTAssertNotNil(factory.made[0].peeker)
        XCTAssertTrue(c.removeSA(destination: Fixture.dvipa, spi: Fixture.spi))
        XCTAssertNil(factory.made[0].peeker, "the peeker (and the key schedule it holds) is gone")
        XCTAssertNotNil(factory.made[1].peeker)
        XCTAssertEqual(c.saCount, 1)
        XCTAssertEqual(c.classify(Fixture.tcp(sport: 1, flags: Fixture.ack), now: Fixture.now), .drop(.noSA))
        XCTAssertNotNil(c.classify(Fixture.tcp(sport: 1, flags: Fixture.ack, spi: 2), now: Fixture.now).target,
                        "the other SA still resolves after the index was rebuilt")
    }

    func testAddSARefusesBadKeysAndWindows() {
        var c = Fixture.classifier()
        var sa = Fixture.sa(spi: 5)
        sa.replayWindowSize = 100
        XCTAssertThrowsError(try c.addSA(sa, now: Fixture.now))
        var keyed = Fixture.sa(spi: 6)
        keyed.encryptionKey = SecretBytes([1, 2, 3])
        XCTAssertThrowsError(try c.addSA(keyed, now: Fixture.now))
        var gcm = Fixture.sa(spi: 7)
        gcm.suite = .aesGCM16(keyLength: 16)
        gcm.encryptionKey = SecretBytes([UInt8](repeating: 0, count: 20))
        XCTAssertThrowsError(try c.addSA(gcm, now: Fixture.now), "the null factory has no AES")
        XCTAssertEqual(c.saCount, 1)
    }

    /// Goal 4: a forged flood ten times ahead of (and 2^31 beyond) the real sequence costs 0
    /// real packets; after evidence, replays of real packets are dropped at the router.
    func testForgedFloodThroughTheClassifierCostsNoRealPacket() {
        var c = Fixture.classifier()
        var realForwarded = 0
        for seq in UInt32(1)...2000 {
            for k in UInt32(0)..<10 {
                let forged = seq &* 10 &+ k &+ (k % 2 == 0 ? 0 : 1 << 31)
                _ = c.classify(Fixture.tcp(sport: 9, flags: Fixture.ack, sequence: forged), now: Fixture.now)
            }
            if c.classify(Fixture.tcp(sport: 9, flags: Fixture.ack, sequence: seq), now: Fixture.now).target != nil {
                realForwarded += 1
            }
            if seq % 100 == 0 {
                // The target's kernel authenticated the real packets 1...seq.
                var bitmap = [UInt64](repeating: 0, count: 64)
                for i in 0..<Int(min(seq, 4096)) { bitmap[i / 64] |= 1 << UInt64(i % 64) }
                c.authenticated(destination: Fixture.dvipa, spi: Fixture.spi, top: UInt64(seq), bitmap: bitmap)
            }
        }
        XCTAssertEqual(realForwarded, 2000)
        XCTAssertEqual(c.counters[.replay], 0)
        for seq in UInt32(1)...2000 {
            XCTAssertEqual(c.classify(Fixture.tcp(sport: 9, flags: Fixture.ack, sequence: seq), now: Fixture.now), .drop(.replay))
        }
        XCTAssertEqual(c.counters[.replay], 2000)
    }
}
