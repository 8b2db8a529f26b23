import XCTest
import IKEv2
import IKECrypto
import VipsecTestSupport

/// Two of our IKE_SAs talking in memory, messages delivered one at a time, with the real
/// OpenSSL crypto. Each case runs with either side as initiator where the roles matter.
final class IKEConversationTests: XCTestCase {
    /// The pair of IKE_SAs, the configurations: VipsecTestSupport/IKEConversation.swift.
    typealias Conversation = IKEConversation.Conversation
    let provider = OpenSSLCryptoProvider()

    func establish(ike: String = "aes256gcm16-prfsha256-x25519", esp: String = "aes256gcm16",
                   file: StaticString = #filePath, line: UInt = #line) throws -> Conversation {
        var conversation = try Conversation(initiator: IKEConversation.configuration("alice", ike: ike, esp: esp),
                                            responder: IKEConversation.configuration("bob", ike: ike, esp: esp), provider: provider)
        conversation.start()
        try conversation.run()
        XCTAssertEqual(conversation.initiator.phase, .established, "\(conversation.initiatorActions) \(conversation.responderActions)", file: file, line: line)
        XCTAssertEqual(conversation.responder?.phase, .established, file: file, line: line)
        return conversation
    }

    /// Both sides derive mirror-image CHILD_SAs: my inbound is your outbound, same keys.
    func assertMirrored(_ a: ChildSAInstallation?, _ b: ChildSAInstallation?, file: StaticString = #filePath, line: UInt = #line) {
        guard let a, let b else { return XCTFail("CHILD_SA missing", file: file, line: line) }
        XCTAssertEqual(a.inbound, b.outbound, file: file, line: line)
        XCTAssertEqual(a.outbound, b.inbound, file: file, line: line)
        XCTAssertEqual(a.localTrafficSelectors, b.remoteTrafficSelectors, file: file, line: line)
        XCTAssertNotEqual(a.inbound.spi, a.outbound.spi, file: file, line: line)
        XCTAssertNotEqual(a.inbound.encryptionKey, a.outbound.encryptionKey, file: file, line: line)
    }

    // MARK: IKE_SA_INIT + IKE_AUTH

    func testEveryProposalEstablishesWithMirroredChildSAs() throws {
        let cases = [
            ("aes256gcm16-prfsha256-x25519", "aes256gcm16", 36),
            ("aes128-sha256-ecp256", "aes128-sha256", 16),
            ("aes256-sha384-modp2048", "aes256-sha384", 32),
            ("chacha20poly1305-prfsha512-curve25519", "chacha20poly1305", 36),
        ]
        for (ike, esp, encryptionKeyLength) in cases {
            let conversation = try establish(ike: ike, esp: esp)
            let mine = IKEConversation.installs(conversation.initiatorActions).first
            let theirs = IKEConversation.installs(conversation.responderActions).first
            assertMirrored(mine, theirs)
            XCTAssertEqual(mine?.inbound.encryptionKey.count, encryptionKeyLength, ike)
            XCTAssertEqual(mine?.localTrafficSelectors, [IKEConversation.net(1)], ike)
            XCTAssertEqual(mine?.mode, .tunnel)
            XCTAssertEqual(mine?.inbound.source, IKEConversation.bob.address)
            XCTAssertEqual(conversation.initiatorActions.filter { $0 == .established }.count, 1, ike)
            // Two exchanges: two requests, two responses.
            XCTAssertEqual(conversation.initiatorActions.filter { if case .send = $0 { return true }; return false }.count, 2)
        }
    }

    func testKeysNeverAppearInDescriptions() throws {
        let conversation = try establish()
        guard let child = IKEConversation.installs(conversation.initiatorActions).first else { return XCTFail() }
        let key = child.inbound.encryptionKey.unprotectedCopy().map { String(format: "%02x", $0) }.joined()
        for text in [String(describing: child), String(describing: child.inbound), String(describing: conversation.initiatorActions)] {
            XCTAssertFalse(text.contains(key.prefix(16)), text)
            XCTAssertTrue(text.contains(String(child.inbound.spi, radix: 16)))
        }
    }

    func testInvalidKEPayloadMakesTheInitiatorRetryWithTheSuggestedGroup() throws {
        // Alice offers x25519 first, then ecp256; Bob accepts only ecp256.
        var conversation = try Conversation(
            initiator: IKEConversation.configuration("alice", ike: "aes256gcm16-prfsha256-x25519-ecp256"),
            responder: IKEConversation.configuration("bob", ike: "aes256gcm16-prfsha256-ecp256"), provider: provider)
        conversation.start()
        try conversation.deliverToResponder()
        // <-- N(INVALID_KE_PAYLOAD, 19); the responder keeps no state.
        XCTAssertEqual(conversation.responder?.phase, .closed)
        conversation.responder = nil
        conversation.deliverToInitiator()
        XCTAssertEqual(conversation.toResponder.count, 1, "the retry")
        try conversation.run()
        XCTAssertEqual(conversation.initiator.phase, .established)
        XCTAssertEqual(conversation.responder?.phase, .established)
        assertMirrored(IKEConversation.installs(conversation.initiatorActions).first, IKEConversation.installs(conversation.responderActions).first)
    }

    func testNoCommonIKEProposalFailsBothSides() throws {
        var conversation = try Conversation(
            initiator: IKEConversation.configuration("alice", ike: "aes128-sha256-ecp256"),
            responder: IKEConversation.configuration("bob", ike: "aes256gcm16-prfsha256-x25519"), provider: provider)
        conversation.start()
        try conversation.run()
        XCTAssertEqual(conversation.initiator.phase, .closed)
        XCTAssertTrue(conversation.initiatorActions.contains { if case .closed(let r) = $0 { return r.contains("NO_PROPOSAL_CHOSEN") }; return false },
                      "\(conversation.initiatorActions)")
        XCTAssertTrue(IKEConversation.installs(conversation.responderActions).isEmpty)
    }

    func testWrongPSKIsAnsweredWithAuthenticationFailed() throws {
        for wrongSide in ["alice", "bob"] {
            var conversation = try Conversation(
                initiator: IKEConversation.configuration("alice", psk: wrongSide == "alice" ? "wrong" : "swordfish"),
                responder: IKEConversation.configuration("bob", psk: wrongSide == "bob" ? "wrong" : "swordfish"), provider: provider)
            conversation.start()
            try conversation.run()
            XCTAssertEqual(conversation.initiator.phase, .closed, wrongSide)
            XCTAssertEqual(conversation.responder?.phase, .closed, wrongSide)
            XCTAssertTrue(IKEConversation.installs(conversation.initiatorActions + conversation.responderActions).isEmpty)
            XCTAssertFalse(conversation.initiatorActions.contains(.established))
            XCTAssertTrue(conversation.initiatorActions.contains { if case .closed(let r) = $0 { return r.contains("AUTHENTICATION_FAILED") }; return false },
                          "\(wrongSide): \(conversation.initiatorActions)")
        }
    }

    func testNoESPProposalLeavesTheIKESAUpWithoutChild() throws {
        var conversation = try Conversation(
            initiator: IKEConversation.configuration("alice", esp: "aes128-sha256"),
            responder: IKEConversation.configuration("bob", esp: "aes256gcm16"), provider: provider)
        conversation.start()
        try conversation.run()
        XCTAssertEqual(conversation.initiator.phase, .established)
        XCTAssertTrue(IKEConversation.installs(conversation.initiatorActions + conversation.responderActions).isEmpty)
        XCTAssertTrue(conversation.initiatorActions.contains { if case .childSAFailed(let r) = $0 { return r.contains("NO_PROPOSAL_CHOSEN") }; return false })
    }

    func testDisjointTrafficSelectorsAreUnacceptable() throws {
        var conversation = try Conversation(
            initiator: IKEConversation.configuration("alice", remote: [IKEConversation.net(7)]),
            responder: IKEConversation.configuration("bob"), provider: provider)
        conversation.start()
        try conversation.run()
        XCTAssertEqual(conversation.initiator.phase, .established)
        XCTAssertTrue(conversation.initiatorActions.contains { if case .childSAFailed(let r) = $0 { return r.contains("TS_UNACCEPTABLE") }; return false })
    }

    func testResponderNarrowsTrafficSelectors() throws {
        // Alice asks for all of 10.0.0.0/8 on Bob's side; Bob allows only 10.2.0.0/16.
        var conversation = try Conversation(
            initiator: IKEConversation.configuration("alice", remote: [.ipv4([10, 0, 0, 0], [10, 255, 255, 255])]),
            responder: IKEConversation.configuration("bob"), provider: provider)
        conversation.start()
        try conversation.run()
        let mine = IKEConversation.installs(conversation.initiatorActions).first
        XCTAssertEqual(mine?.remoteTrafficSelectors, [IKEConversation.net(2)])
        assertMirrored(mine, IKEConversation.installs(conversation.responderActions).first)
    }

    func testTransportModeIsNegotiatedWithUseTransportMode() throws {
        let host = [TrafficSelector.ipv4([192, 0, 2, 1], [192, 0, 2, 1])]
        let peer = [TrafficSelector.ipv4([198, 51, 100, 2], [198, 51, 100, 2])]
        var conversation = try Conversation(
            initiator: IKEConversation.configuration("alice", mode: .transport, local: host, remote: peer),
            responder: IKEConversation.configuration("bob", mode: .transport, local: peer, remote: host), provider: provider)
        conversation.start()
        try conversation.run()
        XCTAssertEqual(IKEConversation.installs(conversation.initiatorActions).first?.mode, .transport)
        XCTAssertEqual(IKEConversation.installs(conversation.responderActions).first?.mode, .transport)
    }
}

/// Retransmission, the response cache, INFORMATIONAL, and hostile input.
final class IKEConversationRobustnessTests: XCTestCase {
    let provider = OpenSSLCryptoProvider()

    func conversation() throws -> IKEConversation.Conversation {
        try IKEConversation.Conversation(initiator: IKEConversation.configuration("alice"),
                                              responder: IKEConversation.configuration("bob"), provider: provider)
    }

    func testLostResponseIsAnsweredFromTheCacheByteIdentical() throws {
        var c = try conversation()
        c.start()
        try c.deliverToResponder()
        c.deliverToInitiator()                       // IKE_SA_INIT done, IKE_AUTH request on the wire
        let authRequest = c.toResponder[0]
        try c.deliverToResponder()                   // --> IKE_AUTH
        let response = c.toInitiator.removeFirst()   // <-- lost
        // The initiator's timer fires: the same request again, byte for byte.
        guard case .schedule(let timer)? = c.initiatorActions.last(where: { if case .schedule = $0 { return true }; return false }) else {
            return XCTFail("no timer")
        }
        c.now = timer.deadline
        c.record(c.initiator.retransmissionTimerFired(timer, now: c.now), fromInitiator: true)
        XCTAssertEqual(c.toResponder, [authRequest])
        try c.deliverToResponder()
        XCTAssertEqual(c.toInitiator, [response], "the cached response, unchanged")
        XCTAssertEqual(c.responder?.sequencerCounters.cachedResponsesResent, 1)
        XCTAssertEqual(IKEConversation.installs(c.responderActions).count, 1, "processed once")
        c.deliverToInitiator()
        XCTAssertEqual(c.initiator.phase, .established)
    }

    func testUnansweredRequestsGiveUpAfterTheBackoff() throws {
        var c = try conversation()
        c.start()
        c.toResponder.removeAll()
        var fired = 0
        while case .schedule(let timer)? = c.initiatorActions.last, c.initiator.phase != .closed {
            c.now = timer.deadline
            c.initiatorActions = []
            c.record(c.initiator.retransmissionTimerFired(timer, now: c.now), fromInitiator: true)
            fired += 1
        }
        XCTAssertEqual(fired, 6, "5 retransmissions, then give up")
        XCTAssertEqual(c.toResponder.count, 5)
        XCTAssertEqual(c.initiator.phase, .closed)
        XCTAssertEqual(c.now, RetransmissionPolicy.strongSwanDefault.totalTime, accuracy: 1e-6)
    }

    func testDeleteOfTheIKESAFromEitherSideRemovesAllChildSAs() throws {
        for deleter in ["initiator", "responder"] {
            var c = try conversation()
            c.start()
            try c.run()
            c.initiatorActions = []
            c.responderActions = []
            if deleter == "initiator" {
                c.record(c.initiator.delete(now: 1), fromInitiator: true)
            } else {
                c.record(c.responder!.delete(now: 1), fromInitiator: false)
            }
            try c.run()
            XCTAssertEqual(c.initiator.phase, .closed, deleter)
            XCTAssertEqual(c.responder?.phase, .closed, deleter)
            let deletes = (c.initiatorActions + c.responderActions).filter { if case .delete = $0 { return true }; return false }
            XCTAssertEqual(deletes.count, 2, "\(deleter): one CHILD_SA removed on each side")
            XCTAssertTrue(c.initiator.childSAs.isEmpty && c.responder!.childSAs.isEmpty)
        }
    }

    func testLivenessCheckIsAnswered() throws {
        var c = try conversation()
        c.start()
        try c.run()
        c.record(c.initiator.checkLiveness(now: 5), fromInitiator: true)
        XCTAssertEqual(c.toResponder.count, 1)
        try c.run()
        XCTAssertEqual(c.initiator.phase, .established)
        XCTAssertEqual(c.initiator.sequencerCounters.responsesDroppedUnexpected, 0)
        // Answered: a later timer does nothing.
        XCTAssertEqual(c.initiator.retransmissionTimerFired(RetransmissionTimer(messageID: 2, deadline: 100), now: 100), [])
    }

    func testTamperedAndGarbageMessagesAreDroppedAndCounted() throws {
        var c = try conversation()
        c.start()
        try c.deliverToResponder()
        c.deliverToInitiator()
        var tampered = c.toResponder.removeFirst()
        tampered[tampered.count - 1] ^= 0x01                // flip a bit of the ICV
        XCTAssertEqual(c.responder!.receiveInstalling(tampered, now: 0), [])
        XCTAssertEqual(c.responder?.counters.integrityFailures, 1)
        XCTAssertEqual(c.responder!.receiveInstalling([1, 2, 3], now: 0), [])
        XCTAssertEqual(c.responder!.receiveInstalling(Array(tampered.prefix(40)), now: 0), [])
        XCTAssertEqual(c.responder?.counters.malformed, 2)
        XCTAssertEqual(c.responder?.phase, .authenticating, "still waiting for the real IKE_AUTH")
        for length in stride(from: 0, to: tampered.count, by: 7) {
            var truncated = tampered
            truncated.removeLast(length)
            _ = c.responder!.receiveInstalling(truncated, now: 0)      // never traps
        }
    }
}
