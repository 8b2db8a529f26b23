import XCTest
import IKEv2
import IKECrypto

/// CREATE_CHILD_SA: rekeying the CHILD_SA, with and without PFS, started by either side.
final class CreateChildSAConversationTests: XCTestCase {
    let provider = OpenSSLCryptoProvider()
    typealias C = IKEConversationTests

    func established(esp: String) throws -> C.Conversation {
        var c = try C.Conversation(initiator: C.configuration("alice", esp: esp),
                                   responder: C.configuration("bob", esp: esp), provider: provider)
        c.start()
        try c.run()
        XCTAssertEqual(c.initiator.phase, .established)
        c.initiatorActions = []
        c.responderActions = []
        return c
    }

    func assertRekey(esp: String, byResponder: Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        var c = try established(esp: esp)
        let oldAlice = c.initiator.childSAs[0], oldBob = c.responder!.childSAs[0]
        if byResponder {
            c.record(c.responder!.rekeyChildSA(inboundSPI: oldBob.inbound.spi, now: 10), fromInitiator: false)
        } else {
            c.record(c.initiator.rekeyChildSA(inboundSPI: oldAlice.inbound.spi, now: 10), fromInitiator: true)
        }
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
}
