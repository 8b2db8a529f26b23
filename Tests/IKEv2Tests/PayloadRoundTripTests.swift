// Every payload written and read back: the value must survive, and the octets written for
// the parsed value must be the octets read.

import NIOCore
import XCTest
@testable import IKEv2

final class PayloadRoundTripTests: XCTestCase {
    private func header(_ exchange: ExchangeType = .informational) -> IKEHeader {
        IKEHeader(initiatorSPI: 0x1111_2222_3333_4444, responderSPI: 0x5555_6666_7777_8888, exchangeType: exchange,
                  flags: [.initiator], messageID: 7)
    }

    func testEveryPayloadAloneRoundTrips() throws {
        for payload in Samples.everyPayload {
            let message = IKEMessage(header: header(), payloads: [payload])
            let bytes = message.bytes
            let parsed = try IKEMessage(datagram: bytes)
            XCTAssertEqual(parsed, message, "\(payload)")
            XCTAssertEqual(parsed.bytes, bytes, "\(payload)")
            XCTAssertEqual(parsed.header.nextPayload, payload.type)
            XCTAssertEqual(Int(parsed.header.length), bytes.readableBytes)
        }
    }

    func testAllPayloadsInOneChainRoundTrip() throws {
        let message = IKEMessage(header: header(.createChildSA), payloads: Samples.everyPayload)
        let parsed = try IKEMessage(datagram: message.bytes)
        XCTAssertEqual(parsed.payloads.count, Samples.everyPayload.count)
        XCTAssertEqual(parsed, message)
        XCTAssertEqual(parsed.payloads.map(\.type), Samples.everyPayload.map(\.type))
    }

    func testIKESAInitRequestRoundTrips() throws {
        let message = Samples.ikeSAInitRequest
        let parsed = try IKEMessage(datagram: message.bytes)
        XCTAssertEqual(parsed, message)
        XCTAssertEqual(parsed.header.initiatorSPI, 0x0102_0304_0506_0708)
        XCTAssertTrue(parsed.header.isFromInitiator)
        XCTAssertFalse(parsed.header.isResponse)
        XCTAssertEqual(parsed.notify(.ikev2FragmentationSupported)?.notificationData, [])
        XCTAssertNil(parsed.notify(.cookie))
    }

    func testEncryptedPayloadRoundTripsAndIsLast() throws {
        let sk = EncryptedPayload(firstInnerPayload: .identificationInitiator, body: ByteBuffer(bytes: Array(0..<50)))
        let message = IKEMessage(header: header(.ikeAuth), payloads: [
            .notify(NotifyPayload(messageType: .initialContact)), .encrypted(sk),
        ])
        let parsed = try IKEMessage(datagram: message.bytes)
        XCTAssertEqual(parsed, message)
        XCTAssertEqual(parsed.encryptedPayload?.firstInnerPayload, .identificationInitiator)
        XCTAssertEqual(parsed.encryptedBodyOffset, 28 + 8 + 4)
    }

    func testEncryptedFragmentRoundTrips() throws {
        let skf = EncryptedFragmentPayload(firstInnerPayload: .noNextPayload, fragmentNumber: 2, totalFragments: 3,
                                           body: ByteBuffer(bytes: [1, 2, 3, 4]))
        let message = IKEMessage(header: header(.ikeAuth), payloads: [.encryptedFragment(skf)])
        let parsed = try IKEMessage(datagram: message.bytes)
        XCTAssertEqual(parsed, message)
        // Associated data of SKF runs through Fragment Number and Total Fragments.
        XCTAssertEqual(parsed.encryptedBodyOffset, 28 + 4 + 4)
    }

    func testTransformAttributesBothFormatsRoundTrip() throws {
        var buffer = ByteBuffer()
        let attributes = [TransformAttribute.keyLength(256),
                          TransformAttribute(type: TransformAttributeType(rawValue: 0x7FFF), value: .variable([])),
                          TransformAttribute(type: TransformAttributeType(rawValue: 3), value: .variable([1, 2, 3, 4, 5]))]
        for attribute in attributes { attribute.write(to: &buffer) }
        XCTAssertEqual(buffer.getBytes(at: 0, length: 4), [0x80, 14, 0x01, 0x00], "Key Length is TV with AF set")
        for attribute in attributes { XCTAssertEqual(try TransformAttribute(parsing: &buffer), attribute) }
        XCTAssertEqual(buffer.readableBytes, 0)
    }

    func testTransformKeyLengthAccessor() {
        XCTAssertEqual(Transform(.aesCBC, keyLength: 192).keyLength, 192)
        XCTAssertNil(Transform(.chacha20Poly1305).keyLength)
        XCTAssertEqual(Transform(.aesGCM16, keyLength: 128).description, "ENCR_AES_GCM_16_128")
    }

    func testDeleteSPIsAsNumbers() throws {
        let delete = DeletePayload(protocolID: .esp, spis32: [0xdead_beef, 1])
        XCTAssertEqual(delete.spis, [[0xde, 0xad, 0xbe, 0xef], [0, 0, 0, 1]])
        XCTAssertEqual(delete.spis32, [0xdead_beef, 1])
        XCTAssertEqual(DeletePayload.ikeSA.spis32, [])
    }

    func testIdentificationBodyBytesForAUTH() {
        let id = IdentificationPayload(idType: .fqdn, identificationData: Array("gw".utf8))
        XCTAssertEqual(id.bodyBytes, [2, 0, 0, 0, 0x67, 0x77])
    }

    func testInnerChainWriteAndParse() throws {
        var buffer = ByteBuffer()
        let first = IKEMessage.writeInnerPayloads(Samples.everyPayload, to: &buffer)
        XCTAssertEqual(first, .identificationInitiator)
        let parsed = try IKEMessage.parseInnerPayloads(firstPayload: first, from: &buffer)
        XCTAssertEqual(parsed, Samples.everyPayload)
    }

    func testDescriptionsNeverShowSecretBytes() {
        let auth = AuthenticationPayload(method: .sharedKeyMessageIntegrityCode, authenticationData: [0xAB, 0xCD, 0xEF, 0x12])
        XCTAssertFalse(auth.description.lowercased().contains("ab"))
        XCTAssertEqual(auth.description, "AUTH(PSK, 4 octets)")
        let message = IKEMessage(header: header(), payloads: [.authentication(auth)])
        XCTAssertEqual(message.description, "INFORMATIONAL request #7 [AUTH(PSK, 4 octets)]")
    }
}

final class EncryptedFramingTests: XCTestCase {
    private let header = IKEHeader(initiatorSPI: 0xAAAA_BBBB_CCCC_DDDD, responderSPI: 0x1111_2222_3333_4444,
                                   exchangeType: .ikeAuth, flags: .initiator, messageID: 1)

    func testPrefixIsTheAssociatedDataOfTheFinishedMessage() throws {
        let body: [UInt8] = Array(repeating: 0xEE, count: 8 + 40 + 16) // IV, ciphertext, ICV
        let prefix = IKEMessage.encryptedMessagePrefix(header: header, firstInnerPayload: .identificationInitiator,
                                                       encryptedBodyLength: body.count)
        XCTAssertEqual(prefix.readableBytes, 28 + 4)
        var datagram = prefix
        datagram.writeBytes(body)
        let message = try IKEMessage(datagram: datagram)
        XCTAssertEqual(Int(message.header.length), 28 + 4 + body.count)
        XCTAssertEqual(message.header.nextPayload, .encrypted)
        XCTAssertEqual(message.encryptedPayload?.firstInnerPayload, .identificationInitiator)
        XCTAssertEqual(message.encryptedPayload.map { Array(buffer: $0.body) }, body)
        XCTAssertEqual(message.encryptedAssociatedData, prefix)
    }

    func testPrefixWithPayloadsBeforeSK() throws {
        let before: [IKEPayload] = [.notify(NotifyPayload(messageType: .cookie, notificationData: [1, 2, 3, 4]))]
        let prefix = IKEMessage.encryptedMessagePrefix(header: header, payloadsBefore: before,
                                                       firstInnerPayload: .delete, encryptedBodyLength: 20)
        var datagram = prefix
        datagram.writeBytes(Array(repeating: 0, count: 20))
        let message = try IKEMessage(datagram: datagram)
        XCTAssertEqual(message.payloads.map(\.type), [.notify, .encrypted])
        XCTAssertEqual(message.encryptedAssociatedData, prefix)
        XCTAssertEqual(message.encryptedBodyOffset, 28 + 12 + 4)
    }

    func testLocallyBuiltMessageHasNoAssociatedData() {
        let message = IKEMessage(header: header, payloads: [.encrypted(EncryptedPayload(firstInnerPayload: .nonce, body: ByteBuffer()))])
        XCTAssertNil(message.encryptedAssociatedData)
    }

    func testPayloadLookupsOverAChain() {
        let chain = Samples.everyPayload
        XCTAssertEqual(chain.identificationInitiator?.idType, .fqdn)
        XCTAssertEqual(chain.identificationResponder?.idType, .ipv4Address)
        XCTAssertEqual(chain.securityAssociation?.proposals.count, 2)
        XCTAssertEqual(chain.keyExchange?.group, .ecp256)
        XCTAssertEqual(chain.nonce?.nonceData.count, 16)
        XCTAssertEqual(chain.authentication?.method, .sharedKeyMessageIntegrityCode)
        XCTAssertEqual(chain.trafficSelectorInitiator, Samples.tsi)
        XCTAssertEqual(chain.trafficSelectorResponder?.trafficSelectors.count, 1)
        XCTAssertEqual(chain.notifies.map(\.messageType), [.rekeySA, .useTransportMode])
        XCTAssertEqual(chain.notify(.rekeySA)?.spi, [0xc0, 0, 0, 2])
        XCTAssertEqual(chain.deletes.count, 2)
        XCTAssertNil(chain.firstErrorNotify)
        XCTAssertEqual(([IKEPayload.notify(NotifyPayload(messageType: .tsUnacceptable))] + chain).firstErrorNotify?.messageType, .tsUnacceptable)
        XCTAssertNil([IKEPayload]().nonce)
    }
}
