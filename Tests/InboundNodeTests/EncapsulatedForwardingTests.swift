import Cluster
import Inbound
@testable import InboundNode
import InboundRouting
import Logging
import XCTest

/// What the distributor asks the kernel for per target in each mode (nothing is installed:
/// `forwardingTarget` only builds the value): direct, the planner's mark via the target's
/// cluster address; encapsulated, its own mark (0x100 above) into `vgre<mark>` from this
/// node's cluster address, gre between IPv4 and ip6gre between IPv6 cluster addresses; the
/// GRE source is of the DVIPA's family.
final class EncapsulatedForwardingTests: XCTestCase {
    func distributor(greLocal: String?, dvipa: String = "192.0.2.100") throws -> InboundDistributor {
        var configuration = InboundDistributor.Configuration(dvipa: dvipa)
        configuration.greLocal = greLocal
        return try InboundDistributor(configuration: configuration, logger: Logger(label: "test"))
    }

    func testDirectAndEncapsulatedTargets() throws {
        let target = IPAddress.v4(10, 0, 0, 11)
        let direct = try distributor(greLocal: nil).forwardingTarget(mark: 0x5601, gateway: target)
        XCTAssertEqual(direct.mark, 0x5601)
        XCTAssertNil(direct.tunnel)

        let encapsulated = try distributor(greLocal: "10.0.0.1")
        XCTAssertEqual(encapsulated.configuration.mode, .encapsulated)
        let tunnelled = try encapsulated.forwardingTarget(mark: 0x5601, gateway: target)
        XCTAssertEqual(tunnelled.mark, 0x5701)
        XCTAssertEqual(tunnelled.table, 0x5701, "its own table: never the direct route")
        XCTAssertEqual(tunnelled.gateway, RouteAddress("10.0.0.11"))
        XCTAssertEqual(tunnelled.tunnel, GRETunnel(name: "vgre5601", local: RouteAddress("10.0.0.1")!))
        XCTAssertThrowsError(try encapsulated.forwardingTarget(mark: 0x5601, gateway: try IPAddress(bytes: [0xfd] + [UInt8](repeating: 0, count: 14) + [1])),
                             "an IPv6 target cannot get IPv4 GRE")
    }

    func testIPv6DVIPAGetsIP6GRETargets() throws {
        let encapsulated = try distributor(greLocal: "fd00:c::1", dvipa: "2001:db8::100")
        let v6 = try IPAddress(bytes: [0xfd, 0, 0, 0x0c] + [UInt8](repeating: 0, count: 11) + [0x11])
        let tunnelled = try encapsulated.forwardingTarget(mark: 0x5602, gateway: v6)
        XCTAssertEqual(tunnelled.mark, 0x5702)
        XCTAssertEqual(tunnelled.gateway, RouteAddress("fd00:c::11"))
        XCTAssertEqual(tunnelled.tunnel, GRETunnel(name: "vgre5602", local: RouteAddress("fd00:c::1")!))
        XCTAssertThrowsError(try encapsulated.forwardingTarget(mark: 0x5602, gateway: .v4(10, 0, 0, 11)),
                             "an IPv4 target cannot get ip6gre") { error in
            XCTAssertTrue("\(error)".contains("10.0.0.11"), "\(error)")
        }
    }

    /// Mixed families (IPv6 ESP in IPv4 GRE, IPv4 ESP in ip6gre) are refused.
    func testEncapsulatedModeRefusesMixedFamilies() {
        XCTAssertThrowsError(try distributor(greLocal: "fd00::1")) { error in
            XCTAssertTrue("\(error)".contains("DVIPA's family"), "\(error)")
        }
        XCTAssertThrowsError(try distributor(greLocal: "10.0.0.1", dvipa: "2001:db8::100"))
        XCTAssertThrowsError(try distributor(greLocal: "not-an-address"))
    }
}
