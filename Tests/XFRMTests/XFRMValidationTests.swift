import XCTest
@testable import XFRM

final class XFRMValidationTests: XCTestCase {
    let id = XFRMStateID(source: address("10.0.0.1"), destination: address("10.0.0.2"), spi: 0x1000)

    private func assertInvalid(_ state: XFRMAddState, mentions text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try state.validate(), file: file, line: line) { error in
            guard case .invalidArgument(let message) = error as? XFRMError else {
                return XCTFail("\(error)", file: file, line: line)
            }
            XCTAssertTrue(message.contains(text), "'\(message)' should mention '\(text)'", file: file, line: line)
        }
    }

    func testGoodSuitesPass() throws {
        for bytes in [20, 28, 36] {
            try XFRMAddState(id: id, aead: .aesGCM(key: sequentialKey(bytes))).validate()
        }
        try XFRMAddState(id: id, aead: .chaCha20Poly1305(key: sequentialKey(36))).validate()
        try XFRMAddState(id: id, encryption: .aesCBC(key: sequentialKey(24)), integrity: .hmacSHA384(key: sequentialKey(48))).validate()
        try XFRMAddState(id: id, aead: .aesGCM(key: sequentialKey(20)),
                         replay: XFRMReplayState(window: 4096, extendedSequenceNumbers: true)).validate()
    }

    func testAEADExcludesASeparateIntegrityAlgorithm() {
        assertInvalid(XFRMAddState(id: id, aead: .aesGCM(key: sequentialKey(20)), integrity: .hmacSHA256(key: sequentialKey(32))),
                      mentions: "excludes")
    }

    func testESNNeedsAReplayWindow() {
        assertInvalid(XFRMAddState(id: id, aead: .aesGCM(key: sequentialKey(20)),
                                   replay: XFRMReplayState(window: 0, extendedSequenceNumbers: true)), mentions: "ESN needs a replay window")
    }

    func testWindowAboveTheKernelMaximumIsRefused() {
        assertInvalid(XFRMAddState(id: id, aead: .aesGCM(key: sequentialKey(20)),
                                   replay: XFRMReplayState(window: 4097, extendedSequenceNumbers: true)), mentions: "4096")
    }

    func testSixtyFourBitSequenceNeedsESN() {
        assertInvalid(XFRMAddState(id: id, aead: .aesGCM(key: sequentialKey(20)),
                                   replay: XFRMReplayState(window: 32, outputSequence: 1 << 32)), mentions: "ESN")
    }

    func testKeyLengthsMustMatchTheAlgorithm() {
        assertInvalid(XFRMAddState(id: id, aead: .aesGCM(key: sequentialKey(16))), mentions: "20/28/36 bytes, got 16")
        assertInvalid(XFRMAddState(id: id, aead: .chaCha20Poly1305(key: sequentialKey(32))), mentions: "got 32")
        assertInvalid(XFRMAddState(id: id, encryption: .aesCBC(key: sequentialKey(20)), integrity: .hmacSHA256(key: sequentialKey(32))),
                      mentions: "cbc(aes) needs a key of 16/24/32 bytes")
        assertInvalid(XFRMAddState(id: id, encryption: .aesCBC(key: sequentialKey(16)), integrity: .hmacSHA512(key: sequentialKey(32))),
                      mentions: "hmac(sha512) needs a key of 64")
    }

    func testTruncationAndICVLengthsAreChecked() {
        var integrity = XFRMAlgorithm.hmacSHA256(key: sequentialKey(32))
        integrity.bits = 96
        assertInvalid(XFRMAddState(id: id, encryption: .aesCBC(key: sequentialKey(16)), integrity: integrity), mentions: "truncation")
        assertInvalid(XFRMAddState(id: id, aead: .aesGCM(key: sequentialKey(20), icvBits: 100)), mentions: "ICV")
    }

    func testAlgorithmsInTheWrongSlotOrMissing() {
        assertInvalid(XFRMAddState(id: id, aead: .aesCBC(key: sequentialKey(16))), mentions: "not an AEAD")
        assertInvalid(XFRMAddState(id: id, encryption: .aesCBC(key: sequentialKey(16))), mentions: "needs an integrity")
        assertInvalid(XFRMAddState(id: id), mentions: "needs an AEAD or an encryption")
        let longName = XFRMAlgorithm(kind: .aead, name: String(repeating: "x", count: 64), key: sequentialKey(20), bits: 128)
        assertInvalid(XFRMAddState(id: id, aead: longName), mentions: "1...63")
    }

    func testAddressesAndSPI() {
        assertInvalid(XFRMAddState(id: XFRMStateID(destination: address("10.0.0.2"), spi: 1), aead: .aesGCM(key: sequentialKey(20))),
                      mentions: "source")
        assertInvalid(XFRMAddState(id: XFRMStateID(source: address("::1"), destination: address("10.0.0.2"), spi: 1),
                                   aead: .aesGCM(key: sequentialKey(20))), mentions: "different families")
        assertInvalid(XFRMAddState(id: XFRMStateID(source: address("10.0.0.1"), destination: address("10.0.0.2"), spi: 0),
                                   aead: .aesGCM(key: sequentialKey(20))), mentions: "SPI 0")
    }

    func testUnknownAlgorithmNamesGoToTheKernelUnchecked() throws {
        try XFRMAddState(id: id, aead: XFRMAlgorithm(kind: .aead, name: "rfc4309(ccm(aes))", key: sequentialKey(19), bits: 64)).validate()
    }

    func testPolicyValidation() {
        let tunnelWithoutEnds = XFRMPolicy(selector: .any, direction: .outbound, templates: [XFRMTemplate(mode: .tunnel)])
        XCTAssertThrowsError(try tunnelWithoutEnds.validate())
        let tooDeep = XFRMPolicy(selector: .any, direction: .outbound, templates: Array(repeating: XFRMTemplate(), count: 7))
        XCTAssertThrowsError(try tooDeep.validate())
        XCTAssertThrowsError(try XFRMPolicy(selector: .any, direction: XFRMPolicyDirection(rawValue: 3)).validate())
        XCTAssertNoThrow(try XFRMPolicy(selector: .any, direction: .forward).validate())
    }

    func testAddressAndPrefixParsing() {
        XCTAssertNil(XFRMAddress("10.0.0"))
        XCTAssertNil(XFRMPrefix("10.0.0.0/33"))
        XCTAssertEqual(XFRMPrefix("fd00::/64")?.description, "fd00::/64")
        XCTAssertEqual(address("2001:db8::1").description, "2001:db8::1")
        XCTAssertNil(XFRMKey(hex: "0x123"))
        XCTAssertNil(XFRMKey(hex: "zz"))
    }
}
