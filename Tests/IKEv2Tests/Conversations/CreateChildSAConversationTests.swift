import XCTest
import IKEv2
import VipsecTestSupport
import IKECrypto
@testable import IKEv2

/// CREATE_CHILD_SA: rekeying the CHILD_SA, with and without PFS, started by either side.
final class CreateChildSAConversationTests: XCTestCase {
    let provider = OpenSSLCryptoProvider()
    typealias C = IKEConversation

    func established(esp: String) throws -> C.Conversation {
        var c = try C.Conversation(initiator: C.configuration("alice", esp: esp),
                                   responder: C.configuration("bob", esp: esp), provider: provider)
        try c.establish()
        XCTAssertEqual(c.initiator.phase, .established)
        return c
    }

    func assertRekey(esp: String, byResponder: Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        var c = try established(esp: esp)
        let oldAlice = c.initiator.childSAs[0], oldBob = c.responder!.childSAs[0]
        c.rekeyFirstChildSA(byResponder: byResponder, now: 10)
        try c.run()
        let newAlice = C.installs(c.initiatorActions), newBob = C.installs(c.responderActions)
        XCTAssertEqual(newAlice.count, 1, file: file, line: line)
        XCTAssertEqual(newBob.count, 1, file: file, line: line)
        XCTAssertEqual(newAlice.first?.inbound, newBob.first?.outbound, file: file, line: line)
        XCTAssertEqual(newAlice.first?.outbound, newBob.first?.inbound, file: file, line: line)
        XCTAssertNotEqual(newAlice.first?.inbound.encryptionKey, oldAlice.inbound.encryptionKey, "fresh keys", file: file, line: line)
        XCTAssertEqual(newAlice.first?.reqid, oldAlice.reqid, "same policies", file: file, line: line)
        // The old CHILD_SA is gone on both sides, the new one remains.
        let deletedAlice = c.initiatorActions.compactMap { if case .delete(let d) = $0 { return d }; return nil }
        let deletedBob = c.responderActions.compactMap { if case .delete(let d) = $0 { return d }; return nil }
        XCTAssertEqual(deletedAlice.map(\.reference), [oldAlice.reference], file: file, line: line)
        XCTAssertEqual(deletedBob.map(\.reference), [oldBob.reference], file: file, line: line)
        // The rekey's responder sends on the old SA until the initiator deleted it: its new
        // outbound SA is installed only then, before the old one goes.
        let responderActions = byResponder ? c.initiatorActions : c.responderActions
        let responderInstall = C.installs(responderActions).first
        XCTAssertEqual(responderInstall?.outboundDeferred, true, file: file, line: line)
        let activation = responderActions.firstIndex { if case .activateOutbound(let a) = $0 { return a.reference == responderInstall?.reference }; return false }
        let oldDeletion = responderActions.firstIndex { if case .delete = $0 { return true }; return false }
        XCTAssertNotNil(activation, file: file, line: line)
        XCTAssertLessThan(activation ?? .max, oldDeletion ?? .min, file: file, line: line)
        XCTAssertEqual(C.installs(byResponder ? c.responderActions : c.initiatorActions).first?.outboundDeferred, false,
                       "the initiator installs both at once", file: file, line: line)
        XCTAssertEqual(c.initiator.childSAs.map(\.reference), newAlice.map(\.reference), file: file, line: line)
        XCTAssertEqual(c.responder!.childSAs.map(\.reference), newBob.map(\.reference), file: file, line: line)
    }

    func testRekeyWithoutPFSFromEitherSide() throws {
        try assertRekey(esp: "aes256gcm16", byResponder: false)
        try assertRekey(esp: "aes256gcm16", byResponder: true)
    }

    func testRekeyWithPFSFromEitherSide() throws {
        try assertRekey(esp: "aes256gcm16-ecp256", byResponder: false)
        try assertRekey(esp: "aes128-sha256-x25519", byResponder: true)
    }

    /// RFC 7296 2.8.1: "If the two ends try to rekey the same CHILD_SA at the same time ...
    /// The SA that was created with the lowest of the four nonces used in the two
    /// CREATE_CHILD_SA exchanges ... should be deleted by the endpoint that created it."
    func testSimultaneousRekeyLeavesExactlyOneNewCHILDSA() throws {
        for esp in ["aes256gcm16", "aes128-sha256-ecp256", "chacha20poly1305", "aes256gcm16-x25519"] {
            var c = try established(esp: esp)
            let oldAlice = c.initiator.childSAs[0], oldBob = c.responder!.childSAs[0]
            // --> and <-- cross on the wire.
            c.record(c.initiator.rekeyChildSA(inboundSPI: oldAlice.inbound.spi, now: 10), fromInitiator: true)
            c.record(c.responder!.rekeyChildSA(inboundSPI: oldBob.inbound.spi, now: 10), fromInitiator: false)
            XCTAssertEqual(c.toResponder.count, 1)
            XCTAssertEqual(c.toInitiator.count, 1)
            try c.run()
            XCTAssertEqual(c.initiator.childSAs.count, 1, esp)
            XCTAssertEqual(c.responder!.childSAs.count, 1, esp)
            guard let alice = c.initiator.childSAs.first, let bob = c.responder!.childSAs.first else { continue }
            XCTAssertEqual(alice.inbound, bob.outbound, esp)
            XCTAssertEqual(alice.outbound, bob.inbound, esp)
            XCTAssertNotEqual(alice.reference, oldAlice.reference, esp)
            // Each side installed two new CHILD_SAs and deleted two (the old one and the loser).
            XCTAssertEqual(C.installs(c.initiatorActions).count, 2, esp)
            XCTAssertEqual(c.initiatorActions.filter { if case .delete = $0 { return true }; return false }.count, 2, esp)
            XCTAssertEqual(c.responderActions.filter { if case .delete = $0 { return true }; return false }.count, 2, esp)
            XCTAssertEqual(c.initiator.phase, .established)
        }
    }

    func testNonceOrder() {
        XCTAssertTrue(IKESA.nonceIsLower([0, 1], [0, 2]))
        XCTAssertTrue(IKESA.nonceIsLower([0, 1], [0, 1, 0]))
        XCTAssertFalse(IKESA.nonceIsLower([9], [1, 9]))
    }
}
