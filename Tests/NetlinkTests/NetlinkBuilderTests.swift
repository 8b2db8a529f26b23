import CMNL
import XCTest
@testable import Netlink

final class NetlinkBuilderTests: XCTestCase {
    func testHeaderAttributesAndPaddingAreLaidOutAsTheKernelExpects() throws {
        let message = NetlinkMessageBuilder(type: 18, flags: UInt16(NLM_F_ACK), capacity: 256)
        try message.appendHeader(UInt32.self) { $0 = 0x0403_0201 }
        try message.appendAttribute(type: 13, bytes: [0xaa, 0xbb, 0xcc])   // padded to 8
        try message.appendAttribute(type: 7, u32: 0x1122_3344)
        let bytes = Array(message.bytes)
        XCTAssertEqual(bytes.count, 16 + 4 + 8 + 8)
        XCTAssertEqual(message.length, 36)
        XCTAssertEqual(Array(bytes[0..<4]), [36, 0, 0, 0])                    // nlmsg_len
        XCTAssertEqual(Array(bytes[4..<6]), [18, 0])                          // nlmsg_type
        XCTAssertEqual(Array(bytes[6..<8]), [0x05, 0])                        // REQUEST|ACK
        XCTAssertEqual(Array(bytes[16..<20]), [1, 2, 3, 4])
        XCTAssertEqual(Array(bytes[20..<28]), [7, 0, 13, 0, 0xaa, 0xbb, 0xcc, 0])  // len 7, pad zero
        XCTAssertEqual(Array(bytes[28..<36]), [8, 0, 7, 0, 0x44, 0x33, 0x22, 0x11])
    }

    func testNestedAttributeLengthCoversItsChildren() throws {
        let message = NetlinkMessageBuilder(type: 20, capacity: 128)
        let nest = try message.beginNested(type: 3)
        try message.appendAttribute(type: 1, u8: 9)
        try message.appendAttribute(type: 2, u32: 5)
        message.endNested(nest)
        let bytes = Array(message.bytes)
        XCTAssertEqual(bytes.count, 16 + 4 + 8 + 8)
        XCTAssertEqual(Int(bytes[16]) | Int(bytes[17]) << 8, 20)
        XCTAssertEqual(UInt16(bytes[18]) | UInt16(bytes[19]) << 8, 3 | UInt16(NLA_F_NESTED))
        let parsed = try NetlinkAttributes(parsing: bytes, from: 16, policy: NetlinkAttributePolicy(maxType: 3))
        let inner = try XCTUnwrap(try parsed.nested(3, policy: NetlinkAttributePolicy(maxType: 2)))
        XCTAssertEqual(try inner.u32(2), 5)
        XCTAssertEqual(inner[1].map(Array.init), [9])
    }

    func testCapacityCheckRefusesWhatDoesNotFitAndLeavesTheMessageIntact() throws {
        let message = NetlinkMessageBuilder(type: 16, capacity: 32)
        try message.appendAttribute(type: 1, u32: 1)                        // 24 bytes
        XCTAssertThrowsError(try message.appendAttribute(type: 2, bytes: [UInt8](repeating: 1, count: 5))) { error in
            XCTAssertEqual(error as? NetlinkError, .messageTooLarge(needed: 36, capacity: 32))
        }
        XCTAssertEqual(message.length, 24)
        XCTAssertThrowsError(try message.appendHeader((UInt64, UInt64).self) { _ in })
        try message.appendAttribute(type: 3, bytes: [1, 2, 3, 4])              // exactly fills 32
        XCTAssertEqual(message.length, 32)
        XCTAssertThrowsError(try message.beginNested(type: 4))
        XCTAssertThrowsError(try message.appendAttribute(type: 5, u8: 1))
        XCTAssertEqual(message.length, 32)
    }

    func testNewBytesAreZeroedSoPaddingNeverLeaks() throws {
        let message = NetlinkMessageBuilder(type: 16, capacity: 64)
        try message.appendAttribute(type: 1, length: 5) { raw in raw[0] = 0xff }
        XCTAssertEqual(Array(message.bytes[20..<28]), [0xff, 0, 0, 0, 0, 0, 0, 0])
    }
}
