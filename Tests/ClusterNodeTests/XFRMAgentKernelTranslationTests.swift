import XCTest
import Cluster
import KernelSA
import XFRM
@testable import ClusterNode

/// The agent's translation of a distributed SA into XFRM state and policies (what
/// `ip xfrm state/policy` on the target shows); the kernel itself is exercised in the lab.
final class XFRMAgentKernelTranslationTests: XCTestCase {
    func testTunnelSAKeepsItsFamilyAndGetsInAndForwardPolicies() throws {
        let sa = testSA(1, spi: 0xc100_0001)
        let state = try XFRMAgentKernel.state(for: sa, outputSequence: nil)
        XCTAssertEqual(state.aead?.name, "rfc4106(gcm(aes))")
        XCTAssertEqual(state.id.destination.description, "192.0.2.100")
        XCTAssertFalse(state.flags.contains(.addressFamilyUnspecified))
        XCTAssertNoThrow(try state.validate())
        XCTAssertEqual(try XFRMTranslation.policies(for: sa).map(\.direction), [.inbound, .forward])
    }

    /// IPv4 selectors over an IPv6 DVIPA: the SA must take inner packets of the other
    /// family (XFRM_STATE_AF_UNSPEC), the policies keep the IPv4 selector and an IPv6 template.
    func testIPv4TrafficThroughAnIPv6TunnelIsAddressFamilyUnspecified() throws {
        var sa = testSA(2, spi: 0xc100_0002, direction: .outbound)
        sa.source = try IPAddress(bytes: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [0x10])
        sa.destination = try IPAddress(bytes: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [0x01])
        let state = try XFRMAgentKernel.state(for: sa, outputSequence: 1)
        XCTAssertTrue(state.flags.contains(.addressFamilyUnspecified))
        XCTAssertTrue(state.id.destination.isIPv6)
        XCTAssertNoThrow(try state.validate())
        let policies = try XFRMTranslation.policies(for: sa)
        XCTAssertEqual(policies.map(\.direction), [.outbound])
        XCTAssertEqual(policies.first?.selector.family, 2)
        XCTAssertEqual(policies.first?.templates.first?.family, 10)
        sa.mode = .transport
        XCTAssertFalse(try XFRMAgentKernel.state(for: sa, outputSequence: 1).flags.contains(.addressFamilyUnspecified),
                       "transport mode never mixes families")
    }
}

final class XFRMAgentKernelEventThresholdTests: XCTestCase {
    /// Inbound SAs report every half window of advance (and the tail and late packets on a
    /// timer): the routing node's check-only window is moved by these alone. Outbound SAs
    /// never report (the kernel's default would send one NEWAE per 2 packets sent).
    func testInboundSAsReportEveryHalfWindowOutboundNever() throws {
        let inbound = testSA(1, spi: 0xc100_0001)
        let outbound = testSA(2, spi: 0xc100_0002, direction: .outbound)
        let half = UInt32(max(1, inbound.replayWindow / 2))
        XCTAssertEqual(XFRMTranslation.eventThresholds(for: inbound), XFRMEventThresholds(replayPackets: half, timer: 25))
        XCTAssertEqual(try XFRMAgentKernel.state(for: inbound, outputSequence: nil).eventThresholds.replayPackets, half)
        var narrow = inbound
        narrow.replayWindow = 1
        XCTAssertEqual(XFRMTranslation.eventThresholds(for: narrow).replayPackets, 1, "a window of 1: every advance")
        XCTAssertEqual(XFRMTranslation.eventThresholds(for: outbound), XFRMEventThresholds(replayPackets: .max, timer: 0))
        var noWindow = inbound
        noWindow.replayWindow = 0
        XCTAssertEqual(XFRMTranslation.eventThresholds(for: noWindow).replayPackets, .max)
    }
}

final class ReversePathFilterTests: XCTestCase {
    /// The kernel applies max(conf/all, conf/IFACE): strict (1) anywhere drops the forwarded
    /// ESP (source: the peer, routed elsewhere); loose (2) and off (0) are left as they are;
    /// and no other interface ends up less strict than it was.
    func testOnlyTheClusterInterfaceIsLoosened() {
        let others = ["wan0": 0, "lo": 0, "eth1": 2, "default": 0]
        func writes(_ all: Int, _ value: Int) -> [String] {
            ReversePathFilter.loosening(all: all, interface: "clu0", value: value, others: others).map { "\($0.which)=\($0.value)" }
        }
        XCTAssertEqual(writes(1, 1), ["default=1", "lo=1", "wan0=1", "all=0", "clu0=2"],
                       "all=1 made every interface strict: they keep 1 on their own before all goes to 0")
        XCTAssertEqual(writes(0, 1), ["clu0=2"])
        XCTAssertEqual(writes(1, 0), ["default=1", "lo=1", "wan0=1", "all=0", "clu0=2"], "all=1 with clu0=0 is still strict on clu0")
        XCTAssertEqual(writes(2, 0), [])
        XCTAssertEqual(writes(0, 2), [])
        XCTAssertEqual(writes(2, 2), [])
        XCTAssertEqual(writes(1, 2), [], "clu0 is loose already: max(1, 2) = 2")
        // The effective value, max(all, own), of every other interface is unchanged.
        for (all, value) in [(1, 1), (1, 0), (1, 2)] {
            var now = others.merging(["all": all, "clu0": value]) { a, _ in a }
            for write in ReversePathFilter.loosening(all: all, interface: "clu0", value: value, others: others) { now[write.which] = write.value }
            for (name, own) in others where name != "default" {
                XCTAssertEqual(max(now["all"]!, now[name]!), max(all, own), "\(name) with all=\(all)")
            }
            XCTAssertEqual(max(now["all"]!, now["clu0"]!), 2, "clu0 loose with all=\(all), clu0=\(value)")
        }
    }
}
