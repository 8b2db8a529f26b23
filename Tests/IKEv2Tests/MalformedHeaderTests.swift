// Malformed framing: the IKE header, the generic payload header, the payload chain, the
// critical bit and the count limits. Each must give a typed error and the right notify.

import NIOCore
import XCTest
@testable import IKEv2

final class MalformedHeaderTests: XCTestCase {
    private let nonce = Array(repeating: UInt8(1), count: 16)

    func testEmptyAndShortHeaders() {
        for length in [0, 1, 27] {
            XCTAssertParseError(Array(repeating: 0, count: length), .truncated("IKE header"))
        }
    }

    func testWrongMajorVersionIsInvalidMajorVersion() {
        for (version, major) in [(UInt8(0x10), UInt8(1)), (0x30, 3), (0x00, 0), (0xF2, 15)] {
            let bytes = Raw.header(next: 0, version: version, length: 28)
            XCTAssertParseError(bytes, .invalidMajorVersion(major))
            XCTAssertEqual(IKEParseError.invalidMajorVersion(major).notifyMessageType, .invalidMajorVersion)
        }
        // Minor version is not checked (RFC 7296 2.5).
        XCTAssertNoThrow(try parse(Raw.header(next: 0, version: 0x21, length: 28)))
    }

    func testHeaderLengthBelowHeaderSize() {
        XCTAssertParseError(Raw.header(next: 0, length: 27), .invalidLength("IKE message", 27))
        XCTAssertParseError(Raw.header(next: 0, length: 0), .invalidLength("IKE message", 0))
    }

    func testHeaderLengthBeyondDatagram() {
        let bytes = Raw.message(type: 40, body: nonce)
        var short = bytes
        short.removeLast()
        XCTAssertParseError(short, .truncated("IKE message (header says \(bytes.count) octets)"))
    }

    func testHeaderLengthShorterThanDatagramLeavesTrailingData() {
        XCTAssertParseError(Raw.message(type: 40, body: nonce) + [0], .trailingData("IKE message", 1))
    }

    func testHugeHeaderLengthRejectedBeforeReading() {
        XCTAssertParseError(Raw.header(next: 0, length: 0xFFFF_FFFF), .invalidLength("IKE message", 0xFFFF_FFFF))
        XCTAssertParseError(Raw.header(next: 0, length: 65_536), .invalidLength("IKE message", 65_536))
    }

    func testParsingFromLongerBufferLeavesTheRest() throws {
        var buffer = ByteBuffer(bytes: Raw.message(type: 40, body: nonce) + [0xAA, 0xBB])
        let message = try IKEMessage(parsing: &buffer)
        XCTAssertEqual(message.payloads.count, 1)
        XCTAssertEqual(buffer.readableBytes, 2)
    }

    func testFailedParseDoesNotConsume() {
        var buffer = ByteBuffer(bytes: Raw.message(type: 40, body: [1]))
        XCTAssertThrowsError(try IKEMessage(parsing: &buffer))
        XCTAssertEqual(buffer.readerIndex, 0)
    }

    func testGenericPayloadLengthTooSmall() {
        for length in [0, 3] {
            let bytes = Raw.message(first: 40, payloads: Raw.payload(next: 0, length: length, body: nonce))
            XCTAssertParseError(bytes, .invalidLength("payload", length))
        }
    }

    func testGenericPayloadLengthTooBig() {
        let bytes = Raw.message(first: 40, payloads: Raw.payload(next: 0, length: 4 + 17, body: nonce))
        XCTAssertParseError(bytes, .truncated("No payload"))
    }

    func testGenericHeaderCutShort() {
        XCTAssertParseError(Raw.message(first: 40, payloads: [0, 0]), .truncated("generic payload header"))
    }

    func testChainEndingEarlyLeavesTrailingData() {
        let bytes = Raw.message(first: 40, payloads: Raw.payload(next: 0, body: nonce) + [0, 0, 0, 4])
        XCTAssertParseError(bytes, .trailingData("payload chain", 4))
    }

    func testChainNamingMorePayloadsThanPresent() {
        let bytes = Raw.message(first: 40, payloads: Raw.payload(next: 43, body: nonce))
        XCTAssertParseError(bytes, .truncated("generic payload header"))
    }

    func testUnknownCriticalPayloadIsUnsupportedCriticalPayload() {
        let bytes = Raw.message(first: 40, payloads: Raw.payload(next: 201, body: nonce)
                                    + Raw.payload(next: 0, critical: true, body: [1, 2, 3]))
        XCTAssertParseError(bytes, .unsupportedCriticalPayload(PayloadType(rawValue: 201)))
        let error = IKEParseError.unsupportedCriticalPayload(PayloadType(rawValue: 201))
        XCTAssertEqual(error.notifyMessageType, .unsupportedCriticalPayload)
        XCTAssertEqual(error.notificationData, [201])
    }

    func testUnknownNonCriticalPayloadIsKeptAndSkipped() throws {
        let bytes = Raw.message(first: 201, payloads: Raw.payload(next: 40, body: [1, 2, 3]) + Raw.payload(next: 0, body: nonce))
        let message = try parse(bytes)
        XCTAssertEqual(message.payloads, [
            .unknown(UnknownPayload(type: PayloadType(rawValue: 201), isCritical: false, body: [1, 2, 3])),
            .nonce(NoncePayload(nonceData: nonce)),
        ])
        XCTAssertEqual(Array(buffer: message.bytes), bytes)
    }

    func testCriticalBitOnKnownPayloadIsIgnored() throws {
        let message = try parse(Raw.message(type: 40, body: nonce, critical: true))
        XCTAssertEqual(message.payloads, [.nonce(NoncePayload(nonceData: nonce))])
    }

    func testPayloadAfterEncrypted() {
        let bytes = Raw.message(first: 46, payloads: Raw.payload(next: 35, body: [1, 2, 3]) + Raw.payload(next: 0, body: nonce))
        XCTAssertParseError(bytes, .payloadAfterEncrypted)
    }

    func testEncryptedInsideEncryptedIsInvalid() {
        var buffer = ByteBuffer(bytes: Raw.payload(next: 0, body: [1, 2, 3]))
        XCTAssertThrowsError(try IKEMessage.parseInnerPayloads(firstPayload: .encrypted, from: &buffer)) { error in
            XCTAssertEqual((error as? IKEParseError)?.notifyMessageType, .invalidSyntax)
        }
    }

    func testTooManyPayloads() {
        var chain: [UInt8] = []
        for index in 0..<(IKELimits.maxPayloadsPerChain + 1) {
            chain += Raw.payload(next: index == IKELimits.maxPayloadsPerChain ? 0 : 43, body: [0x56])
        }
        XCTAssertParseError(Raw.message(first: 43, payloads: chain), .tooMany("payloads", limit: IKELimits.maxPayloadsPerChain))
        // One fewer is fine.
        var fine: [UInt8] = []
        for index in 0..<IKELimits.maxPayloadsPerChain {
            fine += Raw.payload(next: index == IKELimits.maxPayloadsPerChain - 1 ? 0 : 43, body: [0x56])
        }
        XCTAssertEqual(try parse(Raw.message(first: 43, payloads: fine)).payloads.count, IKELimits.maxPayloadsPerChain)
    }

    func testInnerChainWithTrailingPaddingIsRejected() {
        var buffer = ByteBuffer(bytes: Raw.payload(next: 0, body: nonce) + [0, 0])
        XCTAssertThrowsError(try IKEMessage.parseInnerPayloads(firstPayload: .nonce, from: &buffer)) { error in
            XCTAssertEqual(error as? IKEParseError, .trailingData("payload chain", 2))
        }
    }

    func testErrorDescriptionsNameTheProblem() {
        XCTAssertEqual(IKEParseError.truncated("SA payload").description, "truncated SA payload")
        XCTAssertEqual(IKEParseError.unsupportedCriticalPayload(PayloadType(rawValue: 99)).description,
                       "unsupported critical payload PAYLOAD_99")
        XCTAssertEqual(IKEParseError.tooMany("proposals", limit: 64).description, "too many proposals (limit 64)")
    }
}
