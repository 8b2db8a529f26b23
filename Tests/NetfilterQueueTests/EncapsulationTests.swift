import CMNL
import XCTest
@testable import InboundRouting

/// Encapsulated mode's messages: struct ifinfomsg {u8 family, pad; u16 type; i32 index;
/// u32 flags, change} and IFLA_LINKINFO {IFLA_INFO_KIND "gre"|"ip6gre", IFLA_INFO_DATA {IFLA_GRE_*}}.
final class EncapsulationTests: XCTestCase {
    func testGRELinkBytes() throws {
        let message = try LinkMessages.addGRE(name: "vgre101", local: XCTUnwrap(RouteAddress("10.0.0.1")),
                                              remote: XCTUnwrap(RouteAddress("10.0.0.11")))
        XCTAssertEqual(Array(message.bytes), [
            92, 0, 0, 0,   16, 0,   0x01, 0x06,   0, 0, 0, 0,   0, 0, 0, 0,   // RTM_NEWLINK, REQUEST|EXCL|CREATE
            0, 0, 0, 0,   0, 0, 0, 0,   0, 0, 0, 0,   0, 0, 0, 0,             // ifinfomsg: all zero
            12, 0, 3, 0,   0x76, 0x67, 0x72, 0x65, 0x31, 0x30, 0x31, 0,       // IFLA_IFNAME "vgre101\0"
            48, 0, 18, 0x80,                                                  // IFLA_LINKINFO | NLA_F_NESTED
            8, 0, 1, 0,    0x67, 0x72, 0x65, 0,                               //   IFLA_INFO_KIND "gre\0"
            36, 0, 2, 0x80,                                                   //   IFLA_INFO_DATA | NLA_F_NESTED
            8, 0, 6, 0,    10, 0, 0, 1,                                       //     IFLA_GRE_LOCAL
            8, 0, 7, 0,    10, 0, 0, 11,                                      //     IFLA_GRE_REMOTE
            5, 0, 8, 0,    64, 0, 0, 0,                                       //     IFLA_GRE_TTL 64
            5, 0, 10, 0,   1, 0, 0, 0,                                        //     IFLA_GRE_PMTUDISC 1
        ])
    }

    /// `ip link add vgre101 type ip6gre local fd00:c::1 remote fd00:c::11 hoplimit 64 encaplimit none`:
    /// kind "ip6gre", 16-byte endpoints, IFLA_GRE_FLAGS with IP6_TNL_F_IGN_ENCAP_LIMIT (no
    /// destination options header before GRE), no IFLA_GRE_PMTUDISC (IPv4 only). iproute2 sends
    /// its zero defaults too (keys, flowinfo, fwmark; ENCAP_LIMIT 4, ignored with the flag):
    /// the kernel's values when absent, so the device is the same.
    func testIP6GRELinkBytes() throws {
        let message = try LinkMessages.addGRE(name: "vgre101", local: XCTUnwrap(RouteAddress("fd00:c::1")),
                                              remote: XCTUnwrap(RouteAddress("fd00:c::11")))
        let zeros11 = [UInt8](repeating: 0, count: 11)
        var expected: [UInt8] = [
            120, 0, 0, 0,  16, 0,   0x01, 0x06,   0, 0, 0, 0,   0, 0, 0, 0,   // RTM_NEWLINK, REQUEST|EXCL|CREATE
            0, 0, 0, 0,   0, 0, 0, 0,   0, 0, 0, 0,   0, 0, 0, 0,             // ifinfomsg: all zero
            12, 0, 3, 0,   0x76, 0x67, 0x72, 0x65, 0x31, 0x30, 0x31, 0,       // IFLA_IFNAME "vgre101\0"
            76, 0, 18, 0x80,                                                  // IFLA_LINKINFO | NLA_F_NESTED
            11, 0, 1, 0,   0x69, 0x70, 0x36, 0x67, 0x72, 0x65, 0, 0,          //   IFLA_INFO_KIND "ip6gre\0" + pad
            60, 0, 2, 0x80,                                                   //   IFLA_INFO_DATA | NLA_F_NESTED
        ]
        expected += [20, 0, 6, 0, 0xfd, 0, 0, 0x0c] + zeros11 + [0x01]       //     IFLA_GRE_LOCAL fd00:c::1
        expected += [20, 0, 7, 0, 0xfd, 0, 0, 0x0c] + zeros11 + [0x11]       //     IFLA_GRE_REMOTE fd00:c::11
        expected += [5, 0, 8, 0, 64, 0, 0, 0]                                //     IFLA_GRE_TTL: hop limit 64
        expected += [8, 0, 13, 0, 1, 0, 0, 0]                                //     IFLA_GRE_FLAGS IGN_ENCAP_LIMIT
        XCTAssertEqual(Array(message.bytes), expected)
    }

    func testGRERefusesMixedFamiliesAndBadNames() throws {
        let v4 = try XCTUnwrap(RouteAddress("10.0.0.1")), v6 = try XCTUnwrap(RouteAddress("fd00::1"))
        XCTAssertThrowsError(try LinkMessages.addGRE(name: "x", local: v4, remote: v6))
        XCTAssertThrowsError(try LinkMessages.addGRE(name: "x", local: v6, remote: v4))
        XCTAssertThrowsError(try LinkMessages.addGRE(name: "a-name-of-16-chr", local: v6, remote: v6))
        XCTAssertThrowsError(try LinkMessages.addGRE(name: "a-name-of-16-chr", local: v4, remote: v4))
        XCTAssertThrowsError(try LinkMessages.addGRE(name: "", local: v4, remote: v4))
    }

    func testSetUpAndDeleteBytes() throws {
        let up = try LinkMessages.setUp(interfaceIndex: 7)
        XCTAssertEqual(Array(up.bytes)[16..<32], [0, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0][...])
        let delete = try LinkMessages.delete(interfaceIndex: 7)
        XCTAssertEqual(Array(delete.bytes)[4..<6], [17, 0][...])                                 // RTM_DELLINK
    }

    func testRouteIntoTheTunnelIsScopeLinkWithAnOutputDevice() throws {
        let message = try RouteMessages.defaultDeviceRoute(add: true, family: AF_INET, interfaceIndex: 9, table: 257)
        XCTAssertEqual(Array(message.bytes)[16...], [
            2, 0, 0, 0,   0, 4, 253, 1,   0, 0, 0, 0,                         // scope RT_SCOPE_LINK
            8, 0, 15, 0,  0x01, 0x01, 0, 0,                                   // RTA_TABLE 257
            8, 0, 4, 0,   9, 0, 0, 0,                                         // RTA_OIF 9
        ][...])
    }

    func testTargetAcceptsGREOnlyFromTheRouter() throws {
        let decapsulation = TargetDecapsulation(router: try XCTUnwrap(RouteAddress("10.0.0.1")),
                                                local: try XCTUnwrap(RouteAddress("10.0.0.11")))
        XCTAssertEqual(decapsulation.script(), """
            table inet vipsec_target
            delete table inet vipsec_target
            table inet vipsec_target {
              counter gre_refused { }
              chain prerouting {
                type filter hook prerouting priority raw; policy accept;
                meta l4proto gre ip saddr != 10.0.0.1 counter name gre_refused drop
                meta nfproto ipv6 meta l4proto gre counter name gre_refused drop
              }
            }

            """)
    }

    /// IPv6: the same filter with `ip6 saddr` (`meta l4proto` finds GRE behind extension headers).
    func testTargetAcceptsIPv6GREOnlyFromTheRouter() throws {
        let decapsulation = TargetDecapsulation(router: try XCTUnwrap(RouteAddress("fd00:c::1")),
                                                local: try XCTUnwrap(RouteAddress("fd00:c::11")))
        XCTAssertEqual(decapsulation.script(), """
            table inet vipsec_target
            delete table inet vipsec_target
            table inet vipsec_target {
              counter gre_refused { }
              chain prerouting {
                type filter hook prerouting priority raw; policy accept;
                meta l4proto gre ip6 saddr != fd00:c::1 counter name gre_refused drop
                meta nfproto ipv4 meta l4proto gre counter name gre_refused drop
              }
            }

            """)
    }
}
