import CMNL
import Glibc
import XCTest
@testable import Netlink

final class NetlinkParsingTests: XCTestCase {
    private func attribute(_ type: UInt16, _ payload: [UInt8]) -> [UInt8] {
        let length = 4 + payload.count
        var bytes: [UInt8] = [UInt8(length & 0xff), UInt8(length >> 8), UInt8(type & 0xff), UInt8(type >> 8)] + payload
        while bytes.count % 4 != 0 { bytes.append(0) }
        return bytes
    }

    func testKnownTypesAreReadByTypeAndUnknownOnesSkipped() throws {
        let bytes = attribute(1, [1, 0, 0, 0]) + attribute(40, [9, 9]) + attribute(2, [7, 0, 0, 0, 0, 0, 0, 0])
        let table = try NetlinkAttributes(parsing: bytes, from: 0, policy: NetlinkAttributePolicy(maxType: 5))
        XCTAssertEqual(try table.u32(1), 1)
        XCTAssertEqual(try table.u64(2), 7)
        XCTAssertNil(table[3])
        XCTAssertEqual(table.skippedUnknown, 1)
    }

    func testAttributeLongerThanTheMessageIsMalformedNotATrap() {
        var bytes = attribute(1, [1, 0, 0, 0])
        bytes[0] = 200
        XCTAssertThrowsError(try NetlinkAttributes(parsing: bytes, from: 0, policy: NetlinkAttributePolicy(maxType: 5))) {
            guard case .malformed(let text) = $0 as? NetlinkError else { return XCTFail("\($0)") }
            XCTAssertTrue(text.contains("200"), text)
        }
    }

    func testAttributeShorterThanItsHeaderIsMalformed() {
        let bytes: [UInt8] = [2, 0, 1, 0, 0, 0, 0, 0]
        XCTAssertThrowsError(try NetlinkAttributes(parsing: bytes, from: 0, policy: NetlinkAttributePolicy(maxType: 5)))
    }

    func testKnownTypeBelowItsMinimumLengthIsMalformed() {
        let bytes = attribute(3, [1, 2])
        let policy = NetlinkAttributePolicy(maxType: 5, minimumLengths: [3: 4])
        XCTAssertThrowsError(try NetlinkAttributes(parsing: bytes, from: 0, policy: policy)) {
            XCTAssertEqual($0 as? NetlinkError, .malformed("attribute 3 has 2 bytes, needs 4"))
        }
        // Without the rule it is accepted, and a load of a wider type is refused instead.
        let loose = try? NetlinkAttributes(parsing: bytes, from: 0, policy: NetlinkAttributePolicy(maxType: 5))
        XCTAssertThrowsError(try loose?.u32(3))
    }

    func testTrailingBytesShorterThanAHeaderAreIgnored() throws {
        let bytes = attribute(1, [5, 0, 0, 0]) + [0, 0]
        let table = try NetlinkAttributes(parsing: bytes, from: 0, policy: NetlinkAttributePolicy(maxType: 5))
        XCTAssertEqual(try table.u32(1), 5)
    }

    func testDatagramSplitsIntoMessagesAndRejectsABadLength() throws {
        func message(type: UInt16, seq: UInt32, payload: [UInt8]) -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: 16)
            let length = UInt32(16 + payload.count)
            withUnsafeBytes(of: length) { bytes.replaceSubrange(0..<4, with: $0) }
            withUnsafeBytes(of: type) { bytes.replaceSubrange(4..<6, with: $0) }
            withUnsafeBytes(of: seq) { bytes.replaceSubrange(8..<12, with: $0) }
            bytes += payload
            while bytes.count % 4 != 0 { bytes.append(0) }
            return bytes
        }
        let datagram = message(type: 16, seq: 7, payload: [1, 2, 3]) + message(type: 3, seq: 7, payload: [0, 0, 0, 0])
        let messages = try datagram.withUnsafeBytes { try NetlinkMessage.parseAll($0) }
        XCTAssertEqual(messages.map(\.type), [16, 3])
        XCTAssertEqual(messages[0].payload, [1, 2, 3])
        XCTAssertEqual(messages[1].sequence, 7)

        var broken = datagram
        broken[0] = 250
        XCTAssertThrowsError(try broken.withUnsafeBytes { try NetlinkMessage.parseAll($0) })
        broken[0] = 8   // shorter than a header
        XCTAssertThrowsError(try broken.withUnsafeBytes { try NetlinkMessage.parseAll($0) })
    }

    /// NLMSG_ERROR as a kernel with NETLINK_EXT_ACK + NETLINK_CAP_ACK sends it.
    func testErrorWithExtendedAckKeepsErrnoAndText() throws {
        var payload = [UInt8]()
        withUnsafeBytes(of: Int32(-EEXIST)) { payload += $0 }
        payload += [UInt8](repeating: 0, count: 16)      // capped echo of the request header
        payload += attribute(UInt16(NLMSGERR_ATTR_MSG.rawValue), Array("SA already exists\0".utf8))
        let message = NetlinkMessage(type: UInt16(NLMSG_ERROR), flags: UInt16(NLM_F_CAPPED | NLM_F_ACK_TLVS),
                                     sequence: 1, portID: 0, payload: payload)
        let status = try message.status()
        XCTAssertEqual(status.errno, EEXIST)
        XCTAssertEqual(status.message, "SA already exists")
        let error = NetlinkError.kernel(errno: status.errno, message: status.message)
        XCTAssertEqual(error.description, "kernel error EEXIST (File exists): SA already exists")
    }

    /// Without NLM_F_CAPPED the whole request is echoed before the TLVs.
    func testErrorWithUncappedEchoFindsTheTextAfterTheRequest() throws {
        var payload = [UInt8]()
        withUnsafeBytes(of: Int32(-EINVAL)) { payload += $0 }
        var echoed = [UInt8](repeating: 0, count: 24)
        echoed[0] = 24
        payload += echoed
        payload += attribute(UInt16(NLMSGERR_ATTR_MSG.rawValue), Array("bad\0".utf8))
        let message = NetlinkMessage(type: UInt16(NLMSG_ERROR), flags: UInt16(NLM_F_ACK_TLVS), sequence: 1,
                                     portID: 0, payload: payload)
        let status = try message.status()
        XCTAssertEqual(status.errno, EINVAL)
        XCTAssertEqual(status.message, "bad")
    }

    func testAcknowledgementHasErrnoZeroAndTruncatedErrorIsMalformed() throws {
        let ack = NetlinkMessage(type: UInt16(NLMSG_ERROR), flags: 0, sequence: 1, portID: 0,
                                 payload: [UInt8](repeating: 0, count: 20))
        XCTAssertEqual(try ack.status().errno, 0)
        let short = NetlinkMessage(type: UInt16(NLMSG_ERROR), flags: 0, sequence: 1, portID: 0, payload: [1, 2])
        XCTAssertThrowsError(try short.status())
    }

    func testErrorDescriptionsNameTheErrno() {
        XCTAssertEqual(NetlinkError.kernel(errno: ENOENT, message: nil).description, "kernel error ENOENT (No such file or directory)")
        XCTAssertEqual(NetlinkError.system(call: "poll", errno: EINTR).description, "poll failed: EINTR (Interrupted system call)")
        XCTAssertEqual(NetlinkError.kernel(errno: 9999, message: "x").errno, 9999)
        XCTAssertTrue(NetlinkError.kernel(errno: 9999, message: nil).description.contains("errno 9999"))
    }

    // MARK: Wiping received bytes (SA replies and dumps carry keys)

    func testWipePayloadZeroesTheBytesWhereTheyLie() {
        var message = NetlinkMessage(type: 16, flags: 0, sequence: 1, portID: 0, payload: Array(1...40))
        let before = message.payload.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
        message.wipePayload()
        XCTAssertEqual(message.payload, [UInt8](repeating: 0, count: 40))
        // In place: the storage the key bytes were in is the storage now zeroed.
        XCTAssertEqual(message.payload.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }, before)
    }

    func testWipeLeavesACopyTheCallerKept() {
        // A dump's body may keep a message to read later: the socket's wipe must not zero it.
        var received = NetlinkMessage(type: 16, flags: 0, sequence: 1, portID: 0, payload: [7, 7, 7, 7])
        let kept = received
        received.wipePayload()
        XCTAssertEqual(received.payload, [0, 0, 0, 0])
        XCTAssertEqual(kept.payload, [7, 7, 7, 7])
    }
}
