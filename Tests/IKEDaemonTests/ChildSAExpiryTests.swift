import XCTest
import IKEv2
import IKECrypto
import Logging
import VipsecTestSupport
import XFRM
@testable import IKEDaemon

/// The kernel's expire events -> rekey / delete / ignore (ChildSAExpiryPolicy), the Delete of
/// one CHILD_SA with the peer, and the soft-limit jitter. The kernel side is the lab's
/// ike-rekey-bytes scenario.
final class ChildSAExpiryTests: XCTestCase {
    static let us: [UInt8] = [192, 0, 2, 100], peer: [UInt8] = [192, 0, 2, 1]

    /// A CHILD_SA whose inbound SA is 0xc0000002 (to us) and outbound 0xc0000001 (to the peer).
    static func child(lifetime: ChildSALifetime, inbound: UInt32 = 0xc000_0002, outbound: UInt32 = 0xc000_0001) -> ChildSAInstallation {
        var child = KernelChildSAInstallerTests.child()
        child.inbound.spi = inbound
        child.outbound.spi = outbound
        child.lifetime = lifetime
        return child
    }

    static let byteLimits = ChildSALifetime(softSeconds: 3600, hardSeconds: 3960, softBytes: 200 << 10, hardBytes: 300 << 10,
                                            softBytesJitter: 100 << 10)

    func event(_ spi: UInt32, to destination: [UInt8], hard: Bool = false, bytes: UInt64 = 0, packets: UInt64 = 0) -> ChildSAExpireEvent {
        ChildSAExpireEvent(destination: destination, spi: spi, hard: hard, bytes: bytes, packets: packets)
    }

    func testSoftExpireOfEitherSARekeysTheCHILDSAOnceByBytes() {
        let child = Self.child(lifetime: Self.byteLimits)
        var policy = ChildSAExpiryPolicy()
        // The jitter may have lowered the soft limit to 100 KiB: 150 000 bytes is "bytes".
        XCTAssertEqual(policy.decide(event(0xc000_0002, to: Self.us, bytes: 150_000), children: [(7, child)]),
                       .rekey(ikeSA: 7, inboundSPI: 0xc000_0002, cause: .bytes))
        // The outbound SA's soft expire follows: the same CHILD_SA, already being rekeyed.
        XCTAssertEqual(policy.decide(event(0xc000_0001, to: Self.peer, bytes: 160_000), children: [(7, child)]), .duplicate)
        XCTAssertEqual(policy.counters, ChildSAExpiryCounters(softExpires: 2, rekeysByBytes: 1, duplicates: 1))
        // Rekeyed and gone: the policy forgets it, a later event for it is not ours.
        XCTAssertEqual(policy.decide(event(0xc000_0001, to: Self.peer, hard: true, bytes: 300 << 10), children: []), .notOurs)
    }

    func testOutboundSoftExpireRekeysByTheInboundSPI() {
        var policy = ChildSAExpiryPolicy()
        let child = Self.child(lifetime: Self.byteLimits)
        XCTAssertEqual(policy.decide(event(0xc000_0001, to: Self.peer, bytes: 200 << 10), children: [(9, child)]),
                       .rekey(ikeSA: 9, inboundSPI: 0xc000_0002, cause: .bytes))
    }

    func testCauseIsBytesPacketsOrTime() {
        let lifetime = ChildSALifetime(softSeconds: 60, softBytes: 1000, softPackets: 100, softBytesJitter: 100, softPacketsJitter: 10)
        XCTAssertEqual(ChildSAExpiryPolicy.cause(of: event(1, to: Self.us, bytes: 900, packets: 5), lifetime: lifetime), .bytes)
        XCTAssertEqual(ChildSAExpiryPolicy.cause(of: event(1, to: Self.us, bytes: 899, packets: 90), lifetime: lifetime), .packets)
        XCTAssertEqual(ChildSAExpiryPolicy.cause(of: event(1, to: Self.us, bytes: 899, packets: 89), lifetime: lifetime), .time)
        // No volume limits configured: any soft expire is the time limit.
        XCTAssertEqual(ChildSAExpiryPolicy.cause(of: event(1, to: Self.us, bytes: 1 << 40, packets: 1 << 30),
                                                 lifetime: ChildSALifetime(softSeconds: 60)), .time)
        var policy = ChildSAExpiryPolicy()
        let child = Self.child(lifetime: lifetime)
        XCTAssertEqual(policy.decide(event(0xc000_0002, to: Self.us, packets: 95), children: [(1, child)]),
                       .rekey(ikeSA: 1, inboundSPI: 0xc000_0002, cause: .packets))
        XCTAssertEqual(policy.counters.rekeysByPackets, 1)
    }

    func testHardExpireDeletesOnceEvenWhileARekeyRuns() {
        let child = Self.child(lifetime: Self.byteLimits)
        var policy = ChildSAExpiryPolicy()
        XCTAssertEqual(policy.decide(event(0xc000_0002, to: Self.us, bytes: 150_000), children: [(3, child)]),
                       .rekey(ikeSA: 3, inboundSPI: 0xc000_0002, cause: .bytes))
        XCTAssertEqual(policy.decide(event(0xc000_0002, to: Self.us, hard: true, bytes: 300 << 10), children: [(3, child)]),
                       .delete(ikeSA: 3, inboundSPI: 0xc000_0002))
        XCTAssertEqual(policy.decide(event(0xc000_0001, to: Self.peer, hard: true, bytes: 300 << 10), children: [(3, child)]),
                       .duplicate)
        // A soft expire of a CHILD_SA being deleted starts no rekey.
        let other = Self.child(lifetime: Self.byteLimits, inbound: 0xd000_0002, outbound: 0xd000_0001)
        XCTAssertEqual(policy.decide(event(0xd000_0002, to: Self.us, hard: true), children: [(3, child), (3, other)]),
                       .delete(ikeSA: 3, inboundSPI: 0xd000_0002))
        XCTAssertEqual(policy.decide(event(0xd000_0001, to: Self.peer, bytes: 250_000), children: [(3, child), (3, other)]),
                       .duplicate)
        XCTAssertEqual(policy.counters.deletions, 2)
        XCTAssertEqual(policy.counters.hardExpires, 3)
        XCTAssertEqual(policy.counters.duplicates, 2)
    }

    func testForeignSAsAreIgnoredAndCounted() {
        let child = Self.child(lifetime: Self.byteLimits)
        var policy = ChildSAExpiryPolicy()
        // strongSwan's (or the cluster's) SA: unknown SPI.
        XCTAssertEqual(policy.decide(event(0xcafe_0001, to: Self.us, bytes: 1 << 20), children: [(1, child)]), .notOurs)
        // Our SPI number but another destination: not our SA either.
        XCTAssertEqual(policy.decide(event(0xc000_0002, to: [198, 51, 100, 7], bytes: 1 << 20), children: [(1, child)]), .notOurs)
        XCTAssertEqual(policy.decide(event(0xc000_0002, to: Self.us, hard: true), children: []), .notOurs)
        XCTAssertEqual(policy.counters.notOurs, 3)
        XCTAssertEqual(policy.counters.rekeysByBytes + policy.counters.deletions, 0)
        XCTAssertTrue(policy.statusLine.contains("not ours 3"), policy.statusLine)
    }

    func testSoftLimitJitterStaysWithinRandBytesAndNeverReachesZero() {
        var generator = SeededGenerator(seed: 42)
        let draws = (0..<2000).map { _ in Self.byteLimits.jittered(using: &generator) }
        XCTAssertTrue(draws.allSatisfy { (100 << 10)...(200 << 10) ~= $0.softBytes })
        XCTAssertLessThan(draws.map(\.softBytes).min() ?? .max, 110 << 10, "the jitter is used")
        XCTAssertGreaterThan(draws.map(\.softBytes).max() ?? 0, 190 << 10)
        XCTAssertTrue(draws.allSatisfy { $0.hardBytes == 300 << 10 && $0.softBytesJitter == 0 && $0.softSeconds == 3600 })
        let tight = ChildSALifetime(softBytes: 10, softPackets: 0, softBytesJitter: 1000, softPacketsJitter: 5)
        for _ in 0..<200 {
            let drawn = tight.jittered(using: &generator)
            XCTAssertTrue((1...10) ~= drawn.softBytes)
            XCTAssertEqual(drawn.softPackets, 0, "no limit stays no limit")
        }
        XCTAssertEqual(ChildSALifetime(softBytes: 500).jittered(using: &generator).softBytes, 500)
    }

    /// --> D(ESP our inbound SPI); <-- D(ESP its inbound SPI): both sides drop the CHILD_SA,
    /// the IKE_SA stays.
    func testDeletingOneCHILDSAWithThePeer() throws {
        typealias C = IKEConversation
        var c = try C.Conversation(initiator: C.configuration("alice"), responder: C.configuration("bob"),
                                   provider: OpenSSLCryptoProvider())
        c.start()
        try c.run()
        XCTAssertEqual(c.initiator.phase, .established)
        let alice = c.initiator.childSAs[0], bob = c.responder!.childSAs[0]
        XCTAssertEqual(c.initiator.deleteChildSA(inboundSPI: 0x1234_5678, now: 10), [], "no such CHILD_SA")
        XCTAssertTrue(c.initiator.hasChildSA(inboundSPI: alice.inbound.spi))
        c.record(c.initiator.deleteChildSA(inboundSPI: alice.inbound.spi, now: 10), fromInitiator: true)
        XCTAssertEqual(c.toResponder.count, 1)
        XCTAssertEqual(c.initiator.deleteChildSA(inboundSPI: alice.inbound.spi, now: 10), [], "busy: one exchange at a time")
        try c.run()
        let deletedAlice = c.initiatorActions.compactMap { if case .delete(let d) = $0 { return d }; return nil }
        let deletedBob = c.responderActions.compactMap { if case .delete(let d) = $0 { return d }; return nil }
        XCTAssertEqual(deletedAlice.map(\.reference), [alice.reference])
        XCTAssertEqual(deletedBob.map(\.reference), [bob.reference])
        XCTAssertTrue(c.initiator.childSAs.isEmpty)
        XCTAssertTrue(c.responder!.childSAs.isEmpty)
        XCTAssertEqual(c.initiator.phase, .established)
        XCTAssertEqual(c.responder!.phase, .established)
        XCTAssertFalse(c.initiator.hasChildSA(inboundSPI: alice.inbound.spi))
    }

    func installer() throws -> KernelChildSAInstaller {
        KernelChildSAInstaller(kernel: try XFRMKernel(), logger: Logger(label: "test"))
    }

    func testKernelStatesCarryByteAndPacketLimits() throws {
        let lifetime = ChildSALifetime(softBytes: 1000, hardBytes: 2000, softPackets: 10, hardPackets: 20)
        let child = Self.child(lifetime: lifetime)
        let state = try installer().states(child).inbound
        XCTAssertEqual(state.lifetime.softByteLimit, 1000)
        XCTAssertEqual(state.lifetime.hardByteLimit, 2000)
        XCTAssertEqual(state.lifetime.softPacketLimit, 10)
        XCTAssertEqual(state.lifetime.hardPacketLimit, 20)
        let none = Self.child(lifetime: ChildSALifetime())
        let unlimited = try installer().states(none).inbound
        XCTAssertNil(unlimited.lifetime.softByteLimit)
        XCTAssertNil(unlimited.lifetime.hardPacketLimit)
    }
}
