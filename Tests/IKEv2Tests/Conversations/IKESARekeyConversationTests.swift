import XCTest
import IKEv2
import IKECrypto
import VipsecTestSupport
@testable import IKEv2

/// IKE_SA rekeying (RFC 7296 1.3.2, 2.18, 2.8.2): two of our endpoints in memory.
final class IKESARekeyConversationTests: XCTestCase {
    let provider = OpenSSLCryptoProvider()
    typealias C = IKEConversation

    func established(ike: String = "aes256gcm16-prfsha256-x25519",
                     file: StaticString = #filePath, line: UInt = #line) throws -> RekeyWire {
        var c = try C.Conversation(initiator: C.configuration("alice", ike: ike),
                                   responder: C.configuration("bob", ike: ike), provider: provider)
        c.start()
        try c.run()
        XCTAssertEqual(c.initiator.phase, .established, file: file, line: line)
        guard let bob = c.responder else { throw C.NotEstablished() }
        return RekeyWire(alice: RekeyEndpoint(c.initiator), bob: RekeyEndpoint(bob))
    }

    func assertIKERekey(byBob: Bool, ike: String, file: StaticString = #filePath, line: UInt = #line) throws {
        var w = try established(ike: ike)
        guard let oldAlice = w.alice.live, let oldBob = w.bob.live else { return XCTFail("not established", file: file, line: line) }
        let children = (oldAlice.childSAs.map(\.reference), oldBob.childSAs.map(\.reference))
        XCTAssertEqual(children.0.count, 1, file: file, line: line)
        //   HDR, SK {SA, Ni, KEi}  -->
        //                     <--  HDR, SK {SA, Nr, KEr}
        //   HDR(old), SK {D(IKE)}  -->
        //                     <--  HDR(old), SK {}
        if byBob { w.bob.on(oldBob.localSPI) { $0.rekeyIKESA(now: 100) } } else { w.alice.on(oldAlice.localSPI) { $0.rekeyIKESA(now: 100) } }
        XCTAssertEqual((byBob ? w.bob : w.alice).outbox.count, 1, "one CREATE_CHILD_SA request", file: file, line: line)
        XCTAssertEqual((byBob ? w.bob : w.alice).outbox.first?[18], 36, file: file, line: line)
        w.run()
        // Exactly one IKE_SA on each side: the new one, the same on both, the old one deleted.
        XCTAssertEqual(w.alice.sas.count, 1, "\(w.alice.actions)", file: file, line: line)
        XCTAssertEqual(w.bob.sas.count, 1, "\(w.bob.actions)", file: file, line: line)
        guard let newAlice = w.alice.live, let newBob = w.bob.live else { return XCTFail("no new IKE_SA", file: file, line: line) }
        XCTAssertEqual(newAlice.initiatorSPI, newBob.initiatorSPI, file: file, line: line)
        XCTAssertEqual(newAlice.responderSPI, newBob.responderSPI, file: file, line: line)
        XCTAssertFalse([oldAlice.initiatorSPI, oldAlice.responderSPI].contains(newAlice.initiatorSPI), file: file, line: line)
        XCTAssertFalse([oldAlice.initiatorSPI, oldAlice.responderSPI].contains(newAlice.responderSPI), file: file, line: line)
        // 3.1: the initiator of the rekey is the original initiator of the new SA.
        XCTAssertEqual(newBob.isOriginalInitiator, byBob, file: file, line: line)
        XCTAssertEqual(newAlice.isOriginalInitiator, !byBob, file: file, line: line)
        // New keys (2.18), the same on both ends.
        XCTAssertNotEqual(newAlice.keyContext?.keys.skD, oldAlice.keyContext?.keys.skD, file: file, line: line)
        XCTAssertEqual(newAlice.keyContext?.keys.skD, newBob.keyContext?.keys.skD, file: file, line: line)
        // The CHILD_SAs moved untouched: nothing installed or deleted in the kernel.
        XCTAssertEqual(newAlice.childSAs.map(\.reference), children.0, file: file, line: line)
        XCTAssertEqual(newBob.childSAs.map(\.reference), children.1, file: file, line: line)
        XCTAssertEqual(w.alice.count(isCHILDInstallOrDelete) + w.bob.count(isCHILDInstallOrDelete), 0, file: file, line: line)
        XCTAssertEqual(w.alice.count { $0 == .rekeyed(previousLocalSPI: oldAlice.localSPI) }, 1, file: file, line: line)
        XCTAssertEqual(w.bob.count { $0 == .rekeyed(previousLocalSPI: oldBob.localSPI) }, 1, file: file, line: line)
        XCTAssertEqual(newAlice.rekeyGeneration, 1, file: file, line: line)
        // Message IDs restart at 0 on the new SA: a CHILD_SA rekey on it carries ID 0 and works.
        XCTAssertEqual(newAlice.taskManager.nextRequestMessageID, 0, file: file, line: line)
        XCTAssertEqual(newBob.taskManager.expectedRequestMessageID, 0, file: file, line: line)
        let childSPI = newAlice.childSAs[0].inbound.spi
        w.alice.actions = []
        w.alice.on(newAlice.localSPI) { $0.rekeyChildSA(inboundSPI: childSPI, now: 200) }
        XCTAssertEqual(w.alice.outbox.first.map(C.messageID), 0, file: file, line: line)
        w.run()
        XCTAssertEqual(C.installs(w.alice.actions).count, 1, "CHILD_SA rekeyed under the new IKE_SA", file: file, line: line)
        XCTAssertEqual(w.alice.live?.childSAs.count, 1, file: file, line: line)
        XCTAssertNotEqual(w.alice.live?.childSAs.first?.inbound.spi, childSPI, file: file, line: line)
        // And a second IKE_SA rekey, from the other side, chains from the new SK_d.
        let second = byBob ? w.alice.live?.localSPI : w.bob.live?.localSPI
        if byBob { w.alice.on(second ?? 0) { $0.rekeyIKESA(now: 300) } } else { w.bob.on(second ?? 0) { $0.rekeyIKESA(now: 300) } }
        w.run()
        XCTAssertEqual(w.alice.sas.count, 1, file: file, line: line)
        XCTAssertEqual(w.bob.sas.count, 1, file: file, line: line)
        XCTAssertEqual(w.alice.live?.rekeyGeneration, 2, file: file, line: line)
        XCTAssertEqual(w.alice.live?.keyContext?.keys.skD, w.bob.live?.keyContext?.keys.skD, file: file, line: line)
        XCTAssertEqual(w.alice.live?.childSAs.count, 1, file: file, line: line)
        XCTAssertEqual(w.alice.live?.counters.integrityFailures ?? -1, 0, file: file, line: line)
    }

    func testIKESARekeyStartedByEitherSide() throws {
        try assertIKERekey(byBob: false, ike: "aes256gcm16-prfsha256-x25519")
        try assertIKERekey(byBob: true, ike: "aes256gcm16-prfsha256-x25519")
        try assertIKERekey(byBob: false, ike: "aes128-sha256-prfsha384-ecp256")
        try assertIKERekey(byBob: true, ike: "chacha20poly1305-prfsha512-x25519")
    }

    /// The same side rekeys again and again (as strongSwan with a short rekey_time does):
    /// each old SA, itself made by a rekey, is deleted and answered.
    func testRepeatedIKESARekeysBySameSide() throws {
        for byBob in [false, true] {
            var w = try established()
            for round in 1...4 {
                guard let a = w.alice.live, let b = w.bob.live else { return XCTFail("round \(round)") }
                if byBob { w.bob.on(b.localSPI) { $0.rekeyIKESA(now: Double(100 * round)) } } else { w.alice.on(a.localSPI) { $0.rekeyIKESA(now: Double(100 * round)) } }
                w.run()
                XCTAssertEqual(w.alice.sas.count, 1, "round \(round): \(w.alice.sas.values.map(\.phase))")
                XCTAssertEqual(w.bob.sas.count, 1, "round \(round): \(w.bob.sas.values.map(\.phase))")
                XCTAssertEqual(w.alice.live?.rekeyGeneration, round)
                XCTAssertEqual(w.alice.live?.initiatorSPI, w.bob.live?.initiatorSPI)
                XCTAssertEqual(w.alice.live?.childSAs.count, 1)
                XCTAssertEqual(w.bob.live?.childSAs.count, 1)
            }
        }
    }

    /// RFC 7296 2.8.2: "The new IKE SA containing the lowest nonce SHOULD be deleted by the
    /// node that created it, and the other surviving new IKE SA MUST inherit all the Child SAs."
    func testSimultaneousIKESARekeyLeavesExactlyTheRightIKESA() throws {
        for _ in 0..<8 {
            var w = try established()
            guard let oldAlice = w.alice.live, let oldBob = w.bob.live else { return XCTFail() }
            let children = oldAlice.childSAs.map(\.reference)
            // --> and <-- cross on the wire.
            w.alice.on(oldAlice.localSPI) { $0.rekeyIKESA(now: 100) }
            w.bob.on(oldBob.localSPI) { $0.rekeyIKESA(now: 100) }
            guard let aliceOffer = w.alice.sas[oldAlice.localSPI]?.inFlight?.pendingIKERekey,
                  let bobOffer = w.bob.sas[oldBob.localSPI]?.inFlight?.pendingIKERekey else { return XCTFail("no rekeys in flight") }
            w.toBob()
            w.toAlice()
            // Each answered the other's request; Nr of each exchange is now known.
            guard let bobAnswer = w.alice.sas[oldAlice.localSPI]?.inFlight?.peerIKERekey,
                  let aliceAnswer = w.bob.sas[oldBob.localSPI]?.inFlight?.peerIKERekey else { return XCTFail("collision not seen") }
            let aliceExchange = [aliceOffer.nonce, aliceAnswer.nonces[1]], bobExchange = [bobOffer.nonce, bobAnswer.nonces[1]]
            let lowest = (aliceExchange + bobExchange).min(by: IKESA.nonceIsLower)!
            let aliceWins = !aliceExchange.contains(lowest)
            w.run()
            XCTAssertEqual(w.alice.sas.count, 1, "\(w.alice.actions)")
            XCTAssertEqual(w.bob.sas.count, 1, "\(w.bob.actions)")
            guard let a = w.alice.live, let b = w.bob.live else { return XCTFail("no surviving IKE_SA") }
            XCTAssertEqual(a.initiatorSPI, b.initiatorSPI)
            XCTAssertEqual(a.responderSPI, b.responderSPI)
            // The survivor is the SA of the exchange without the lowest nonce.
            XCTAssertEqual(a.initiatorSPI, aliceWins ? aliceOffer.spi : bobOffer.spi)
            XCTAssertEqual(a.isOriginalInitiator, aliceWins)
            XCTAssertEqual(a.keyContext?.keys.skD, b.keyContext?.keys.skD)
            XCTAssertEqual(a.childSAs.map(\.reference), children)
            XCTAssertEqual(b.childSAs.count, 1)
            XCTAssertEqual(w.alice.count(isCHILDInstallOrDelete) + w.bob.count(isCHILDInstallOrDelete), 0)
            XCTAssertEqual(w.alice.unknownSPI + w.bob.unknownSPI, 0)
            // The surviving SA works: a CHILD_SA rekey under it goes through.
            let spi = a.childSAs[0].inbound.spi
            w.alice.on(a.localSPI) { $0.rekeyChildSA(inboundSPI: spi, now: 200) }
            w.run()
            XCTAssertNotEqual(w.alice.live?.childSAs.first?.inbound.spi, spi)
            XCTAssertEqual(w.bob.live?.childSAs.count, 1)
        }
    }

    /// 2.8.2: "there is a special case where one peer finishes its rekey before it even
    /// notices that other peer is doing a rekey" -- it answers TEMPORARY_FAILURE; the other
    /// adopts the finished SA.
    func testSimultaneousIKESARekeySeenByOneSideOnly() throws {
        var w = try established()
        guard let oldAlice = w.alice.live, let oldBob = w.bob.live else { return XCTFail() }
        w.alice.on(oldAlice.localSPI) { $0.rekeyIKESA(now: 100) }
        w.bob.on(oldBob.localSPI) { $0.rekeyIKESA(now: 100) }
        w.toBob()                       // Bob sees the collision and answers Alice.
        XCTAssertEqual(w.bob.outbox.count, 2)
        w.bob.outbox.swapAt(0, 1)       // Bob's answer overtakes Bob's request.
        w.toAlice()                     // Alice finishes, never having seen Bob's rekey.
        XCTAssertEqual(w.alice.sas[oldAlice.localSPI]?.phase, .rekeyed)
        w.run()
        XCTAssertEqual(w.alice.sas.count, 1)
        XCTAssertEqual(w.bob.sas.count, 1)
        XCTAssertEqual(w.alice.live?.initiatorSPI, w.bob.live?.initiatorSPI)
        XCTAssertEqual(w.alice.live?.isOriginalInitiator, true, "Alice's SA survives")
        XCTAssertEqual(w.bob.live?.childSAs.count, 1)
        XCTAssertEqual(w.alice.live?.childSAs.count, 1)
    }

    /// 2.25.2: "If a peer receives a request to rekey a Child SA when it is currently
    /// rekeying the IKE SA, it SHOULD reply with TEMPORARY_FAILURE." Both are retried later.
    func testCHILDRekeyCollidingWithIKESARekeyIsRefusedThenRetried() throws {
        var w = try established()
        guard let oldAlice = w.alice.live, let oldBob = w.bob.live else { return XCTFail() }
        let bobChild = oldBob.childSAs[0].inbound.spi
        w.alice.on(oldAlice.localSPI) { $0.rekeyIKESA(now: 100) }
        w.bob.on(oldBob.localSPI) { $0.rekeyChildSA(inboundSPI: bobChild, now: 100) }
        w.run()
        XCTAssertEqual(w.alice.sas[oldAlice.localSPI]?.counters.refusals[.temporaryFailure], 1, "CHILD rekey during IKE rekey")
        XCTAssertEqual(w.bob.sas[oldBob.localSPI]?.counters.refusals[.temporaryFailure], 1, "IKE rekey while a CHILD rekey is in flight")
        XCTAssertEqual(w.bob.count { $0 == .childSARekeyDeferred(inboundSPI: bobChild) }, 1)
        XCTAssertEqual(w.alice.count { if case .ikeSARekeyFailed(_, let retry) = $0 { return retry }; return false }, 1)
        // Nothing changed: one IKE_SA each, the same CHILD_SA, nothing installed or deleted.
        XCTAssertEqual(w.alice.live?.localSPI, oldAlice.localSPI)
        XCTAssertEqual(w.bob.live?.childSAs.map(\.reference), oldBob.childSAs.map(\.reference))
        XCTAssertEqual(w.alice.count(isCHILDInstallOrDelete) + w.bob.count(isCHILDInstallOrDelete), 0)
        // The retries, one after the other: the IKE_SA rekey, then the CHILD_SA rekey on the new SA.
        w.alice.on(oldAlice.localSPI) { $0.rekeyIKESA(now: 110) }
        w.run()
        guard let newBob = w.bob.live, newBob.localSPI != oldBob.localSPI else { return XCTFail("IKE_SA not rekeyed") }
        XCTAssertTrue(newBob.childSAs.contains { $0.inbound.spi == bobChild }, "the CHILD_SA moved to the new IKE_SA")
        w.bob.on(newBob.localSPI) { $0.rekeyChildSA(inboundSPI: bobChild, now: 120) }
        w.run()
        XCTAssertEqual(w.bob.live?.childSAs.count, 1)
        XCTAssertNotEqual(w.bob.live?.childSAs.first?.inbound.spi, bobChild)
        XCTAssertEqual(w.alice.live?.childSAs.first?.outbound, w.bob.live?.childSAs.first?.inbound)
        XCTAssertEqual(w.alice.sas.count + w.bob.sas.count, 2)
    }
}
