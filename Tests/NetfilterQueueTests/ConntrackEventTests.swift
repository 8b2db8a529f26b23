import CMNL
import Netlink
import VipsecTestSupport
import XCTest
@testable import InboundRouting

/// ctnetlink events as the kernel sent them: captured (Linux 6.18) from a socket of
/// NETLINK_NETFILTER joined to NFNLGRP_CONNTRACK_UPDATE and _DESTROY, in a network namespace
/// whose conntrack an nft `ct state new` rule had switched on, while a TCP connection
/// 127.0.0.1:40000 → 127.0.0.1:8080 (and the same over ::1) opened and closed and a UDP
/// datagram went 127.0.0.1:40001 → 8081 (TIME_WAIT and UDP timeouts set to 2 s there).
final class ConntrackEventTests: XCTestCase {
    static func messages(_ bytes: [UInt8]) throws -> [NetlinkMessage] {
        try bytes.withUnsafeBytes { try NetlinkMessage.parseAll($0) }
    }

    static func event(_ bytes: [UInt8]) throws -> ConntrackEvent? {
        let messages = try messages(bytes)
        XCTAssertEqual(messages.count, 1)
        return try ConntrackEvent(parsing: messages[0])
    }

    let loopback: [UInt8] = [127, 0, 0, 1]
    let loopback6: [UInt8] = Array(repeating: 0, count: 15) + [1]

    func testTCPTimeWaitUpdateIsAnEndWithTheOriginalTupleAndID() throws {
        let event = try XCTUnwrap(try Self.event(Self.timeWaitV4))
        XCTAssertEqual(event.kind, .updated(tcpState: UInt8(TCP_CONNTRACK_TIME_WAIT.rawValue)))
        XCTAssertTrue(event.isEnd)
        XCTAssertEqual(event.id, 0xc524_6eb5)
        XCTAssertEqual(event.original, ConntrackTuple(family: UInt8(AF_INET), source: loopback, destination: loopback,
                                                      ipProtocol: 6, sourcePort: 40000, destinationPort: 8080))
    }

    func testTCPFinWaitUpdateIsNotAnEnd() throws {
        let event = try XCTUnwrap(try Self.event(Self.finWaitV4))
        XCTAssertEqual(event.kind, .updated(tcpState: UInt8(TCP_CONNTRACK_FIN_WAIT.rawValue)))
        XCTAssertFalse(event.isEnd)
    }

    func testIPv6TimeWait() throws {
        let event = try XCTUnwrap(try Self.event(Self.timeWaitV6))
        XCTAssertTrue(event.isEnd)
        XCTAssertEqual(event.id, 0xc520_d8a3)
        XCTAssertEqual(event.original, ConntrackTuple(family: UInt8(AF_INET6), source: loopback6, destination: loopback6,
                                                      ipProtocol: 6, sourcePort: 40000, destinationPort: 8080))
    }

    func testDestroyOfTheSameTCPConnectionCarriesItsID() throws {
        let event = try XCTUnwrap(try Self.event(Self.destroyTCPv4))
        XCTAssertEqual(event.kind, .destroyed)
        XCTAssertTrue(event.isEnd)
        XCTAssertEqual(event.id, 0xc524_6eb5)
        XCTAssertEqual(event.original.destinationPort, 8080)
    }

    func testUDPDestroy() throws {
        let event = try XCTUnwrap(try Self.event(Self.destroyUDPv4))
        XCTAssertEqual(event.kind, .destroyed)
        XCTAssertEqual(event.original, ConntrackTuple(family: UInt8(AF_INET), source: loopback, destination: loopback,
                                                      ipProtocol: 17, sourcePort: 40001, destinationPort: 8081))
        XCTAssertEqual(event.id, 0xaa5c_0d30)
    }

    func testOtherMessageTypesAreNotConntrackEvents() throws {
        var message = try Self.messages(Self.destroyUDPv4)[0]
        message.type = UInt16(NFNL_SUBSYS_QUEUE) << 8
        XCTAssertNil(try ConntrackEvent(parsing: message))
        message.type = UInt16(NLMSG_ERROR)
        XCTAssertNil(try ConntrackEvent(parsing: message))
    }

    /// Every cut of a real event either parses or throws; none traps.
    func testTruncatedPayloadsThrowAndNeverTrap() throws {
        let message = try Self.messages(Self.timeWaitV4)[0]
        var threw = 0
        for length in 0..<message.payload.count {
            var cut = message
            cut.payload = Array(message.payload.prefix(length))
            do { _ = try ConntrackEvent(parsing: cut) } catch { threw += 1 }
        }
        XCTAssertGreaterThan(threw, 0)
        // Without the nfgenmsg, or cut inside CTA_TUPLE_ORIG: malformed.
        for length in [0, 3, 8, 30] {
            var cut = message
            cut.payload = Array(message.payload.prefix(length))
            XCTAssertThrowsError(try ConntrackEvent(parsing: cut), "cut at \(length)")
        }
    }

    func testMalformedAttributesAreRejected() throws {
        let original = try Self.messages(Self.destroyUDPv4)[0]
        // nfgenmsg family AF_UNSPEC.
        var message = original
        message.payload[0] = 0
        XCTAssertThrowsError(try ConntrackEvent(parsing: message))
        // CTA_TUPLE_ORIG (the first attribute, at 4) claiming more octets than there are.
        message = original
        message.payload[4] = 0xff
        message.payload[5] = 0x7f
        XCTAssertThrowsError(try ConntrackEvent(parsing: message))
        // CTA_TUPLE_ORIG renamed to an unknown type: no original tuple.
        message = original
        message.payload[6] = 0x1f
        XCTAssertThrowsError(try ConntrackEvent(parsing: message)) { error in
            XCTAssertTrue("\(error)".contains("CTA_TUPLE_ORIG"), "\(error)")
        }
        // IPv6 family with IPv4 addresses.
        message = original
        message.payload[0] = UInt8(AF_INET6)
        XCTAssertThrowsError(try ConntrackEvent(parsing: message)) { error in
            XCTAssertTrue("\(error)".contains("IPv6"), "\(error)")
        }
    }

    func testTheMonitorCountsMalformedMessagesAndKeepsTheRest() throws {
        var bad = try Self.messages(Self.destroyUDPv4)[0]
        bad.payload[0] = 0
        let good = try Self.messages(Self.timeWaitV4)[0]
        var malformed = 0
        let events = ConntrackMonitor.events(in: [bad, good, bad], malformed: &malformed)
        XCTAssertEqual(malformed, 2)
        XCTAssertEqual(events.map(\.id), [0xc524_6eb5])
    }

    func testTheTrackingTableHasACtRuleAndIsReplacedAndRemovedWhole() {
        let script = ConntrackTracking.script()
        XCTAssertTrue(script.hasPrefix("table inet vipsec_conntrack\ndelete table inet vipsec_conntrack\n"))
        XCTAssertTrue(script.contains("ct state new counter name new_connections"))
        XCTAssertTrue(script.contains("policy accept"))
        XCTAssertFalse(script.contains("drop"))
    }

    static let finWaitV4 = hexBytes(
        "c4000000000100000000000000000000020000003400018014000180080001007f000001080002007f0000011c000280"
        + "0500010006000000060002009c400000060003001f9000003400028014000180080001007f000001080002007f000001"
        + "1c0002800500010006000000060002001f900000060003009c40000008000c00c5246eb5080003000000000e08000700"
        + "00000078300004802c0001800500010004000000050002000a000000050003000a000000060004003700000006000500"
        + "23000000")
    static let timeWaitV4 = hexBytes(
        "c4000000000100000000000000000000020000003400018014000180080001007f000001080002007f0000011c000280"
        + "0500010006000000060002009c400000060003001f9000003400028014000180080001007f000001080002007f000001"
        + "1c0002800500010006000000060002001f900000060003009c40000008000c00c5246eb5080003000000000e08000700"
        + "00000002300004802c0001800500010007000000050002000a000000050003000a000000060004002700000006000500"
        + "23000000")
    static let timeWaitV6 = hexBytes(
        "f40000000001000000000000000000000a0000004c0001802c0001801400030000000000000000000000000000000001"
        + "14000400000000000000000000000000000000011c0002800500010006000000060002009c400000060003001f900000"
        + "4c0002802c00018014000300000000000000000000000000000000011400040000000000000000000000000000000001"
        + "1c0002800500010006000000060002001f900000060003009c40000008000c00c520d8a3080003000000000e08000700"
        + "00000002300004802c0001800500010007000000050002000a000000050003000a000000060004002700000006000500"
        + "23000000")
    static let destroyTCPv4 = hexBytes(
        "9c000000020100000000000000000000020000003400018014000180080001007f000001080002007f0000011c000280"
        + "0500010006000000060002009c400000060003001f9000003400028014000180080001007f000001080002007f000001"
        + "1c0002800500010006000000060002001f900000060003009c40000008000c00c5246eb5080003000000020e10000480"
        + "0c0001800500010007000000")
    static let destroyUDPv4 = hexBytes(
        "8c000000020100000000000000000000020000003400018014000180080001007f000001080002007f0000011c000280"
        + "0500010011000000060002009c410000060003001f9100003400028014000180080001007f000001080002007f000001"
        + "1c0002800500010011000000060002001f910000060003009c41000008000c00aa5c0d300800030000000208")
}
