import XCTest
import IKEv2
import VipsecTestSupport
import IKECrypto
@testable import IKEv2

/// One more CHILD_SA like an existing one (the cluster's per-target outbound SAs): a
/// CREATE_CHILD_SA without REKEY_SA, same selectors and reqid, the template stays; and the
/// `rekeyOf` mark a rekey carries (the cluster keeps the rekeyed SA's sender by it).
final class AdditionalChildSAConversationTests: XCTestCase {
    let provider = OpenSSLCryptoProvider()
    typealias C = IKEConversation

    func established() throws -> C.Conversation {
        var c = try C.Conversation(initiator: C.configuration("alice", esp: "aes256gcm16"),
                                   responder: C.configuration("bob", esp: "aes256gcm16"), provider: provider)
        c.start()
        try c.run()
        XCTAssertEqual(c.responder?.phase, .established)
        c.initiatorActions = []
        c.responderActions = []
        return c
    }

    func testAdditionalChildSAFromTheResponderKeepsTheTemplate() throws {
        var c = try established()
        let template = c.responder!.childSAs[0]
        // bob (the IKE responder, like vipsec routing) --> CREATE_CHILD_SA {SA, Nr, TSi, TSr}, no N(REKEY_SA)
        c.record(c.responder!.createAdditionalChildSA(like: template.inbound.spi, now: 10), fromInitiator: false)
        try c.run()
        let newBob = C.installs(c.responderActions), newAlice = C.installs(c.initiatorActions)
        XCTAssertEqual(newBob.count, 1)
        XCTAssertEqual(newAlice.count, 1)
        XCTAssertEqual(newBob.first?.inbound, newAlice.first?.outbound)
        XCTAssertEqual(newBob.first?.outbound, newAlice.first?.inbound)
        XCTAssertNotEqual(newBob.first?.outbound.spi, template.outbound.spi)
        XCTAssertEqual(newBob.first?.reqid, template.reqid, "same CHILD_SA line")
        XCTAssertEqual(newBob.first?.localTrafficSelectors, template.localTrafficSelectors)
        XCTAssertEqual(newBob.first?.remoteTrafficSelectors, template.remoteTrafficSelectors)
        XCTAssertNil(newBob.first?.rekeyOf, "a new CHILD_SA, not a rekey")
        XCTAssertNil(newAlice.first?.rekeyOf)
        XCTAssertEqual(newAlice.first?.outboundDeferred, false, "nothing is replaced: both SAs at once")
        let deletes = (c.initiatorActions + c.responderActions).filter { if case .delete = $0 { return true }; return false }
        XCTAssertTrue(deletes.isEmpty, "the template stays")
        XCTAssertEqual(c.responder!.childSAs.count, 2)
        XCTAssertEqual(c.initiator.childSAs.count, 2)
    }

    /// A peer cannot fill the kernel through one IKE_SA: beyond `maximumChildSAs` a new
    /// CHILD_SA is refused with NO_ADDITIONAL_SAS (RFC 7296 1.3); a rekey still passes.
    func testCHILDSAsBeyondTheLimitAreRefusedButRekeysPass() throws {
        var responder = try C.configuration("bob", esp: "aes256gcm16")
        responder.maximumChildSAs = 1
        var c = try C.Conversation(initiator: C.configuration("alice", esp: "aes256gcm16"), responder: responder, provider: provider)
        c.start()
        try c.run()
        let first = c.initiator.childSAs[0]
        c.record(c.initiator.createAdditionalChildSA(like: first.inbound.spi, now: 10), fromInitiator: true)
        try c.run()
        XCTAssertEqual(c.responder!.counters.refusals[.noAdditionalSAs], 1)
        XCTAssertEqual(c.responder!.childSAs.count, 1)
        XCTAssertEqual(c.initiator.childSAs.count, 1)
        XCTAssertTrue(c.initiatorActions.contains { if case .childSAFailed(let why) = $0 { return why.contains("NO_ADDITIONAL_SAS") }; return false },
                      "\(c.initiatorActions)")
        c.record(c.initiator.rekeyChildSA(inboundSPI: first.inbound.spi, now: 11), fromInitiator: true)
        try c.run()
        XCTAssertEqual(c.responder!.childSAs.count, 1, "rekeyed: the old one went")
        XCTAssertNotEqual(c.initiator.childSAs.first?.inbound.spi, first.inbound.spi)
        XCTAssertEqual(c.initiator.phase, .established)
    }

    func testTwoAdditionalChildSAsOneAfterTheOther() throws {
        var c = try established()
        let template = c.responder!.childSAs[0]
        c.record(c.responder!.createAdditionalChildSA(like: template.inbound.spi, now: 10), fromInitiator: false)
        // A second request while the first is in flight is refused (one exchange at a time):
        // the gateway retries it.
        XCTAssertTrue(c.responder!.createAdditionalChildSA(like: template.inbound.spi, now: 10).isEmpty)
        try c.run()
        c.record(c.responder!.createAdditionalChildSA(like: template.inbound.spi, now: 11), fromInitiator: false)
        try c.run()
        XCTAssertEqual(c.responder!.childSAs.count, 3)
        XCTAssertEqual(Set(c.responder!.childSAs.map(\.outbound.spi)).count, 3)
    }

    func testUnknownTemplateSendsNothing() throws {
        var c = try established()
        XCTAssertTrue(c.responder!.createAdditionalChildSA(like: 0xdead_beef, now: 10).isEmpty)
    }

    func testRekeyMarksTheRekeyedCHILDSAOnBothSides() throws {
        var c = try established()
        let oldBob = c.responder!.childSAs[0], oldAlice = c.initiator.childSAs[0]
        c.record(c.responder!.rekeyChildSA(inboundSPI: oldBob.inbound.spi, now: 10), fromInitiator: false)
        try c.run()
        XCTAssertEqual(C.installs(c.responderActions).first?.rekeyOf, oldBob.reference, "rekey initiator")
        XCTAssertEqual(C.installs(c.initiatorActions).first?.rekeyOf, oldAlice.reference, "rekey responder")
    }
}
