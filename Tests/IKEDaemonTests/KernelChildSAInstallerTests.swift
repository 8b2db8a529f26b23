import XCTest
import IKEv2
import Cluster
import KernelSA
import XFRM
import Logging
@testable import IKEDaemon

/// The translation of a negotiated CHILD_SA into XFRM SAs and policies (what
/// `ip xfrm state/policy` will show); the kernel itself is exercised in the lab (ike-psk).
final class KernelChildSAInstallerTests: XCTestCase {
    static func child(encryption: EncryptionAlgorithm = .aesGCM16, integrity: IntegrityAlgorithm = .none,
                      keyLength: Int = 36, integrityKeyLength: Int = 0, mode: ChildSAMode = .tunnel) -> ChildSAInstallation {
        let outbound = ChildSAParameters(spi: 0xc000_0001, source: [192, 0, 2, 100], destination: [192, 0, 2, 1],
                                         encryption: encryption, encryptionKeyLengthBits: 256, integrity: integrity,
                                         encryptionKey: SecretBytes(zeroes: keyLength), integrityKey: SecretBytes(zeroes: integrityKeyLength))
        var inbound = outbound
        inbound.spi = 0xc000_0002
        inbound.source = [192, 0, 2, 1]
        inbound.destination = [192, 0, 2, 100]
        return ChildSAInstallation(name: "lab", reqid: 7, mode: mode, inbound: inbound, outbound: outbound,
                                   localTrafficSelectors: [.ipv4([10, 2, 0, 0], [10, 2, 0, 255])],
                                   remoteTrafficSelectors: [.ipv4([10, 1, 0, 0], [10, 1, 0, 255])],
                                   extendedSequenceNumbers: false, replayWindow: 64,
                                   lifetime: ChildSALifetime(softSeconds: 3600, hardSeconds: 3960), udpEncapsulation: nil)
    }

    func installer() throws -> KernelChildSAInstaller {
        KernelChildSAInstaller(kernel: try XFRMKernel(), logger: Logger(label: "test"))
    }

    func testTunnelModeGetsOutInFwdPoliciesWithTemplates() throws {
        let child = Self.child()
        let policies = try installer().policies(child)
        XCTAssertEqual(Set(policies.map(\.direction)), [.outbound, .inbound, .forward])
        XCTAssertEqual(policies.count, 3)
        let out = try XCTUnwrap(policies.first { $0.direction == .outbound })
        let into = try XCTUnwrap(policies.first { $0.direction == .inbound })
        let forward = try XCTUnwrap(policies.first { $0.direction == .forward })
        XCTAssertEqual(out.selector.source?.description, "10.2.0.0/24")
        XCTAssertEqual(out.selector.destination?.description, "10.1.0.0/24")
        XCTAssertEqual(into.selector.source?.description, "10.1.0.0/24")
        XCTAssertEqual(out.templates.first?.destination?.description, "192.0.2.1")
        XCTAssertEqual(into.templates.first?.source?.description, "192.0.2.1")
        XCTAssertEqual(forward.templates.first?.reqid, 7)
        XCTAssertEqual(out.templates.first?.mode, .tunnel)
        XCTAssertEqual(out.priority, 2000)
        XCTAssertEqual(Set(try installer().policies(Self.child(mode: .transport)).map(\.direction)), [.outbound, .inbound],
                       "transport mode: no fwd")
    }

    func testStatesCarryKernelAlgorithmsReplayAndLifetimes() throws {
        let child = Self.child()
        let inbound = try installer().states(child).inbound
        XCTAssertEqual(inbound.aead?.name, "rfc4106(gcm(aes))")
        XCTAssertEqual(inbound.aead?.key.count, 36)
        XCTAssertEqual(inbound.id.spi, 0xc000_0002)
        XCTAssertEqual(inbound.reqid, 7)
        XCTAssertEqual(inbound.replay.window, 64)
        XCTAssertEqual(inbound.lifetime.hardAddExpireSeconds, 3960)
        XCTAssertNoThrow(try inbound.validate())
        let outbound = try installer().states(child).outbound
        XCTAssertEqual(outbound.replay.window, 0)
        let cbc = Self.child(encryption: .aesCBC, integrity: .hmacSHA2_384_192, keyLength: 32, integrityKeyLength: 48)
        let cbcState = try installer().states(cbc).outbound
        XCTAssertEqual(cbcState.encryption?.name, "cbc(aes)")
        XCTAssertEqual(cbcState.integrity?.name, "hmac(sha384)")
        XCTAssertEqual(cbcState.integrity?.bits, 192)
        XCTAssertNoThrow(try cbcState.validate())
        let chacha = Self.child(encryption: .chacha20Poly1305)
        XCTAssertEqual(try installer().states(chacha).inbound.aead?.name, "rfc7539esp(chacha20,poly1305)")
        XCTAssertThrowsError(try installer().states(Self.child(encryption: EncryptionAlgorithm(rawValue: 3)))) {
            XCTAssertTrue("\($0)".contains("has no kernel translation"), "\($0)")
        }
    }

    /// IPv4 selectors over IPv6 gateways: tunnel-mode SAs take inner packets of either
    /// family (XFRM_STATE_AF_UNSPEC); same-family SAs keep their family (lab ike-ipv6).
    func testMixedFamilyTunnelStatesAreAddressFamilyUnspecified() throws {
        let same = Self.child()
        XCTAssertFalse(try installer().states(same).inbound.flags.contains(.addressFamilyUnspecified))
        var mixed = Self.child()
        let v6 = { (last: UInt8) -> [UInt8] in [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [last] }
        mixed.outbound.source = v6(0x10); mixed.outbound.destination = v6(1)
        mixed.inbound.source = v6(1); mixed.inbound.destination = v6(0x10)
        for inbound in [true, false] {
            let states = try installer().states(mixed)
            let state = inbound ? states.inbound : states.outbound
            XCTAssertTrue(state.flags.contains(.addressFamilyUnspecified), inbound ? "inbound" : "outbound")
            XCTAssertTrue(state.id.destination.isIPv6)
            XCTAssertNoThrow(try state.validate())
        }
        var transport = mixed
        transport.mode = .transport
        XCTAssertFalse(try installer().states(transport).inbound.flags.contains(.addressFamilyUnspecified),
                       "transport mode never mixes families")
        let policies = try installer().policies(mixed)
        XCTAssertEqual(policies.first?.selector.family, 2, "IPv4 selector")
        XCTAssertEqual(policies.first?.templates.first?.family, 10, "IPv6 template")
    }

    /// ESN: the kernel wants a replay window on the outbound SA too (lab ike-psk, the
    /// aes128gcm16-esn and aes256-sha512-esn cases, failed to install without it).
    func testESNStatesCarryAReplayWindowInBothDirections() throws {
        var child = Self.child()
        child.extendedSequenceNumbers = true
        for inbound in [true, false] {
            let states = try installer().states(child)
            let state = inbound ? states.inbound : states.outbound
            XCTAssertTrue(state.replay.extendedSequenceNumbers)
            XCTAssertEqual(state.replay.window, 64, inbound ? "inbound" : "outbound")
            XCTAssertNoThrow(try state.validate(), inbound ? "inbound" : "outbound")
        }
    }

    /// A standalone gateway takes many selectors (strongSwan's peers send dozens: lab
    /// ike-fragments has 60); the cluster wire carries 16 per SA, and refuses more by name.
    func testAStandaloneGatewayTakesSixtySelectorsTheClusterWireSixteen() throws {
        var child = Self.child()
        child.localTrafficSelectors = (0..<60).map { TrafficSelector.ipv4([10, 2, UInt8($0), 0], [10, 2, UInt8($0), 255]) }
        let policies = try installer().policies(child)
        XCTAssertEqual(policies.count, 60 * 3, "in, fwd and out for each of the 60 selectors")
        XCTAssertThrowsError(try ChildSADescriptions.make(of: child, ids: [ClusterSAID(1), ClusterSAID(2)], outbound: .notApplicable)) {
            XCTAssertTrue("\($0)".contains("need more than 16 kernel selectors (60 local, 1 remote)"), "\($0)")
        }
    }
}
