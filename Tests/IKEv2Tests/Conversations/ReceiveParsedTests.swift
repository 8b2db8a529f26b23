import IKECrypto
import IKEv2
import VipsecTestSupport
import NIOCore
import XCTest

/// `IKESA.receive(parsed:local:remote:now:)`: the gateway hands a new responder the
/// IKE_SA_INIT it parsed already instead of the datagram. It must act as `receive(datagram)`.
final class ReceiveParsedTests: XCTestCase {
    let provider = OpenSSLCryptoProvider()
    typealias T = IKEConversation

    /// The initiator's first IKE_SA_INIT datagram and a fresh responder for it.
    func initRequestAndResponder() throws -> ([UInt8], IKESA) {
        var initiator = try IKESA.initiator(configuration: try T.configuration("alice"), provider: provider, local: T.alice, remote: T.bob)
        guard case .send(let bytes)? = initiator.start(now: 0).first(where: { if case .send = $0 { return true } else { return false } }) else {
            throw XCTSkip("the initiator sent nothing")
        }
        let spi = bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let responder = try IKESA.responder(configuration: try T.configuration("bob"), provider: provider,
                                            local: T.bob, remote: T.alice, initiatorSPI: spi)
        return (bytes, responder)
    }

    /// The payload types of the first message each action list sends.
    func sentPayloadTypes(_ actions: [IKEAction]) throws -> [PayloadType] {
        for case .send(let bytes) in actions { return try IKEMessage(datagram: ByteBuffer(bytes: bytes)).payloads.map(\.type) }
        return []
    }

    func testParsedInitRequestGetsTheSameAnswerAsTheDatagram() throws {
        let (bytes, responder) = try initRequestAndResponder()
        var viaDatagram = responder, viaParsed = responder
        let fromDatagram = viaDatagram.receive(bytes, local: T.bob, remote: T.alice, now: 0)
        let fromParsed = viaParsed.receive(parsed: try IKEMessage(datagram: ByteBuffer(bytes: bytes)), local: T.bob, remote: T.alice, now: 0)
        let expected = try sentPayloadTypes(fromDatagram)
        XCTAssertTrue(expected.contains(.keyExchange), "an IKE_SA_INIT response: \(expected)")
        XCTAssertEqual(try sentPayloadTypes(fromParsed), expected)
        XCTAssertEqual(viaParsed.phase, viaDatagram.phase)
        XCTAssertEqual(viaParsed.counters, viaDatagram.counters)
        XCTAssertEqual(viaParsed.remote, T.alice)
    }

    func testParsedMessageForAnotherIKESAIsCountedAndDropped() throws {
        let (bytes, responder) = try initRequestAndResponder()
        var other = bytes
        other[0] ^= 0xff   // another initiator SPI
        var sa = responder
        let actions = sa.receive(parsed: try IKEMessage(datagram: ByteBuffer(bytes: other)), local: T.bob, remote: T.alice, now: 0)
        XCTAssertTrue(actions.isEmpty)
        XCTAssertEqual(sa.counters.unexpected, 1)
        XCTAssertEqual(sa.phase, responder.phase)
    }
}
