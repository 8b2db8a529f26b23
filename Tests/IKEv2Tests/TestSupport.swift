// Shared helpers for the IKEv2 codec tests: fixture loading, hand-built raw messages,
// a seeded random generator.

import Foundation
import NIOCore
import VipsecTestSupport
import XCTest
@testable import IKEv2

enum TestFiles {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    static func fixture(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent("Fixtures").appendingPathComponent(name)))
    }

    /// Every file of a folder under the test directory, sorted by name.
    static func files(in folder: String, suffix: String = ".bin") throws -> [(name: String, bytes: [UInt8])] {
        let url = directory.appendingPathComponent(folder)
        let names = try FileManager.default.contentsOfDirectory(atPath: url.path).filter { $0.hasSuffix(suffix) }.sorted()
        return try names.map { ($0, [UInt8](try Data(contentsOf: url.appendingPathComponent($0)))) }
    }
}

extension Array where Element == UInt8 {
    init(hex: String) { self = hexBytes(hex) }
}

/// Raw message building for malformed-input tests: the IKE header and payloads written
/// octet by octet, lengths given explicitly (or computed when nil).
enum Raw {
    static func header(next: UInt8, version: UInt8 = 0x20, exchange: UInt8 = 34, flags: UInt8 = 0x08,
                       messageID: UInt32 = 0, length: UInt32) -> [UInt8] {
        var bytes: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0]
        bytes += [next, version, exchange, flags]
        bytes += withUnsafeBytes(of: messageID.bigEndian, Array.init)
        bytes += withUnsafeBytes(of: length.bigEndian, Array.init)
        return bytes
    }

    static func payload(next: UInt8, critical: Bool = false, length: Int? = nil, body: [UInt8]) -> [UInt8] {
        let total = length ?? body.count + 4
        return [next, critical ? 0x80 : 0, UInt8(truncatingIfNeeded: total >> 8), UInt8(truncatingIfNeeded: total)] + body
    }

    /// A whole message whose first and only payload is `type` with `body`.
    static func message(type: UInt8, body: [UInt8], critical: Bool = false) -> [UInt8] {
        let payload = payload(next: 0, critical: critical, body: body)
        return header(next: type, length: UInt32(28 + payload.count)) + payload
    }

    /// A whole message with the given payload octets (already chained) after the header.
    static func message(first: UInt8, payloads: [UInt8]) -> [UInt8] {
        header(next: first, length: UInt32(28 + payloads.count)) + payloads
    }
}

/// Parses octets as one datagram.
func parse(_ bytes: [UInt8]) throws -> IKEMessage {
    try IKEMessage(datagram: ByteBuffer(bytes: bytes))
}

/// Asserts that parsing fails with exactly `expected`.
func XCTAssertParseError(_ bytes: [UInt8], _ expected: IKEParseError, file: StaticString = #filePath, line: UInt = #line) {
    do {
        let message = try parse(bytes)
        XCTFail("parsed, expected \(expected): \(message)", file: file, line: line)
    } catch let error as IKEParseError {
        XCTAssertEqual(error, expected, file: file, line: line)
    } catch {
        XCTFail("untyped error \(error)", file: file, line: line)
    }
}

/// Asserts that parsing fails with some IKEParseError mapping to INVALID_SYNTAX.
func XCTAssertInvalidSyntax(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
    do {
        let message = try parse(bytes)
        XCTFail("parsed, expected INVALID_SYNTAX: \(message)", file: file, line: line)
    } catch let error as IKEParseError {
        XCTAssertEqual(error.notifyMessageType, .invalidSyntax, "\(error)", file: file, line: line)
    } catch {
        XCTFail("untyped error \(error)", file: file, line: line)
    }
}

/// A message of every payload kind, for round trips and as a fuzz seed.
enum Samples {
    static let saInitProposal = Proposal(number: 1, protocolID: .ike, transforms: [
        Transform(.aesGCM16, keyLength: 256), Transform(PseudorandomFunctionID.hmacSHA2_256),
        Transform(KeyExchangeMethod.curve25519),
    ])

    static var ikeSAInitRequest: IKEMessage {
        IKEMessage(header: IKEHeader(initiatorSPI: 0x0102_0304_0506_0708, responderSPI: 0, exchangeType: .ikeSAInit,
                                     flags: .initiator, messageID: 0), payloads: [
            .securityAssociation(SecurityAssociationPayload(proposals: [saInitProposal])),
            .keyExchange(KeyExchangePayload(group: .curve25519, keyExchangeData: Array(repeating: 0x42, count: 32))),
            .nonce(NoncePayload(nonceData: Array(0..<32))),
            .notify(NotifyPayload(messageType: .natDetectionSourceIP, notificationData: Array(repeating: 1, count: 20))),
            .notify(NotifyPayload(messageType: .ikev2FragmentationSupported)),
        ])
    }

    static let tsi = TrafficSelectorPayload(trafficSelectors: [
        .ipv4([10, 0, 0, 1], [10, 0, 0, 1]),
        .ipv6([0xfd] + Array(repeating: 0, count: 15), [0xfd] + Array(repeating: 0xff, count: 15), ipProtocolID: 6,
              ports: 443...443),
    ])

    /// Every payload type, in one (semantically silly) plaintext chain.
    static var everyPayload: [IKEPayload] {
        [
            .identificationInitiator(IdentificationPayload(idType: .fqdn, identificationData: Array("a.vipsec.test".utf8))),
            .identificationResponder(IdentificationPayload(idType: .ipv4Address, identificationData: [192, 0, 2, 1])),
            .certificate(CertificatePayload(encoding: 4, data: [0x30, 0x82, 0x01])),
            .certificateRequest(CertificatePayload(encoding: 4, data: [])),
            .authentication(AuthenticationPayload(method: .sharedKeyMessageIntegrityCode, authenticationData: Array(repeating: 7, count: 32))),
            .securityAssociation(SecurityAssociationPayload(proposals: [
                Proposal(number: 1, protocolID: .esp, spi: [0xc0, 0, 0, 1], transforms: [
                    Transform(.aesCBC, keyLength: 128), Transform(.hmacSHA2_256_128), Transform(KeyExchangeMethod.modp2048),
                    Transform(ExtendedSequenceNumbers.no), Transform(ExtendedSequenceNumbers.yes),
                ]),
                Proposal(number: 2, protocolID: .esp, spi: [0xc0, 0, 0, 1], transforms: [
                    Transform(type: .encryptionAlgorithm, id: 999, attributes: [
                        TransformAttribute(type: TransformAttributeType(rawValue: 77), value: .variable([1, 2, 3])),
                    ]),
                    Transform(ExtendedSequenceNumbers.no),
                ]),
            ])),
            .trafficSelectorInitiator(tsi),
            .trafficSelectorResponder(TrafficSelectorPayload(trafficSelectors: [
                TrafficSelector(type: TrafficSelectorType(rawValue: 99), ipProtocolID: 17, startPort: 1, endPort: 2,
                                startAddress: [9, 9, 9], endAddress: []),
            ])),
            .notify(NotifyPayload(protocolID: .esp, messageType: .rekeySA, spi: [0xc0, 0, 0, 2])),
            .notify(NotifyPayload(messageType: .useTransportMode)),
            .delete(DeletePayload(protocolID: .esp, spis32: [0xc000_0001, 0xc000_0002])),
            .delete(.ikeSA),
            .vendorID(VendorIDPayload(vendorID: Array("vipsec".utf8))),
            .configuration(ConfigurationPayload(configurationType: .request, attributes: [
                ConfigurationAttribute(type: 1, value: []), ConfigurationAttribute(type: 3, value: [8, 8, 8, 8]),
            ])),
            .keyExchange(KeyExchangePayload(group: .ecp256, keyExchangeData: Array(repeating: 3, count: 64))),
            .nonce(NoncePayload(nonceData: Array(repeating: 9, count: 16))),
            .extensibleAuthentication([1, 2, 0, 4]),
            .unknown(UnknownPayload(type: PayloadType(rawValue: 200), isCritical: false, body: [5, 5])),
        ]
    }
}
