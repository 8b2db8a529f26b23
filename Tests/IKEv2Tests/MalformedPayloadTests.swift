// Malformed bodies of every payload type: truncated, length fields too big or too small,
// zero-length, bad counts, too many items. All are typed INVALID_SYNTAX errors.

import NIOCore
import XCTest
@testable import IKEv2

final class MalformedPayloadTests: XCTestCase {
    // MARK: Raw SA building blocks

    private func transform(last: UInt8 = 0, length: Int? = nil, type: UInt8 = 1, id: UInt16 = 20,
                           attributes: [UInt8] = []) -> [UInt8] {
        let total = length ?? 8 + attributes.count
        return [last, 0, UInt8(total >> 8), UInt8(total & 0xFF), type, 0, UInt8(id >> 8), UInt8(id & 0xFF)] + attributes
    }

    private func proposal(last: UInt8 = 0, length: Int? = nil, number: UInt8 = 1, protocolID: UInt8 = 1,
                          spi: [UInt8] = [], count: UInt8 = 1, transforms: [UInt8]? = nil) -> [UInt8] {
        let body = transforms ?? transform()
        let total = length ?? 8 + spi.count + body.count
        return [last, 0, UInt8(total >> 8), UInt8(total & 0xFF), number, protocolID, UInt8(spi.count), count] + spi + body
    }

    private let sa: UInt8 = 33

    func testValidRawSAParses() throws {
        let message = try parse(Raw.message(type: sa, body: proposal()))
        guard case .securityAssociation(let payload) = message.payloads.first else { return XCTFail() }
        XCTAssertEqual(payload.proposals, [Proposal(number: 1, protocolID: .ike, transforms: [Transform(type: .encryptionAlgorithm, id: 20)])])
    }

    func testSAEmptyBody() {
        XCTAssertParseError(Raw.message(type: sa, body: []), .truncated("proposal"))
    }

    func testSAProposalLengthTooSmallAndTooBig() {
        XCTAssertParseError(Raw.message(type: sa, body: proposal(length: 7)), .invalidLength("proposal", 7))
        XCTAssertParseError(Raw.message(type: sa, body: proposal(length: 17)), .truncated("proposal"))
        XCTAssertParseError(Raw.message(type: sa, body: proposal(length: 15)), .truncated("transform"))
    }

    func testSAProposalTruncatedAtEveryLength() {
        let full = proposal(transforms: transform(attributes: [0x80, 14, 1, 0]))
        for cut in 0..<full.count {
            XCTAssertInvalidSyntax(Raw.message(type: sa, body: Array(full[..<cut])))
        }
    }

    func testSALastSubstrucValues() {
        XCTAssertParseError(Raw.message(type: sa, body: proposal(last: 1)), .invalidValue("proposal Last Substruc", 1))
        // Says "more follow" but the payload ends.
        XCTAssertParseError(Raw.message(type: sa, body: proposal(last: 2)), .truncated("proposal"))
        // Says "last" but another proposal follows.
        XCTAssertParseError(Raw.message(type: sa, body: proposal(last: 0) + proposal(number: 2)), .trailingData("SA payload", 16))
        XCTAssertParseError(Raw.message(type: sa, body: proposal(transforms: transform(last: 2))),
                            .invalidValue("transform Last Substruc", 2))
    }

    func testSANumTransformsMismatch() {
        XCTAssertParseError(Raw.message(type: sa, body: proposal(count: 2)), .invalidValue("proposal Num Transforms", 2))
        XCTAssertParseError(Raw.message(type: sa, body: proposal(count: 0)), .invalidValue("proposal Num Transforms", 0))
        let two = transform(last: 3) + transform(type: 4, id: 31)
        XCTAssertParseError(Raw.message(type: sa, body: proposal(count: 1, transforms: two)), .invalidValue("proposal Num Transforms", 1))
        XCTAssertNoThrow(try parse(Raw.message(type: sa, body: proposal(count: 2, transforms: two))))
    }

    func testSATransformLengthTooSmall() {
        XCTAssertParseError(Raw.message(type: sa, body: proposal(transforms: transform(length: 7))), .invalidLength("transform", 7))
    }

    func testSASPIBeyondProposal() {
        var bytes = proposal(spi: [1, 2, 3, 4])
        bytes[6] = 200 // SPI Size larger than what follows
        XCTAssertParseError(Raw.message(type: sa, body: bytes), .truncated("proposal SPI"))
    }

    func testSAAttributeLengthBeyondTransform() {
        let attribute: [UInt8] = [0x00, 0x05, 0x00, 0x10, 1, 2] // TLV claims 16 octets, has 2
        XCTAssertParseError(Raw.message(type: sa, body: proposal(transforms: transform(attributes: attribute))),
                            .truncated("transform attribute value"))
    }

    func testSATooManyAttributes() {
        let attributes = Array(repeating: [UInt8](arrayLiteral: 0x80, 14, 0, 128), count: IKELimits.maxAttributesPerTransform + 1).flatMap { $0 }
        XCTAssertParseError(Raw.message(type: sa, body: proposal(transforms: transform(attributes: attributes))),
                            .tooMany("transform attributes", limit: IKELimits.maxAttributesPerTransform))
    }

    func testSATooManyProposals() {
        var body: [UInt8] = []
        for index in 0...IKELimits.maxProposals {
            body += proposal(last: index == IKELimits.maxProposals ? 0 : 2, number: UInt8(index + 1))
        }
        XCTAssertParseError(Raw.message(type: sa, body: body), .tooMany("proposals", limit: IKELimits.maxProposals))
    }

    func testSATooManyTransforms() {
        XCTAssertParseError(Raw.message(type: sa, body: proposal(count: UInt8(IKELimits.maxTransformsPerProposal + 1))),
                            .tooMany("transforms", limit: IKELimits.maxTransformsPerProposal))
    }

    // MARK: Simple payloads

    func testKEPayload() {
        XCTAssertParseError(Raw.message(type: 34, body: [0, 31, 0]), .truncated("KE payload"))
        XCTAssertParseError(Raw.message(type: 34, body: [0, 31, 0, 0]), .invalidLength("KE data", 0))
        XCTAssertNoThrow(try parse(Raw.message(type: 34, body: [0, 31, 0, 0, 1])))
    }

    func testIDPayload() {
        XCTAssertParseError(Raw.message(type: 35, body: [2, 0, 0]), .truncated("ID payload"))
        XCTAssertParseError(Raw.message(type: 35, body: [2, 0, 0, 0]), .invalidLength("identification data", 0))
        XCTAssertParseError(Raw.message(type: 36, body: [1, 0, 0, 0, 10, 0, 0, 1, 9]), .invalidLength("ID_IPV4_ADDR", 5))
        XCTAssertParseError(Raw.message(type: 36, body: [5, 0, 0, 0] + Array(repeating: 0, count: 4)), .invalidLength("ID_IPV6_ADDR", 4))
    }

    func testAUTHPayload() {
        XCTAssertParseError(Raw.message(type: 39, body: [2]), .truncated("AUTH payload"))
        XCTAssertParseError(Raw.message(type: 39, body: [2, 0, 0, 0]), .invalidLength("authentication data", 0))
    }

    func testNonceLengthBounds() {
        XCTAssertParseError(Raw.message(type: 40, body: []), .invalidLength("nonce", 0))
        XCTAssertParseError(Raw.message(type: 40, body: Array(repeating: 1, count: 15)), .invalidLength("nonce", 15))
        XCTAssertParseError(Raw.message(type: 40, body: Array(repeating: 1, count: 257)), .invalidLength("nonce", 257))
        XCTAssertNoThrow(try parse(Raw.message(type: 40, body: Array(repeating: 1, count: 16))))
        XCTAssertNoThrow(try parse(Raw.message(type: 40, body: Array(repeating: 1, count: 256))))
    }

    func testNotifyPayload() {
        XCTAssertParseError(Raw.message(type: 41, body: [0, 0, 0x40]), .truncated("Notify payload"))
        XCTAssertParseError(Raw.message(type: 41, body: [3, 8, 0x40, 0x09, 1, 2, 3, 4]), .truncated("Notify SPI"))
        XCTAssertNoThrow(try parse(Raw.message(type: 41, body: [0, 0, 0x40, 0x06])))
    }

    func testDeletePayload() throws {
        XCTAssertParseError(Raw.message(type: 42, body: [3, 4]), .truncated("Delete payload"))
        XCTAssertParseError(Raw.message(type: 42, body: [3, 3, 0, 1, 1, 2, 3]), .invalidValue("Delete SPI size", 3))
        XCTAssertParseError(Raw.message(type: 42, body: [1, 4, 0, 1, 1, 2, 3, 4]), .invalidValue("Delete IKE SPI size", 4))
        XCTAssertParseError(Raw.message(type: 42, body: [1, 0, 0, 0, 1]), .invalidLength("Delete SPIs", 1))
        XCTAssertParseError(Raw.message(type: 42, body: [3, 4, 0, 2, 1, 2, 3, 4]), .invalidLength("Delete SPIs", 4))
        XCTAssertParseError(Raw.message(type: 42, body: [3, 4, 0, 1, 1, 2, 3, 4, 5]), .invalidLength("Delete SPIs", 5))
        XCTAssertParseError(Raw.message(type: 42, body: [3, 4, 0xFF, 0xFF]), .tooMany("Delete SPIs", limit: IKELimits.maxDeleteSPIs))
        // SPI size 0: the count carries nothing (strongSwan accepts it too); written back as 0.
        let lenient = try parse(Raw.message(type: 42, body: [1, 0, 0, 1]))
        XCTAssertEqual(lenient.payloads, [.delete(.ikeSA)])
    }

    func testVendorIDEmpty() {
        XCTAssertParseError(Raw.message(type: 43, body: []), .invalidLength("vendor ID", 0))
    }

    func testTrafficSelectorPayload() {
        let ipv4: [UInt8] = [7, 0, 0, 16, 0, 0, 0xFF, 0xFF, 10, 0, 0, 0, 10, 0, 0, 255]
        XCTAssertNoThrow(try parse(Raw.message(type: 44, body: [1, 0, 0, 0] + ipv4)))
        XCTAssertParseError(Raw.message(type: 44, body: [1, 0, 0]), .truncated("TS payload"))
        XCTAssertParseError(Raw.message(type: 44, body: [0, 0, 0, 0]), .invalidValue("Number of TSs", 0))
        XCTAssertParseError(Raw.message(type: 44, body: [2, 0, 0, 0] + ipv4), .truncated("traffic selector"))
        XCTAssertParseError(Raw.message(type: 44, body: [1, 0, 0, 0] + ipv4 + [0]), .trailingData("TS payload", 1))
        var wrongLength = ipv4
        wrongLength[3] = 15
        XCTAssertParseError(Raw.message(type: 45, body: [1, 0, 0, 0] + wrongLength), .invalidLength("TS_IPV4_ADDR_RANGE", 15))
        var ipv6Short = ipv4
        ipv6Short[0] = 8
        XCTAssertParseError(Raw.message(type: 45, body: [1, 0, 0, 0] + ipv6Short), .invalidLength("TS_IPV6_ADDR_RANGE", 16))
        XCTAssertParseError(Raw.message(type: 44, body: [1, 0, 0, 0, 99, 0, 0, 4]), .invalidLength("traffic selector", 4))
        XCTAssertParseError(Raw.message(type: 44, body: [UInt8(IKELimits.maxTrafficSelectors + 1), 0, 0, 0] + ipv4),
                            .tooMany("traffic selectors", limit: IKELimits.maxTrafficSelectors))
    }

    func testConfigurationPayload() {
        XCTAssertParseError(Raw.message(type: 47, body: [1, 0]), .truncated("CP payload"))
        XCTAssertParseError(Raw.message(type: 47, body: [1, 0, 0, 0, 0, 1, 0, 4, 1]), .truncated("configuration attribute value"))
        XCTAssertParseError(Raw.message(type: 47, body: [1, 0, 0, 0, 0, 1, 0]), .truncated("configuration attribute"))
        let many = Array(repeating: [UInt8](arrayLiteral: 0, 1, 0, 0), count: IKELimits.maxConfigurationAttributes + 1).flatMap { $0 }
        XCTAssertParseError(Raw.message(type: 47, body: [1, 0, 0, 0] + many),
                            .tooMany("configuration attributes", limit: IKELimits.maxConfigurationAttributes))
    }

    func testCertificatePayloads() {
        XCTAssertParseError(Raw.message(type: 37, body: []), .truncated("CERT payload"))
        XCTAssertParseError(Raw.message(type: 38, body: []), .truncated("CERT payload"))
        XCTAssertNoThrow(try parse(Raw.message(type: 38, body: [4])))
    }

    func testEncryptedFragmentNumbers() {
        XCTAssertParseError(Raw.message(type: 53, body: [0, 1]), .truncated("SKF payload"))
        XCTAssertParseError(Raw.message(type: 53, body: [0, 0, 0, 2, 9]), .invalidValue("SKF Fragment Number", 0))
        XCTAssertParseError(Raw.message(type: 53, body: [0, 3, 0, 2, 9]), .invalidValue("SKF Fragment Number", 3))
    }

    func testEveryPrefixOfEveryPayloadBodyIsTypedError() {
        // Cut each sample payload's body at every length: a typed error or a valid parse, never a trap.
        for payload in Samples.everyPayload {
            var body = ByteBuffer()
            payload.writeBody(to: &body)
            let bytes = Array(buffer: body)
            for cut in 0..<bytes.count {
                do {
                    _ = try parse(Raw.message(type: payload.type.rawValue, body: Array(bytes[..<cut])))
                } catch {
                    XCTAssertTrue(error is IKEParseError, "\(payload.type) cut at \(cut): \(error)")
                }
            }
        }
    }
}
