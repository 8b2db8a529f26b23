import CMNL
import XCTest
@testable import NetfilterQueue

/// Golden bytes, written by hand from <linux/netfilter/nfnetlink_queue.h> and
/// <linux/netfilter/nfnetlink.h>: nlmsghdr {u32 len, u16 type, u16 flags, u32 seq, u32 pid}
/// (host order), nfgenmsg {u8 family, u8 version, be16 res_id}, then nlattr {u16 len, u16 type}.
final class NFQueueMessageTests: XCTestCase {
    func testBindCommandMatchesTheStructLayout() throws {
        let message = try NFQueueMessages.command(.bind, queue: 7)
        XCTAssertEqual(Array(message.bytes), [
            28, 0, 0, 0,   0x02, 0x03,   0x05, 0x00,   0, 0, 0, 0,   0, 0, 0, 0,  // len, 3<<8|CONFIG, REQUEST|ACK
            0, 0, 0x00, 0x07,                                                 // AF_UNSPEC, NFNETLINK_V0, queue 7 (be16)
            8, 0, 1, 0,   1, 0, 0, 0,                                         // NFQA_CFG_CMD {BIND, pad, pf 0}
        ])
    }

    func testUnbindAndLegacyPFBindCarryTheirCommandAndFamily() throws {
        let unbind = try NFQueueMessages.command(.unbind, queue: 0x0102)   // bytes live as long as the builder
        XCTAssertEqual(Array(unbind.bytes)[16..<28], [0, 0, 0x01, 0x02, 8, 0, 1, 0, 2, 0, 0, 0][...])
        let pfBind = try NFQueueMessages.command(.pfBind, queue: 0, protocolFamily: 10)
        XCTAssertEqual(Array(pfBind.bytes)[20..<28],
                       [8, 0, 1, 0, 3, 0, 0, 10][...])                       // PF_BIND, pf AF_INET6 (be16)
    }

    func testParametersCopyPacketRangeMaxlenAndFailOpenCleared() throws {
        let message = try NFQueueMessages.parameters(queue: 7, copyMode: .packet, copyRange: 256, maxLength: 4096)
        XCTAssertEqual(Array(message.bytes), [
            56, 0, 0, 0,   0x02, 0x03,   0x05, 0x00,   0, 0, 0, 0,   0, 0, 0, 0,
            0, 0, 0x00, 0x07,
            9, 0, 2, 0,   0, 0, 1, 0,   2,   0, 0, 0,                         // PARAMS {be32 256, COPY_PACKET} packed + pad
            8, 0, 3, 0,   0, 0, 0x10, 0,                                      // QUEUE_MAXLEN be32 4096
            8, 0, 4, 0,   0, 0, 0, 1,                                         // CFG_MASK be32 FAIL_OPEN
            8, 0, 5, 0,   0, 0, 0, 0,                                         // CFG_FLAGS be32 0: fail closed
        ])
    }

    func testVerdictsAreConcatenatedWithMarkOnlyOnAccept() {
        let batch = NFQueueVerdictBatch(queue: 7, capacity: 4)
        XCTAssertTrue(batch.append(id: 0x0102_0304, .accept(mark: 0x101)))
        XCTAssertTrue(batch.append(id: 9, .drop))
        XCTAssertTrue(batch.append(id: 10, .accept(mark: nil)))
        XCTAssertEqual(batch.count, 3)
        let accept: [UInt8] = [
            40, 0, 0, 0,   0x01, 0x03,   0x01, 0x00,   0, 0, 0, 0,   0, 0, 0, 0,  // 3<<8|VERDICT, REQUEST only
            0, 0, 0, 7,
            12, 0, 2, 0,   0, 0, 0, 1,   1, 2, 3, 4,                          // VERDICT_HDR {be32 NF_ACCEPT, be32 id}
            8, 0, 3, 0,   0, 0, 0x01, 0x01,                                   // NFQA_MARK be32 0x101
        ]
        let drop: [UInt8] = [
            32, 0, 0, 0,   0x01, 0x03,   0x01, 0x00,   0, 0, 0, 0,   0, 0, 0, 0,
            0, 0, 0, 7,
            12, 0, 2, 0,   0, 0, 0, 0,   0, 0, 0, 9,                          // NF_DROP
        ]
        let plainAccept: [UInt8] = [
            32, 0, 0, 0,   0x01, 0x03,   0x01, 0x00,   0, 0, 0, 0,   0, 0, 0, 0,
            0, 0, 0, 7,
            12, 0, 2, 0,   0, 0, 0, 1,   0, 0, 0, 10,
        ]
        XCTAssertEqual(Array(batch.bytes), accept + drop + plainAccept)
    }

    func testAFullBatchRefusesAndResetEmptiesIt() {
        let batch = NFQueueVerdictBatch(queue: 1, capacity: 2)
        XCTAssertTrue(batch.append(id: 1, .drop))
        XCTAssertTrue(batch.append(id: 2, .accept(mark: 5)))
        XCTAssertTrue(batch.isFull)
        XCTAssertFalse(batch.append(id: 3, .drop))
        XCTAssertEqual(batch.count, 2)
        XCTAssertEqual(batch.bytes.count, 32 + 40)
        batch.reset()
        XCTAssertEqual(batch.bytes.count, 0)
        XCTAssertTrue(batch.append(id: 3, .drop))
        XCTAssertEqual(Array(batch.bytes)[28..<32], [0, 0, 0, 3][...])
    }

    func testConstantsAreTheKernelHeaders() {
        XCTAssertEqual(NFQueueWire.packet, 0x0300)
        XCTAssertEqual(NFQueueWire.verdict, 0x0301)
        XCTAssertEqual(NFQueueWire.config, 0x0302)
        XCTAssertEqual(MemoryLayout<nfgenmsg>.size, 4)
        XCTAssertEqual(MemoryLayout<nfqnl_msg_verdict_hdr>.size, 8)
        XCTAssertEqual(MemoryLayout<nfqnl_msg_config_cmd>.size, 4)
    }
}
