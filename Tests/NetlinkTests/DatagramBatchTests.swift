import CMNL
import Glibc
import XCTest
@testable import Netlink

/// recvmmsg into a DatagramBatch, between two NETLINK_USERSOCK sockets of this process (the
/// one netlink family where user sockets may send each other datagrams): every datagram
/// arrives once, in order, whole or reported cut, and no more than asked per call.
final class DatagramBatchTests: XCTestCase {
    private func send(_ bytes: [UInt8], from sender: NetlinkSocket, to receiver: NetlinkSocket) throws {
        var address = sockaddr_nl()
        address.nl_family = sa_family_t(AF_NETLINK)
        address.nl_pid = receiver.portID
        let sent = bytes.withUnsafeBytes { raw in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(sender.fileDescriptor, raw.baseAddress, raw.count, 0, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
                }
            }
        }
        XCTAssertEqual(sent, bytes.count, "sendto: errno \(errno)")
    }

    private func pair() throws -> (NetlinkSocket, NetlinkSocket) {
        (try NetlinkSocket(family: NETLINK_USERSOCK), try NetlinkSocket(family: NETLINK_USERSOCK))
    }

    func testOneCallTakesEveryQueuedDatagramUpToTheLimitInOrder() throws {
        let (sender, receiver) = try pair()
        for index in 0..<10 { try send([UInt8](repeating: UInt8(index), count: 20 + index), from: sender, to: receiver) }
        let batch = DatagramBatch(capacity: 4, slotSize: 64)
        var seen: [[UInt8]] = []
        var calls: [Int] = []
        while true {
            let count = try receiver.receiveDatagrams(into: batch, limit: 3, timeout: .zero)
            if count == 0 { break }
            calls.append(count)
            for slot in 0..<count { seen.append(Array(try XCTUnwrap(batch.datagram(slot)))) }
        }
        XCTAssertEqual(calls, [3, 3, 3, 1])
        XCTAssertEqual(seen, (0..<10).map { [UInt8](repeating: UInt8($0), count: 20 + $0) })
        XCTAssertEqual(batch.count, 0, "the last call found nothing")
    }

    func testADatagramLongerThanItsSlotIsReportedCutAndTheNextOneIsWhole() throws {
        let (sender, receiver) = try pair()
        try send([UInt8](repeating: 7, count: 100), from: sender, to: receiver)
        try send([1, 2, 3, 4], from: sender, to: receiver)
        let batch = DatagramBatch(capacity: 8, slotSize: 16)
        XCTAssertEqual(try receiver.receiveDatagrams(into: batch, timeout: .seconds(1)), 2)
        XCTAssertNil(batch.datagram(0), "100 bytes into a 16-byte slot: MSG_TRUNC")
        XCTAssertEqual(batch.datagram(1).map(Array.init), [1, 2, 3, 4])
    }

    func testNothingQueuedReturnsZeroAfterTheTimeout() throws {
        let (_, receiver) = try pair()
        let batch = DatagramBatch(capacity: 2, slotSize: 32)
        XCTAssertEqual(try receiver.receiveDatagrams(into: batch, timeout: .milliseconds(20)), 0)
        XCTAssertEqual(try receiver.receiveDatagrams(into: batch, limit: 0, timeout: nil), 0, "a limit of 0 never waits")
    }
}
