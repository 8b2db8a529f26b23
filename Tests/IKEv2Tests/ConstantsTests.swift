// Wire numbers: the RFC values, readable names, and unknown values kept as they are.

import NIOCore
import XCTest
@testable import IKEv2

final class ConstantsTests: XCTestCase {
    func testRFCValues() {
        XCTAssertEqual([ExchangeType.ikeSAInit, .ikeAuth, .createChildSA, .informational].map(\.rawValue), [34, 35, 36, 37])
        XCTAssertEqual([ProtocolID.ike, .ah, .esp].map(\.rawValue), [1, 2, 3])
        XCTAssertEqual([PayloadType.securityAssociation, .keyExchange, .identificationInitiator, .identificationResponder,
                        .certificate, .certificateRequest, .authentication, .nonce, .notify, .delete, .vendorID,
                        .trafficSelectorInitiator, .trafficSelectorResponder, .encrypted, .configuration,
                        .extensibleAuthentication].map(\.rawValue), Array(33...48))
        XCTAssertEqual([NotifyMessageType.unsupportedCriticalPayload, .invalidMajorVersion, .invalidSyntax, .noProposalChosen,
                        .invalidKEPayload, .authenticationFailed, .tsUnacceptable, .temporaryFailure, .childSANotFound].map(\.rawValue),
                       [1, 5, 7, 14, 17, 24, 38, 43, 44])
        XCTAssertEqual([NotifyMessageType.natDetectionSourceIP, .natDetectionDestinationIP, .cookie, .useTransportMode, .rekeySA,
                        .espTFCPaddingNotSupported, .nonFirstFragmentsAlso, .ikev2FragmentationSupported,
                        .signatureHashAlgorithms].map(\.rawValue),
                       [16388, 16389, 16390, 16391, 16393, 16394, 16395, 16430, 16431])
        XCTAssertEqual([TrafficSelectorType.ipv4AddressRange, .ipv6AddressRange].map(\.rawValue), [7, 8])
        XCTAssertEqual(AuthenticationMethod.sharedKeyMessageIntegrityCode.rawValue, 2)
        XCTAssertEqual([IdentificationType.ipv4Address, .fqdn, .rfc822Address, .ipv6Address, .keyID].map(\.rawValue), [1, 2, 3, 5, 11])
    }

    func testNamesAndUnknownValues() {
        XCTAssertEqual(NotifyMessageType.tsUnacceptable.description, "TS_UNACCEPTABLE")
        XCTAssertEqual(NotifyMessageType(rawValue: 40000).description, "NOTIFY_40000")
        XCTAssertTrue(NotifyMessageType.invalidSyntax.isError)
        XCTAssertFalse(NotifyMessageType.cookie.isError)
        XCTAssertTrue(NotifyMessageType(rawValue: 16383).isError)
        XCTAssertEqual(ExchangeType(rawValue: 99).description, "EXCHANGE_99")
        XCTAssertEqual(PayloadType.encryptedFragment.description, "SKF")
        XCTAssertEqual(ProtocolID(rawValue: 9).description, "PROTOCOL_9")
    }

    func testUnknownValuesRoundTripThroughTheWire() throws {
        let message = IKEMessage(
            header: IKEHeader(initiatorSPI: 1, responderSPI: 2, exchangeType: ExchangeType(rawValue: 240),
                              flags: IKEHeaderFlags(rawValue: 0xFF), messageID: 0xFFFF_FFFF),
            payloads: [
                .notify(NotifyPayload(protocolID: ProtocolID(rawValue: 77), messageType: NotifyMessageType(rawValue: 55555),
                                      spi: [1, 2], notificationData: [3])),
                .identificationInitiator(IdentificationPayload(idType: IdentificationType(rawValue: 250), identificationData: [1],
                                                               reserved: [9, 8, 7])),
                .authentication(AuthenticationMethod(rawValue: 200).payload),
                .keyExchange(KeyExchangePayload(group: KeyExchangeMethod(rawValue: 4242), keyExchangeData: [1])),
            ])
        let parsed = try IKEMessage(datagram: message.bytes)
        XCTAssertEqual(parsed, message)
        XCTAssertEqual(parsed.header.exchangeType.rawValue, 240)
        XCTAssertEqual(parsed.header.flags.rawValue, 0xFF)
    }
}

extension AuthenticationMethod {
    fileprivate var payload: AuthenticationPayload { AuthenticationPayload(method: self, authenticationData: [1]) }
}
