import CMNL
import XCTest
@testable import InboundRouting

final class InboundRoutingTests: XCTestCase {
    func testRulesetForOneQueueQueuesESPAndESPInUDPWithoutBypass() throws {
        let ruleset = try InboundRuleset(dvipas: ["192.0.2.100"], queues: 0...0)
        XCTAssertEqual(ruleset.script(), """
            table inet vipsec
            delete table inet vipsec
            table inet vipsec {
              set dvipa4 { type ipv4_addr; elements = { 192.0.2.100 } }
              counter queued_esp { }
              counter queued_espinudp { }
              chain prerouting {
                type filter hook prerouting priority mangle; policy accept;
                ip daddr @dvipa4 meta l4proto esp counter name queued_esp queue num 0
                ip daddr @dvipa4 udp dport 4500 udp length >= 16 @th,64,32 != 0 counter name queued_espinudp queue num 0
              }
            }

            """)
    }

    func testRulesetWithBothFamiliesAndFanout() throws {
        let ruleset = try InboundRuleset(dvipas: ["2001:db8:0::64", "192.0.2.100", "192.0.2.101"], queues: 2...5)
        XCTAssertEqual(ruleset.dvipa6, ["2001:db8::64"])
        let script = ruleset.script()
        XCTAssertTrue(script.contains("set dvipa4 { type ipv4_addr; elements = { 192.0.2.100, 192.0.2.101 } }"))
        XCTAssertTrue(script.contains("set dvipa6 { type ipv6_addr; elements = { 2001:db8::64 } }"))
        XCTAssertTrue(script.contains("ip6 daddr @dvipa6 meta l4proto esp counter name queued_esp queue num 2-5 fanout"))
        XCTAssertFalse(script.contains("bypass"))
        XCTAssertEqual(InboundRuleset.removalScript(), "table inet vipsec\ndelete table inet vipsec\n")
    }

    func testRulesetRefusesAnythingButAddresses() {
        XCTAssertThrowsError(try InboundRuleset(dvipas: ["192.0.2.1; flush ruleset"], queues: 0...0))
        XCTAssertThrowsError(try InboundRuleset(dvipas: ["192.0.2.1 }"], queues: 0...0))
        XCTAssertThrowsError(try InboundRuleset(dvipas: [], queues: 0...0))
    }

    /// struct fib_rule_hdr {u8 family, dst_len, src_len, tos, table, res1, res2, action; u32 flags}.
    func testFwmarkRuleBytes() throws {
        let message = try RouteMessages.rule(add: true, family: AF_INET, priority: 100, fwmark: 0x101, table: 257)
        XCTAssertEqual(Array(message.bytes), [
            60, 0, 0, 0,   32, 0,   0x01, 0x06,   0, 0, 0, 0,   0, 0, 0, 0,   // RTM_NEWRULE, REQUEST|EXCL|CREATE
            2, 0, 0, 0,   0, 0, 0, 1,   0, 0, 0, 0,                           // AF_INET, table UNSPEC, FR_ACT_TO_TBL
            8, 0, 6, 0,   100, 0, 0, 0,                                       // FRA_PRIORITY
            8, 0, 10, 0,  0x01, 0x01, 0, 0,                                   // FRA_FWMARK
            8, 0, 16, 0,  0xff, 0xff, 0xff, 0xff,                             // FRA_FWMASK
            8, 0, 15, 0,  0x01, 0x01, 0, 0,                                   // FRA_TABLE 257
        ])
    }

    func testLocalRuleDeleteBytes() throws {
        let message = try RouteMessages.rule(add: false, family: AF_INET6, priority: 0, fwmark: nil, table: 255)
        XCTAssertEqual(Array(message.bytes), [
            44, 0, 0, 0,   33, 0,   0x01, 0x00,   0, 0, 0, 0,   0, 0, 0, 0,   // RTM_DELRULE
            10, 0, 0, 0,   255, 0, 0, 1,   0, 0, 0, 0,                        // AF_INET6, table local
            8, 0, 6, 0,   0, 0, 0, 0,
            8, 0, 15, 0,  255, 0, 0, 0,
        ])
    }

    /// struct rtmsg {u8 family, dst_len, src_len, tos, table, protocol, scope, type; u32 flags}.
    func testDefaultRouteBytes() throws {
        let gateway = try XCTUnwrap(RouteAddress("10.0.0.11"))
        let message = try RouteMessages.defaultRoute(add: true, gateway: gateway, interfaceIndex: nil, table: 257)
        XCTAssertEqual(Array(message.bytes), [
            44, 0, 0, 0,   24, 0,   0x01, 0x05,   0, 0, 0, 0,   0, 0, 0, 0,   // RTM_NEWROUTE, REQUEST|REPLACE|CREATE
            2, 0, 0, 0,   0, 4, 0, 1,   0, 0, 0, 0,                           // RTPROT_STATIC, UNIVERSE, UNICAST
            8, 0, 15, 0,  0x01, 0x01, 0, 0,                                   // RTA_TABLE
            8, 0, 5, 0,   10, 0, 0, 11,                                       // RTA_GATEWAY
        ])
        let v6 = try RouteMessages.defaultRoute(add: false, gateway: XCTUnwrap(RouteAddress("fd00::b")),
                                                interfaceIndex: nil, table: 12)
        XCTAssertEqual(Array(v6.bytes)[16..<28], [10, 0, 0, 0, 12, 4, 0, 1, 0, 0, 0, 0][...])
        XCTAssertEqual(v6.length, 16 + 12 + 8)                                 // delete: no gateway needed
    }

    func testRouteAddress() {
        XCTAssertEqual(RouteAddress("10.0.0.11")?.bytes, [10, 0, 0, 11])
        XCTAssertEqual(RouteAddress("fd00::b")?.description, "fd00::b")
        XCTAssertNil(RouteAddress("10.0.0.300"))
        XCTAssertNil(RouteAddress("eth0"))
    }
}
