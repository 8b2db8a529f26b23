import XCTest
import IKEv2
import IKECrypto
import VipsecTestSupport

/// IKESARecord (IKESA+Snapshot.swift, IKESARecord+Codec.swift): an established IKE_SA
/// written to octets and restored on "another node" continues the conversation with the
/// real peer model (our own IKESA, OpenSSL crypto) as if nothing had happened.
final class IKESARecordTests: XCTestCase {
    typealias C = IKEConversation
    let provider = OpenSSLCryptoProvider()
    let times = IKESARecord.Times(established: 1_796_000_000.25, rekeyDue: 1_796_003_000, expiry: nil, nextLiveness: 1_796_000_030)

    /// Established, with every action kept (the IKE_AUTH request is needed below).
    func established() throws -> C.Conversation {
        var c = try C.Conversation(initiator: C.configuration("alice"), responder: C.configuration("bob"), provider: provider)
        c.start()
        try c.run()
        XCTAssertEqual(c.initiator.phase, .established)
        XCTAssertEqual(c.responder?.phase, .established)
        return c
    }

    static func sends(_ actions: [IKEAction]) -> [[UInt8]] {
        actions.compactMap { if case .send(let bytes) = $0 { return bytes }; return nil }
    }

    /// The record through its octets and back, then the IKE_SA rebuilt from it.
    func restored(_ sa: IKESA, as name: String, now: Double = 0) throws -> (IKESA, [IKEAction]) {
        let record = try IKESARecord(decoding: try sa.snapshot(times: times).encoded())
        return try IKESA.restore(record, configuration: C.configuration(name), provider: provider, now: now)
    }

    // MARK: Round trip

    func testRoundTripKeepsEveryFieldForBothRoles() throws {
        let c = try established()
        for (sa, name) in [(c.initiator, "alice"), (c.responder!, "bob")] {
            let record = try sa.snapshot(times: times)
            XCTAssertEqual(record.childSAs, sa.childSAs, name)
            // IKE_SA_INIT and IKE_AUTH used message IDs 0 and 1 of the initiator's requests.
            XCTAssertEqual(record.messageIDs.nextRequest, name == "alice" ? 2 : 0, name)
            XCTAssertEqual(record.messageIDs.expectedRequest, name == "alice" ? 0 : 2, name)
            XCTAssertEqual(record.messageIDs.lastResponse?.messageID, name == "alice" ? nil : 1, name)
            let decoded = try IKESARecord(decoding: record.encoded())
            XCTAssertEqual(decoded, record, name)
            let (restored, actions) = try IKESA.restore(decoded, configuration: C.configuration(name), provider: provider, now: 0)
            XCTAssertEqual(actions, [], "nothing was in flight")
            XCTAssertEqual(restored.phase, .established)
            XCTAssertEqual(restored.localSPI, sa.localSPI)
            XCTAssertEqual(restored.peerIdentity, sa.peerIdentity)
            XCTAssertEqual(try restored.snapshot(times: times), record, "the restored IKE_SA makes the same record (\(name))")
        }
    }

    func testRecordAndItsErrorsNeverShowAKey() throws {
        let c = try established()
        let record = try c.responder!.snapshot(times: times)
        let hex = { (s: SecretBytes) in s.unprotectedCopy().map { String(format: "%02x", $0) }.joined() }
        let text = "\(record) \(String(reflecting: record))"
        for key in [record.skD, record.skEi, record.skEr, record.childSAs[0].inbound.encryptionKey] {
            XCTAssertFalse(text.contains(hex(key).prefix(16)), "a key in \(text)")
        }
        XCTAssertTrue(text.contains(String(record.responderSPI, radix: 16)))
    }

    // MARK: The restored IKE_SA answers as the original would

    func testRestoredResponderAnswersLivenessAndRetransmissionsAsTheOriginal() throws {
        let c = try established()
        var original = c.responder!
        var (restored, _) = try restored(original, as: "bob", now: 5)

        // A retransmitted IKE_AUTH request (the last one answered before the snapshot) gets
        // the very same cached response from both.
        let authRequest = Self.sends(c.initiatorActions)[1]
        let cachedFromOriginal = Self.sends(original.receive(authRequest, now: 5))
        XCTAssertEqual(cachedFromOriginal.count, 1)
        XCTAssertEqual(Self.sends(restored.receive(authRequest, now: 5)), cachedFromOriginal)

        // --> a DPD (message ID 2); both answer with message ID 2, and the peer accepts either.
        var alice = c.initiator
        let dpd = Self.sends(alice.checkLiveness(now: 5))
        XCTAssertEqual(dpd.count, 1)
        let fromOriginal = Self.sends(original.receive(dpd[0], now: 5))
        let fromRestored = Self.sends(restored.receive(dpd[0], now: 5))
        XCTAssertEqual(fromRestored.count, 1)
        XCTAssertEqual(Array(fromRestored[0].prefix(24)), Array(fromOriginal[0].prefix(24)), "same SPIs, exchange, flags, message ID")
        var aliceA = alice, aliceB = alice
        _ = aliceA.receive(fromOriginal[0], now: 5)
        _ = aliceB.receive(fromRestored[0], now: 5)
        XCTAssertTrue(aliceB.canSendDelete, "the DPD is answered: the window is free")
        XCTAssertEqual(aliceB.counters, aliceA.counters)
        XCTAssertEqual(aliceB.counters.integrityFailures, 0)
        XCTAssertEqual(aliceB.sequencerCounters, aliceA.sequencerCounters)
        // Its retransmission is answered from the restored node's cache, byte for byte.
        XCTAssertEqual(Self.sends(restored.receive(dpd[0], now: 6)), fromRestored)
        // A request that skips a message ID is dropped by both (window 1).
        XCTAssertEqual(restored.sequencerCounters.requestsDroppedOutOfWindow, 0)
    }

    func testRestoredResponderTakesAndStartsCreateChildSA() throws {
        for byResponder in [false, true] {
            var c = try established()
            let oldAlice = c.initiator.childSAs[0], oldBob = c.responder!.childSAs[0]
            c.responder = try restored(c.responder!, as: "bob", now: 10).0
            c.initiatorActions = []
            c.responderActions = []
            c.rekeyFirstChildSA(byResponder: byResponder, now: 10)
            try c.run()
            let newAlice = C.installs(c.initiatorActions), newBob = C.installs(c.responderActions)
            XCTAssertEqual(newAlice.count, 1, "byResponder \(byResponder)")
            XCTAssertEqual(newBob.count, 1, "byResponder \(byResponder)")
            XCTAssertEqual(newAlice.first?.inbound, newBob.first?.outbound, "mirrored keys")
            XCTAssertEqual(newAlice.first?.outbound, newBob.first?.inbound)
            XCTAssertEqual(newAlice.first?.reqid, oldAlice.reqid)
            XCTAssertEqual(c.initiator.childSAs.map(\.reference), newAlice.map(\.reference), "the old CHILD_SA is gone")
            XCTAssertEqual(c.responder!.childSAs.map(\.reference), newBob.map(\.reference))
            let deletedBob = c.responderActions.compactMap { if case .delete(let d) = $0 { return d }; return nil }
            XCTAssertEqual(deletedBob.map(\.reference), [oldBob.reference], "the restored node deletes the CHILD_SA it inherited")
            XCTAssertEqual(c.initiator.counters.unexpected, 0)
            XCTAssertEqual(c.initiator.counters.integrityFailures, 0)
            XCTAssertEqual(c.initiator.sequencerCounters.requestsDroppedOutOfWindow, 0)
            XCTAssertEqual(c.responder!.sequencerCounters.requestsDroppedOutOfWindow, 0)
        }
    }

    func testRestoredInitiatorResendsItsLivenessCheckAndGoesOnWithTheNextMessageID() throws {
        for answeredBeforeTakeover in [false, true] {
            let c = try established()
            var alice = c.initiator
            var bob = c.responder!
            let dpd = Self.sends(alice.checkLiveness(now: 5))
            if answeredBeforeTakeover { _ = bob.receive(dpd[0], now: 5) }   // answer lost with the old node
            let record = try alice.snapshot(times: times)
            XCTAssertEqual(record.messageIDs.outstandingLiveness, dpd)
            var (restored, actions) = try restored(alice, as: "alice", now: 7)
            XCTAssertEqual(Self.sends(actions), dpd, "the same datagram again, so no message ID carries other bytes")
            XCTAssertTrue(actions.contains { if case .schedule = $0 { return true }; return false })
            let answer = Self.sends(bob.receive(dpd[0], now: 7))
            XCTAssertEqual(answer.count, 1)
            XCTAssertEqual(bob.sequencerCounters.cachedResponsesResent, answeredBeforeTakeover ? 1 : 0)
            _ = restored.receive(answer[0], now: 7)
            XCTAssertTrue(restored.canSendDelete, "answered")
            // The next request carries message ID 3 and the peer takes it.
            let next = Self.sends(restored.checkLiveness(now: 8))
            XCTAssertEqual(next.first.map { Array($0[20..<24]) }, [0, 0, 0, 3])
            XCTAssertEqual(Self.sends(bob.receive(next[0], now: 8)).count, 1)
            XCTAssertEqual(bob.sequencerCounters.requestsDroppedOutOfWindow, 0)
        }
    }

    // MARK: What is refused

    func testNoSnapshotWhileAStateChangingExchangeIsInFlightOrBeforeEstablishment() throws {
        var c = try established()
        c.rekeyFirstChildSA(byResponder: false, now: 10)
        XCTAssertThrowsError(try c.initiator.snapshot(times: times)) { error in
            guard case IKESARecordError.notRestorable(let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("in flight"), reason)
        }
        let fresh = try IKESA.initiator(configuration: C.configuration("alice"), provider: provider, local: C.alice, remote: C.bob)
        XCTAssertThrowsError(try fresh.snapshot(times: times))
    }

    func testRestoreRefusesARecordThatDoesNotFitTheConfiguration() throws {
        let c = try established()
        let record = try c.responder!.snapshot(times: times)
        XCTAssertThrowsError(try IKESA.restore(record, configuration: C.configuration("alice"), provider: provider, now: 0)) { error in
            XCTAssertTrue("\(error)".contains("local identity"), "\(error)")
        }
        var renamed = try C.configuration("bob")
        renamed.name = "other"
        XCTAssertThrowsError(try IKESA.restore(record, configuration: renamed, provider: provider, now: 0)) { error in
            XCTAssertTrue("\(error)".contains("connection gw"), "\(error)")
        }
    }

    func testTruncatedRecordsAreRefusedWithTheFieldNamed() throws {
        let c = try established()
        let octets = try c.responder!.snapshot(times: times).encoded().unprotectedCopy()
        for length in 0..<octets.count {
            XCTAssertThrowsError(try IKESARecord(decoding: Array(octets.prefix(length)))) { error in
                guard case IKESARecordError.truncated(let field) = error else {
                    return XCTFail("prefix \(length): \(error)")
                }
                XCTAssertFalse(field.isEmpty)
            }
        }
        XCTAssertThrowsError(try IKESARecord(decoding: octets + [0])) { XCTAssertEqual($0 as? IKESARecordError, .trailingOctets(1)) }
    }

    func testGarbledRecordsAreRefusedWithAReasonNeverACrash() throws {
        let c = try established()
        let octets = try c.responder!.snapshot(times: times).encoded().unprotectedCopy()
        var version = octets
        version[4] = 9
        XCTAssertThrowsError(try IKESARecord(decoding: version)) { XCTAssertEqual($0 as? IKESARecordError, .unsupportedVersion(9)) }
        var magic = octets
        magic[0] ^= 0xff
        XCTAssertThrowsError(try IKESARecord(decoding: magic)) { XCTAssertEqual($0 as? IKESARecordError, .notARecord) }
        // The SK_d length field: 2 octets before SK_d, whose position follows the PRF and suite.
        let record = try IKESARecord(decoding: octets)
        var skD = octets
        let skDOffset = Self.offset(of: record.skD.unprotectedCopy(), in: octets)
        skD[skDOffset - 1] &+= 1
        XCTAssertThrowsError(try IKESARecord(decoding: skD)) { error in
            XCTAssertEqual(error as? IKESARecordError, .invalidValue(field: "SK_d", reason: "33 octets where the transform needs 32"))
        }
        // Seeded bit flips: each decodes (a flipped key or time is still a record: the seal
        // catches those) or is refused with an IKESARecordError; nothing else, never a trap.
        var mutator = SeedMutator(seed: 19)
        var refused = 0
        for _ in 0..<3000 {
            do {
                _ = try IKESARecord(decoding: mutator.next(of: [octets]))
            } catch is IKESARecordError {
                refused += 1
            }
        }
        XCTAssertGreaterThan(refused, 100, "structure fields are checked")
    }

    static func offset(of needle: [UInt8], in haystack: [UInt8]) -> Int {
        for start in 0...(haystack.count - needle.count) where Array(haystack[start..<start + needle.count]) == needle {
            return start
        }
        return -1
    }
}
