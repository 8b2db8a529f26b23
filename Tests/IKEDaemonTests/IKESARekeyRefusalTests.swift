import XCTest
import IKEv2
import VipsecTestSupport
import IKECrypto
@testable import IKEv2
@testable import IKEDaemon

/// IKE_SA rekey requests that must be refused (RFC 7296 1.3.2, 2.25.2) without touching
/// state, a rekey meeting a Delete, the response cache's retransmission check (2.1), and
/// the gateway's rekey timers and SA table switch.
final class IKESARekeyRefusalTests: XCTestCase, GatewayPeerTesting {
    let provider = OpenSSLCryptoProvider()

    func established() throws -> RekeyWire {
        typealias C = IKEConversation
        var c = try C.Conversation(initiator: C.configuration("alice"), responder: C.configuration("bob"), provider: provider)
        c.start()
        try c.run()
        guard c.initiator.phase == .established, let bob = c.responder else { throw C.NotEstablished() }
        return RekeyWire(alice: RekeyEndpoint(c.initiator), bob: RekeyEndpoint(bob))
    }

    func ikeProposals(_ text: String, spi: [UInt8]) throws -> [Proposal] {
        try ProposalSyntax.parse(text, protocolID: .ike).map { var p = $0; p.spi = spi; return p }
    }

    /// Alice sends a hand-made IKE_SA rekey request (her offer recorded as if she built it).
    func sendRekey(_ w: inout RekeyWire, offer: [Proposal], ke: KeyExchangeMethod?, nonce: Bool = true,
                   recorded: [Proposal]? = nil) throws {
        guard let spi = w.alice.live?.localSPI else { return XCTFail("no IKE_SA") }
        let exchange = try provider.makeKeyExchange(ke ?? .curve25519)
        let nonceData = try provider.randomBytes(count: 32)
        var payloads: [IKEPayload] = [.securityAssociation(SecurityAssociationPayload(proposals: offer))]
        if nonce { payloads.append(.nonce(NoncePayload(nonceData: nonceData))) }
        if ke != nil { payloads.append(.keyExchange(KeyExchangePayload(group: exchange.method, keyExchangeData: exchange.publicValue))) }
        w.alice.on(spi) { sa in
            sa.inFlight?.pendingIKERekey = PendingIKERekey(spi: 0x0102_0304_0506_0708, proposals: recorded ?? offer, nonce: nonceData, keyExchange: exchange)
            return sa.sendRequest(exchange: .createChildSA, kind: .rekeyIKESA, payloads: payloads, now: 100)
        }
    }

    func testMalformedIKESARekeyRequestsAreRefusedAndChangeNothing() throws {
        var w = try established()
        guard let alice = w.alice.live, let bob = w.bob.live else { return XCTFail() }
        let spi8: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        let cases: [(String, [Proposal], KeyExchangeMethod?, Bool, NotifyMessageType)] = [
            ("no KE", try ikeProposals("aes256gcm16-prfsha256-x25519", spi: spi8), nil, true, .invalidKEPayload),
            ("only a group Bob does not take", try ikeProposals("aes256gcm16-prfsha256-ecp256", spi: spi8), .ecp256, true, .noProposalChosen),
            ("KE of the wrong group", try ikeProposals("aes256gcm16-prfsha256-x25519-ecp256", spi: spi8), .ecp256, true, .invalidKEPayload),
            ("no acceptable proposal", try ikeProposals("aes128-sha256-prfsha256-x25519", spi: spi8), .curve25519, true, .noProposalChosen),
            ("4-octet SPI", try ikeProposals("aes256gcm16-prfsha256-x25519", spi: [1, 2, 3, 4]), .curve25519, true, .noProposalChosen),
            ("zero SPI", try ikeProposals("aes256gcm16-prfsha256-x25519", spi: [UInt8](repeating: 0, count: 8)), .curve25519, true, .noProposalChosen),
            ("no nonce", try ikeProposals("aes256gcm16-prfsha256-x25519", spi: spi8), .curve25519, false, .invalidSyntax),
        ]
        for (index, (name, offer, ke, nonce, expected)) in cases.enumerated() {
            w.alice.actions = []
            // Alice records only the offer's first group: no retry with another one here.
            try sendRekey(&w, offer: offer, ke: ke, nonce: nonce, recorded: try ikeProposals("aes256gcm16-prfsha256-ecp256", spi: spi8))
            w.run()
            XCTAssertEqual(w.bob.sas[bob.localSPI]?.counters.refusals[expected], cases[...index].filter { $0.4 == expected }.count, name)
            // Alice read the refusal (with the KE group in it for INVALID_KE_PAYLOAD, which
            // she would retry with were it among her offers: see the next case).
            XCTAssertEqual(w.alice.count { if case .ikeSARekeyFailed(let r, _) = $0 { return r.contains("\(expected)") }; return false }, 1,
                           "\(name): \(w.alice.actions)")
            // State untouched on both sides.
            XCTAssertEqual(w.alice.sas.count, 1, name)
            XCTAssertEqual(w.bob.sas.count, 1, name)
            XCTAssertEqual(w.bob.live?.localSPI, bob.localSPI, name)
            XCTAssertEqual(w.bob.live?.childSAs.map(\.reference), bob.childSAs.map(\.reference), name)
            XCTAssertEqual(w.bob.live?.inFlight?.pendingIKERekey == nil && w.bob.live?.inFlight?.peerIKERekey == nil, true, name)
            XCTAssertEqual(w.bob.live?.keyContext?.keys.skD, bob.keyContext?.keys.skD, name)
        }
        XCTAssertEqual(w.alice.count(isCHILDInstallOrDelete) + w.bob.count(isCHILDInstallOrDelete), 0)
        // INVALID_KE_PAYLOAD names the group: offered too, Alice retries with it and succeeds.
        try sendRekey(&w, offer: try ikeProposals("aes256gcm16-prfsha256-ecp256-x25519", spi: spi8), ke: .ecp256)
        w.run()
        XCTAssertEqual(w.alice.sas.count, 1)
        XCTAssertNotEqual(w.alice.live?.localSPI, alice.localSPI, "rekeyed after the retry with x25519")
        XCTAssertEqual(w.alice.live?.keyContext?.keys.skD, w.bob.live?.keyContext?.keys.skD)
        XCTAssertEqual(w.bob.live?.childSAs.count, 1)
    }

    /// 2.25.2: a rekey request for an IKE_SA being closed gets TEMPORARY_FAILURE; the Delete
    /// wins, both ends end with nothing, no crash, no leftover SA.
    func testIKESARekeyMeetingADeleteLeavesNothingBehind() throws {
        var w = try established()
        guard let alice = w.alice.live, let bob = w.bob.live else { return XCTFail() }
        w.alice.on(alice.localSPI) { $0.delete(now: 100) }      // D(IKE) -->
        w.bob.on(bob.localSPI) { $0.rekeyIKESA(now: 100) }      // <-- CREATE_CHILD_SA (IKE)
        w.run()
        XCTAssertTrue(w.alice.sas.isEmpty)
        XCTAssertTrue(w.bob.sas.isEmpty, "\(w.bob.actions)")
        XCTAssertEqual(w.alice.count { if case .delete = $0 { return true }; return false }, 1)
        XCTAssertEqual(w.bob.count { if case .delete = $0 { return true }; return false }, 1)
        XCTAssertEqual(w.alice.count { if case .ikeSARekeyFailed(let r, _) = $0 { return r.contains("busy") }; return false }, 1,
                       "Alice answered TEMPORARY_FAILURE")
        XCTAssertEqual(w.bob.count { if case .rekeyed = $0 { return true }; return false }, 0)

        // Our own rekey in flight when we are told to delete: closed at once, no Delete possible.
        var v = try established()
        guard let a = v.alice.live else { return XCTFail() }
        v.alice.on(a.localSPI) { $0.rekeyIKESA(now: 100) }
        v.alice.on(a.localSPI) { $0.delete(now: 101) }
        XCTAssertTrue(v.alice.sas.isEmpty)
        XCTAssertEqual(v.alice.count { if case .delete = $0 { return true }; return false }, 1)
        v.run()   // Bob answers the rekey; the answer finds no IKE_SA at Alice.
        XCTAssertEqual(v.alice.unknownSPI, 1)
        XCTAssertTrue(v.alice.sas.isEmpty)
    }

    /// RFC 7296 2.1: a retransmission is bitwise identical; another request that reuses the
    /// message ID of the one just answered is not answered from the cache (dropped, counted).
    func testResponseCacheAnswersOnlyTrueRetransmissions() throws {
        var w = try established()
        guard let alice = w.alice.live, let bob = w.bob.live else { return XCTFail() }
        w.alice.on(alice.localSPI) { $0.checkLiveness(now: 100) }
        let request = w.alice.outbox[0]
        w.toBob()
        let response = w.bob.outbox.removeFirst()
        w.bob.receive(request, now: 101)
        XCTAssertEqual(w.bob.outbox, [response], "the cached response, byte-identical")
        XCTAssertEqual(w.bob.live?.sequencerCounters.cachedResponsesResent, 1)
        w.bob.outbox = []
        let messageID = IKEConversation.messageID(request)
        let other = try alice.keyContext!.seal(header: alice.header(exchange: .informational, messageID: messageID, response: false),
                                               payloads: [.delete(DeletePayload(protocolID: .esp, spis32: [0xC000_0001]))])
        XCTAssertNotEqual(other, request)
        w.bob.receive(other, now: 102)
        XCTAssertTrue(w.bob.outbox.isEmpty, "not answered from the cache")
        XCTAssertEqual(w.bob.live?.sequencerCounters.requestsDroppedNotRetransmission, 1)
        XCTAssertEqual(w.bob.live?.sequencerCounters.cachedResponsesResent, 1)
        XCTAssertEqual(w.bob.live?.childSAs.map(\.reference), bob.childSAs.map(\.reference), "the Delete was not processed")
    }

    // MARK: The gateway

    /// Delivers until quiet between the gateway and the peer; returns the gateway's actions.
    func converse(_ peer: inout RekeyEndpoint, _ gateway: inout IKEGateway, now: Double) -> [GatewayAction] {
        var all: [GatewayAction] = []
        while !peer.outbox.isEmpty {
            let datagram = peer.outbox.removeFirst()
            let actions = gateway.receiveInstalling(datagram, local: IKEGatewayTests.gatewayAddress, remote: IKEGatewayTests.peerAddress, now: now)
            all += actions
            for case .send(let bytes, _, _) in actions { peer.receive(bytes, now: now) }
        }
        return all
    }

    func testGatewayRekeysItsIKESAAtRekeyTimeAndSwitchesItsTable() throws {
        let text = IKEGatewayTests.config().replacingOccurrences(of: "dpd_delay = 0", with: "dpd_delay = 0\n rekey_time = 60s\n over_time = 6s")
        var gateway = try IKEGateway(config: DaemonConfig(parsing: text, file: "t"), provider: provider)
        var initiator = try self.peer()
        var peer = RekeyEndpoint(initiator)
        let started = initiator.start(now: 0)
        peer.file(initiator, started)
        let setup = converse(&peer, &gateway, now: 0)
        let timers = setup.compactMap { action -> (GatewayTimer, Double)? in
            if case .scheduleCommand(let timer, let deadline) = action { return (timer, deadline) }; return nil
        }
        guard let old = gateway.sas.values.first, let (rekey, deadline) = timers.first(where: { if case .rekeyIKESA = $0.0 { return true }; return false }),
              let childTimer = timers.first(where: { if case .rekeyChildSA = $0.0 { return true }; return false })?.0 else {
            return XCTFail("no IKE_SA rekey timer: \(timers)")
        }
        XCTAssertTrue((54...60).contains(deadline), "rekey_time 60 s minus up to 10 % jitter: \(deadline)")
        // The CHILD_SA index (ChildSAIndex.swift) names the IKE_SA holding the CHILD_SA, by
        // its inbound SPI and by the kernel's name of either SA.
        let child = try XCTUnwrap(old.childSAs.first)
        func expire(_ sa: ChildSAParameters) -> ChildSAExpireEvent {
            ChildSAExpireEvent(destination: sa.destination, spi: sa.spi, hard: false, bytes: 0, packets: 0)
        }
        XCTAssertEqual(gateway.ikeSA(holdingChild: child.inbound.spi), old.localSPI)
        XCTAssertEqual(gateway.childSA(namedBy: expire(child.outbound))?.ikeSA, old.localSPI)
        XCTAssertTrue(timers.contains { if case .expireIKESA = $0.0 { return $0.1 == 66 }; return false }, "rekey_time + over_time")
        let oldLine = gateway.ikeSALines.first ?? ""
        // The timer fires: CREATE_CHILD_SA --> ; the peer answers; the gateway deletes the old SA.
        for case .send(let bytes, _, _) in gateway.commandTimerFired(rekey, now: deadline) { peer.receive(bytes, now: deadline) }
        let rekeyActions = converse(&peer, &gateway, now: deadline)
        XCTAssertEqual(gateway.sas.count, 1, "only the new IKE_SA is left")
        guard let new = gateway.sas.values.first else { return XCTFail() }
        XCTAssertNotEqual(new.localSPI, old.localSPI)
        XCTAssertEqual(new.phase, .established)
        XCTAssertEqual(new.childSAs.map(\.reference), old.childSAs.map(\.reference))
        XCTAssertEqual(peer.live?.initiatorSPI, new.initiatorSPI)
        XCTAssertEqual(peer.sas.count, 1)
        XCTAssertFalse(rekeyActions.contains { if case .install = $0 { return true }; if case .delete = $0 { return true }; return false })
        XCTAssertTrue(rekeyActions.contains { if case .scheduleCommand(.rekeyIKESA(let spi), _) = $0 { return spi == new.localSPI }; return false })
        XCTAssertEqual(gateway.counters.ikeRekeys, 1)
        XCTAssertTrue(gateway.statusLine.contains("ike_rekeys=1"), gateway.statusLine)
        // The index moved the CHILD_SA to the new IKE_SA with the table.
        XCTAssertEqual(gateway.ikeSA(holdingChild: child.inbound.spi), new.localSPI)
        XCTAssertEqual(gateway.childSA(namedBy: expire(child.inbound))?.ikeSA, new.localSPI)
        XCTAssertEqual(gateway.childSA(namedBy: expire(child.outbound))?.child.reference, child.reference)
        XCTAssertEqual(gateway.childIndex.count, 1)
        // Status shows the new SPIs, not the old ones.
        let line = gateway.ikeSALines.first ?? ""
        XCTAssertEqual(gateway.ikeSALines.count, 1)
        XCTAssertNotEqual(line, oldLine)
        XCTAssertTrue(line.contains(String(new.initiatorSPI, radix: 16)), line)
        XCTAssertFalse(line.contains(String(old.localSPI, radix: 16)), line)
        // The CHILD_SA rekey timer, made under the old IKE_SA, finds its CHILD_SA under the new one.
        let childRekey = gateway.commandTimerFired(childTimer, now: 3500)
        XCTAssertEqual(childRekey.filter { if case .send = $0 { return true }; return false }.count, 1, "\(childRekey)")
        // The old SA's expiry timer does nothing; the new one's would delete it.
        XCTAssertTrue(gateway.commandTimerFired(.expireIKESA(sa: old.localSPI), now: 66).isEmpty)
        // Closed (the operator's delete, answered): nothing of it is left in the index.
        for case .send(let bytes, _, _) in gateway.operatorTerminate(ikeSA: new.localSPI, now: 3600) { peer.receive(bytes, now: 3600) }
        _ = converse(&peer, &gateway, now: 3600)
        XCTAssertEqual(gateway.sas.count, 0)
        XCTAssertEqual(gateway.childIndex.count, 0)
        XCTAssertNil(gateway.childSA(namedBy: expire(child.outbound)))
        XCTAssertTrue(gateway.identities.ikeSAs(IKESAIdentityIndex.identities(of: new)!).isEmpty)
    }
}
