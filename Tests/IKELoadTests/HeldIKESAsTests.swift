import XCTest
import IKEv2
import IKECrypto
@testable import vipsec_ike_load

/// `--hold`: the load's established IKE_SAs answer the responder (our own IKESA, in memory)
/// as a peer that keeps its tunnels would: liveness checks, CHILD_SA and IKE_SA rekeys,
/// Deletes; datagrams for no held IKE_SA are counted and dropped.
final class HeldIKESAsTests: XCTestCase {
    let setup = LoadTestPeers()
    static let port: UInt16 = 40000

    /// One completed setup, held; returns the table and the responder's end of it.
    func heldPair(index: Int = 1) throws -> (HeldIKESAs, IKESA) {
        var initiator = try setup.initiator(setup.plan(), index: index)
        let responder = try setup.converse(&initiator)
        XCTAssertEqual(initiator.outcome, .completed)
        var held = HeldIKESAs()
        held.add(initiator.sa, port: Self.port)
        return (held, responder)
    }

    /// The responder's request goes to the held table, the answers back, until quiet.
    /// Returns how many datagrams the held side sent.
    @discardableResult
    func exchange(_ request: [IKEAction], _ held: inout HeldIKESAs, _ responder: inout IKESA, now: Double) -> Int {
        var toHeld = request.compactMap { if case .send(let bytes) = $0 { return bytes } else { return nil } }
        var sent = 0
        while let datagram = toHeld.first {
            toHeld.removeFirst()
            for (bytes, port) in held.receive(datagram, now: now) {
                XCTAssertEqual(port, Self.port, "answers leave from the IKE_SA's own port")
                sent += 1
                var actions = responder.receive(bytes, now: now)
                for case .install(let child) in actions { actions += responder.installCompleted(child.reference, succeeded: true, now: now) }
                for successor in responder.takeSuccessors() { responder = successor.sa; actions += successor.actions }
                for case .send(let next) in actions { toHeld.append(next) }
            }
        }
        return sent
    }

    func testALivenessCheckIsAnsweredAndCounted() throws {
        var (held, responder) = try heldPair()
        let check = responder.checkLiveness(now: 10)
        XCTAssertFalse(check.isEmpty, "the responder sends an empty INFORMATIONAL")
        XCTAssertEqual(exchange(check, &held, &responder, now: 10), 1, "one answer")
        XCTAssertEqual(held.counts.informational, 1)
        XCTAssertEqual(held.established, 1)
        // The responder took the answer: its next check is a new exchange, answered again.
        XCTAssertEqual(exchange(responder.checkLiveness(now: 20), &held, &responder, now: 20), 1)
        XCTAssertEqual(held.counts.informational, 2)
    }

    func testAChildSARekeyIsAnsweredAndItsTimeKept() throws {
        var (held, responder) = try heldPair()
        let oldSPI = try XCTUnwrap(responder.childSAs.first?.inbound.spi)
        let rekey = responder.rekeyChildSA(inboundSPI: oldSPI, now: 30)
        XCTAssertFalse(rekey.isEmpty)
        exchange(rekey, &held, &responder, now: 30)
        XCTAssertEqual(held.counts.createChildSA, 1)
        XCTAssertEqual(held.rekeyTimes, [30])
        XCTAssertFalse(responder.childSAs.contains { $0.inbound.spi == oldSPI }, "the rekey completed on the responder")
        XCTAssertEqual(responder.childSAs.count, 1)
        XCTAssertEqual(held.established, 1)
    }

    func testAnIKESARekeyMovesTheHeldSAToItsNewSPIAndTheOldOneGoesWithItsDelete() throws {
        var (held, responder) = try heldPair()
        let before = responder.initiatorSPI
        XCTAssertTrue(held.holds(before))
        exchange(responder.rekeyIKESA(now: 40), &held, &responder, now: 40)
        XCTAssertEqual(held.counts.ikeSARekeys, 1)
        XCTAssertEqual(responder.phase, .established, "the responder now runs the new IKE_SA")
        XCTAssertNotEqual(responder.localSPI, before)
        XCTAssertTrue(held.holds(responder.responderSPI), "the new IKE_SA is held under our SPI in it")
        XCTAssertFalse(held.holds(before), "the old one closed with the responder's Delete")
        XCTAssertEqual(held.count, 1)
        // And the new one answers like the old one did.
        XCTAssertEqual(exchange(responder.checkLiveness(now: 50), &held, &responder, now: 50), 1)
    }

    func testADeleteClosesTheHeldSA() throws {
        var (held, responder) = try heldPair()
        exchange(responder.delete(now: 60), &held, &responder, now: 60)
        XCTAssertEqual(held.counts.closed, 1)
        XCTAssertEqual(held.count, 0)
        XCTAssertEqual(held.established, 0)
    }

    func testDatagramsForNoHeldSAAreCountedAndDropped() throws {
        var (held, responder) = try heldPair()
        var other = try heldPair(index: 2).1
        XCTAssertTrue(held.receive(other.checkLiveness(now: 1).compactMap { if case .send(let b) = $0 { return b } else { return nil } }[0],
                                   now: 1).isEmpty)
        XCTAssertTrue(held.receive([1, 2, 3], now: 1).isEmpty, "too short for an IKE header")
        XCTAssertEqual(held.counts.unknownSPI, 2)
        XCTAssertEqual(held.counts.informational, 0, "nothing counted as answered")
        XCTAssertEqual(exchange(responder.checkLiveness(now: 2), &held, &responder, now: 2), 1, "the held one still answers")
    }

    func testTheSpreadOfTimesAndTheBusiestSecond() throws {
        let spread = try XCTUnwrap(TimeSpread([5, 0.5, 0.2, 0.9, 3, 1.3, 9]))
        XCTAssertEqual(spread.count, 7)
        XCTAssertEqual(spread.first, 0.2)
        XCTAssertEqual(spread.last, 9)
        XCTAssertEqual(spread.p50, 1.3)
        XCTAssertEqual(spread.peakPerSecond, 3, "0.2, 0.5 and 0.9 fall in the first second from 0.2; 1.3 does not")
        XCTAssertNil(TimeSpread([]))
        XCTAssertTrue(spread.fields("rekey").hasPrefix("rekey_first=0.2 rekey_p10="))
    }

    func testBlockRatesShowWhetherTheSetupRateHoldsUp() {
        var tally = LoadTally()
        tally.completionTimes = [0.5, 1, 1.5, 2, 4, 6, 8]
        XCTAssertEqual(tally.blockRates(block: 2), [2, 2, 0.5], "2 in 1 s, 2 in 1 s, 2 in 4 s; the last incomplete block left out")
        XCTAssertEqual(tally.blockRates(block: 10), [])
        XCTAssertEqual(tally.blockRates(block: 0), [])
    }
}
