import XCTest
@testable import NetfilterQueue

/// Crafted NFQNL_MSG_PACKET messages, whole, truncated and lying.
final class NFQueueParserTests: XCTestCase {
    static func attribute(_ type: UInt16, _ value: [UInt8]) -> [UInt8] {
        let length = 4 + value.count
        var bytes = [UInt8(length & 0xff), UInt8(length >> 8), UInt8(type & 0xff), UInt8(type >> 8)] + value
        while bytes.count % 4 != 0 { bytes.append(0) }
        return bytes
    }

    static func be32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }

    static func message(type: UInt16 = 0x0300, _ body: [UInt8]) -> [UInt8] {
        let length = 16 + body.count
        return be32(UInt32(length).byteSwapped) + [UInt8(type & 0xff), UInt8(type >> 8), 0, 0]
            + [0, 0, 0, 0, 0, 0, 0, 0] + body
    }

    /// nfgenmsg (NFPROTO_IPV4, queue 7), PACKET_HDR, MARK, INDEV, PAYLOAD [, CAP_LEN].
    static func packet(id: UInt32, payload: [UInt8], mark: UInt32 = 0, capLen: UInt32? = nil) -> [UInt8] {
        var body: [UInt8] = [2, 0, 0, 7]
        body += attribute(1, be32(id) + [0x08, 0x00, 0])                      // hw 0x0800, hook PRE_ROUTING
        body += attribute(3, be32(mark))
        body += attribute(5, be32(3))
        body += attribute(10, payload)
        if let capLen { body += attribute(13, be32(capLen)) }
        return message(body)
    }

    let esp: [UInt8] = [0x45, 0, 0, 36, 0, 0, 0, 0, 64, 50, 0, 0, 192, 0, 2, 1, 192, 0, 2, 100, 0, 0, 1, 0, 0, 0, 0, 1]

    func testAWellFormedPacketGivesEveryField() {
        let (batch, counters) = NFQueueParser.parse(Self.packet(id: 0x0a0b0c0d, payload: esp, mark: 0x42, capLen: 36))
        XCTAssertEqual(batch.packets, [NFQueuePacket(id: 0x0a0b0c0d, hardwareProtocol: 0x0800, hook: 0, family: 2,
                                                     queue: 7, mark: 0x42, inputInterface: 3, payload: esp, length: 36)])
        XCTAssertTrue(batch.packets[0].isTruncated)
        XCTAssertEqual(counters.received, 1)
        XCTAssertEqual(counters.truncated, 1)
        XCTAssertEqual(batch.dropIDs, [])
    }

    func testSeveralMessagesInOneDatagramAndVerdictErrors() {
        let error = Self.message(type: 2, Self.be32(UInt32(bitPattern: -2).byteSwapped) + [UInt8](repeating: 0, count: 16))
        let (batch, counters) = NFQueueParser.parse(Self.packet(id: 1, payload: esp) + error
                                                    + Self.packet(id: 2, payload: esp) + Self.message(type: 0x0999, []))
        XCTAssertEqual(batch.packets.map(\.id), [1, 2])
        XCTAssertEqual(counters.verdictErrors, 1)
        XCTAssertEqual(counters.unexpected, 1)
        XCTAssertEqual(counters.received, 2)
    }

    func testAPacketWithoutPayloadIsDroppedByID() {
        var body: [UInt8] = [2, 0, 0, 7]
        body += Self.attribute(1, Self.be32(77) + [0x08, 0x00, 0])
        let (batch, counters) = NFQueueParser.parse(Self.message(body))
        XCTAssertEqual(batch.packets, [])
        XCTAssertEqual(batch.dropIDs, [77])
        XCTAssertEqual(counters.malformed, 1)
    }

    func testACapLenShorterThanThePayloadIsALieAndDropped() {
        let (batch, counters) = NFQueueParser.parse(Self.packet(id: 5, payload: esp, capLen: 4))
        XCTAssertEqual(batch.dropIDs, [5])
        XCTAssertEqual(counters.malformed, 1)
    }

    func testAMarkOfTheWrongSizeIsDropped() {
        var body: [UInt8] = [2, 0, 0, 7]
        body += Self.attribute(1, Self.be32(6) + [0x08, 0x00, 0])
        body += Self.attribute(3, [1, 2])
        body += Self.attribute(10, esp)
        let (batch, counters) = NFQueueParser.parse(Self.message(body))
        XCTAssertEqual(batch.dropIDs, [6])
        XCTAssertEqual(counters.malformed, 1)
    }

    func testNoPacketHeaderMeansNoVerdictButCounted() {
        let (batch, counters) = NFQueueParser.parse(Self.message([2, 0, 0, 7] + Self.attribute(10, esp)))
        XCTAssertEqual(batch.packets.count + batch.dropIDs.count, 0)
        XCTAssertEqual(counters.unreadable, 1)
    }

    func testALyingAttributeLengthIsRefused() {
        var bytes = Self.packet(id: 9, payload: esp)
        bytes[16 + 4 + 12 + 8 + 8] = 0xff                                     // PAYLOAD nla_len = 255 + ...
        let (batch, counters) = NFQueueParser.parse(bytes)
        XCTAssertEqual(batch.packets, [])
        XCTAssertEqual(batch.dropIDs, [9])
        XCTAssertEqual(counters.malformed, 1)
    }

    func testEveryTruncationIsHandled() {
        let whole = Self.packet(id: 3, payload: esp, mark: 1, capLen: 28) + Self.packet(id: 4, payload: esp)
        for cut in 0..<whole.count {
            var bytes = Array(whole[0..<cut])
            // Also with nlmsg_len claiming the original length.
            let (batch, counters) = NFQueueParser.parse(bytes)
            XCTAssertLessThanOrEqual(batch.packets.count, 2)
            XCTAssertEqual(counters.verdictErrors, 0)
            if cut >= 16 {
                bytes[0] = UInt8(cut & 0xfc)
                bytes[1] = 0
                _ = NFQueueParser.parse(bytes)
            }
        }
    }

    func testAHugeMessageLengthIsNotTakenAsNegative() {
        var bytes = Self.packet(id: 1, payload: esp)
        bytes[3] = 0x80                                                       // nlmsg_len = 0x8000_00xx
        let (batch, counters) = NFQueueParser.parse(bytes)
        XCTAssertEqual(batch.packets.count + batch.dropIDs.count, 0)
        XCTAssertEqual(counters.unreadable, 1)
    }

    func testRandomBytesNeverTrap() {
        var state: UInt64 = 0x9e37_79b9_7f4a_7c15
        func next() -> UInt8 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        let template = Self.packet(id: 1, payload: esp, capLen: 28)
        for _ in 0..<3000 {
            var bytes = template
            for _ in 0..<Int(next() % 8) { bytes[Int(next()) % bytes.count] = next() }
            let (batch, counters) = NFQueueParser.parse(bytes)
            for packet in batch.packets { XCTAssertLessThanOrEqual(packet.payload.count, bytes.count) }
            XCTAssertGreaterThanOrEqual(counters.received + counters.malformed + counters.unreadable
                                        + counters.unexpected + counters.verdictErrors, 0)
        }
    }
}
