import XCTest
@testable import IKEv2
import IKECrypto
import VipsecTestSupport

/// RFC 5685 5 between two of our IKE_SAs: the responder asks its peer to move.
final class RedirectConversationTests: XCTestCase {
    let provider = OpenSSLCryptoProvider()

    func established() throws -> IKEConversation.Conversation {
        var c = try IKEConversation.Conversation(initiator: IKEConversation.configuration("alice"),
                                                      responder: IKEConversation.configuration("bob"), provider: provider)
        try c.establish()
        XCTAssertEqual(c.responder?.phase, .established)
        return c
    }

    func testAPeerThatAnnouncedSupportGetsAnInformationalRedirect() throws {
        var c = try established()
        c.responder?.peerSupportsRedirect = true          // as strongSwan's IKE_SA_INIT announces
        c.record(c.responder!.redirect(to: .ipv4([192, 0, 2, 101]), now: 1), fromInitiator: false)
        XCTAssertEqual(c.toInitiator.count, 1)
        XCTAssertEqual(c.toInitiator.first?[18], 37, "INFORMATIONAL")
        c.deliverToInitiator()
        XCTAssertEqual(c.toResponder.count, 1, "answered")
        try c.deliverToResponder()
        XCTAssertEqual(c.responder?.phase, .established, "the peer deletes it once it moved; nothing closes here")
        XCTAssertEqual(c.responder?.sequencerCounters.responsesDroppedUnexpected, 0)
    }

    func testWithoutSupportNothingIsSent() throws {
        var c = try established()
        XCTAssertFalse(c.responder!.peerSupportsRedirect, "this initiator is configured without followRedirects (the IKE core's default; the daemon turns it on)")
        XCTAssertEqual(c.responder!.redirect(to: .fqdn("gw2.example"), now: 1), [])
    }
}
