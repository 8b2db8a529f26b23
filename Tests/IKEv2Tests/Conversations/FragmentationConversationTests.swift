import XCTest
import IKEv2
import VipsecTestSupport
import IKECrypto

/// RFC 7383 between two of our IKE_SAs in memory, with the real OpenSSL crypto: an IKE_AUTH
/// made large by fifty traffic selectors a side, so that it cannot go in one datagram of
/// `fragment_size` octets.
final class FragmentationConversationTests: XCTestCase {
    let provider = OpenSSLCryptoProvider()
    typealias Conversation = IKEConversation.Conversation

    /// Fifty /24s: 50 x 16 octets of TS each way, IKE_AUTH well above 1280 octets.
    static func nets(_ second: UInt8) -> [TrafficSelector] {
        (0..<50).map { .ipv4([10, second, UInt8($0), 0], [10, second, UInt8($0), 255]) }
    }

    static func configuration(_ name: String, _ policy: FragmentationPolicy, ike: String = "aes256gcm16-prfsha256-x25519")
        throws -> IKESAConfiguration {
        let isAlice = name == "alice"
        var configuration = try IKEConversation.configuration(name, ike: ike, local: nets(isAlice ? 1 : 2),
                                                                   remote: nets(isAlice ? 2 : 1))
        configuration.fragmentation = policy
        return configuration
    }

    func conversation(alice: FragmentationPolicy = .default, bob: FragmentationPolicy = .default,
                      ike: String = "aes256gcm16-prfsha256-x25519") throws -> Conversation {
        try Conversation(initiator: Self.configuration("alice", alice, ike: ike),
                         responder: Self.configuration("bob", bob, ike: ike), provider: provider)
    }

    static func sent(_ actions: [IKEAction]) -> [[UInt8]] {
        actions.compactMap { if case .send(let bytes) = $0 { return bytes }; return nil }
    }

    func testALargeIKEAuthGoesAsFragmentsBothWaysAndEstablishes() throws {
        for ike in ["aes256gcm16-prfsha256-x25519", "aes128-sha256-ecp256"] {   // AEAD and CBC+HMAC framing
            var c = try conversation(ike: ike)
            c.start()
            try c.run()
            XCTAssertEqual(c.initiator.phase, .established, ike)
            XCTAssertEqual(c.responder?.phase, .established, ike)
            XCTAssertTrue(c.initiator.fragmentationNegotiated)
            XCTAssertTrue(try XCTUnwrap(c.responder).fragmentationNegotiated)
            let limit = FragmentationPolicy.default.maximumMessageSize(local: IKEConversation.alice)
            let initiatorSent = Self.sent(c.initiatorActions), responderSent = Self.sent(c.responderActions)
            XCTAssertGreaterThan(initiatorSent.count, 2, "IKE_SA_INIT, then IKE_AUTH in several fragments")
            XCTAssertGreaterThan(responderSent.count, 2)
            // After IKE_SA_INIT (not fragmented, 2.5.3): IKE_AUTH (35) as SKF (53) only, none too large.
            for datagram in Array(initiatorSent.dropFirst()) + Array(responderSent.dropFirst()) {
                XCTAssertLessThanOrEqual(datagram.count, limit, "no fragment above fragment_size")
                XCTAssertEqual(datagram[18], 35, "IKE_AUTH")
                XCTAssertEqual(datagram[16], 53, "the SKF payload")
            }
            XCTAssertEqual(c.initiator.counters.fragmentedMessagesSent, 1)
            XCTAssertEqual(c.responder?.counters.fragmentedMessagesSent, 1)
            XCTAssertEqual(c.initiator.counters.fragmentedMessagesReassembled, 1)
            XCTAssertEqual(c.responder?.counters.fragmentedMessagesReassembled, 1)
            let installed = IKEConversation.installs(c.initiatorActions)
            XCTAssertEqual(installed.first?.localTrafficSelectors.count, 50, "every selector survived reassembly")
        }
    }

    /// Runs IKE_SA_INIT only; the IKE_AUTH request's fragments are on the wire.
    func afterInit(_ c: inout Conversation) throws {
        c.start()
        try c.deliverToResponder()
        c.deliverToInitiator()
    }

    func testFragmentsOutOfOrderAndDuplicatedAreReassembledOnce() throws {
        var c = try conversation()
        try afterInit(&c)
        let fragments = c.toResponder
        XCTAssertGreaterThan(fragments.count, 1)
        c.toResponder = fragments.reversed() + [fragments[0]]
        try c.run()
        XCTAssertEqual(c.initiator.phase, .established)
        XCTAssertEqual(c.responder?.counters.fragmentedMessagesReassembled, 1)
        XCTAssertEqual(IKEConversation.installs(c.responderActions).count, 1, "processed once")
    }

    func testAForgedFragmentIsDroppedBeforeItIsKept() throws {
        var c = try conversation()
        try afterInit(&c)
        let genuine = c.toResponder.count
        var forged = c.toResponder[0]
        forged[forged.count - 1] ^= 0x01                 // the ICV
        c.toResponder.insert(forged, at: 0)
        try c.run()
        XCTAssertEqual(c.responder?.counters.integrityFailures, 1)
        XCTAssertEqual(c.responder?.counters.fragmentsReceived, genuine, "the forged one was not taken")
        XCTAssertEqual(c.responder?.phase, .established, "the genuine fragments still made the message")
    }

    func testARetransmittedFragmentedRequestIsAnsweredOnceAtItsFirstFragment() throws {
        var c = try conversation()
        try afterInit(&c)
        let request = c.toResponder
        while !c.toResponder.isEmpty { try c.deliverToResponder() }
        let response = c.toInitiator
        c.toInitiator = []                                   // the response is lost
        XCTAssertGreaterThan(response.count, 1)
        guard case .schedule(let timer)? = c.initiatorActions.last(where: { if case .schedule = $0 { return true }; return false }) else {
            return XCTFail("no timer")
        }
        c.now = timer.deadline
        c.record(c.initiator.retransmissionTimerFired(timer, now: c.now), fromInitiator: true)
        XCTAssertTrue(c.toResponder == request, "all \(request.count) fragments again, unchanged")
        while !c.toResponder.isEmpty { try c.deliverToResponder() }
        XCTAssertEqual(c.toInitiator.count, response.count, "the cached response once (for fragment 1), not once per fragment")
        XCTAssertTrue(c.toInitiator == response, "the cached response, unchanged")
        XCTAssertEqual(c.responder?.sequencerCounters.cachedResponsesResent, 1)
        XCTAssertEqual(IKEConversation.installs(c.responderActions).count, 1, "processed once")
        try c.run()
        XCTAssertEqual(c.initiator.phase, .established)
    }

    func testWithoutSupportOnOneSideNothingIsFragmented() throws {
        for (alice, bob) in [(FragmentationPolicy(supported: false), FragmentationPolicy.default),
                             (.default, FragmentationPolicy(supported: false))] {
            var c = try conversation(alice: alice, bob: bob)
            c.start()
            try c.run()
            XCTAssertFalse(c.initiator.fragmentationNegotiated)
            XCTAssertEqual(Self.sent(c.initiatorActions).count, 2, "IKE_SA_INIT and one whole IKE_AUTH")
            XCTAssertEqual(Self.sent(c.responderActions).count, 2)
            XCTAssertEqual(c.initiator.phase, .established, "a network that passes IP fragments still works")
        }
    }

    func testAcceptReassemblesButSendsWhole() throws {
        var c = try conversation(bob: FragmentationPolicy(sendsFragments: false))
        c.start()
        try c.run()
        XCTAssertEqual(c.initiator.phase, .established)
        XCTAssertTrue(c.initiator.fragmentationNegotiated, "announced by both")
        XCTAssertEqual(c.initiator.counters.fragmentedMessagesSent, 1)
        XCTAssertEqual(c.responder?.counters.fragmentedMessagesSent, 0, "accept: never fragments its own")
        XCTAssertEqual(Self.sent(c.responderActions).count, 2)
    }
}
