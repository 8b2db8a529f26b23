import XCTest
import Cluster
import IKEv2
import NIOCore
import Netlink
@testable import KernelSA
@testable import XFRM

/// The standalone gateway and a target program the same CHILD_SA identically. Both run the
/// same translation now, so what can still differ is what reaches the target: its SA
/// descriptions arrive over the cluster wire (InstallSA), and the netlink requests both sides
/// would send are compared byte for byte. A field the wire drops or alters (a packet limit, a
/// selector's port, the encap) fails here.
final class OneTranslationTests: XCTestCase {
    static func child(encryption: EncryptionAlgorithm = .aesGCM16, integrity: IntegrityAlgorithm = .none, keyLength: Int = 36,
                      integrityKeyLength: Int = 0, mode: ChildSAMode = .tunnel, esn: Bool = false, v6: Bool = false,
                      encap: Bool = false) -> ChildSAInstallation {
        let us: [UInt8] = v6 ? [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [0x64] : [192, 0, 2, 100]
        let peer: [UInt8] = v6 ? [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [0x01] : [192, 0, 2, 1]
        let key = SecretBytes((0..<keyLength).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) })
        let integrityKey = SecretBytes((0..<integrityKeyLength).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) })
        let outbound = ChildSAParameters(spi: 0xc000_0001, source: us, destination: peer, encryption: encryption,
                                         encryptionKeyLengthBits: 256, integrity: integrity,
                                         encryptionKey: key, integrityKey: integrityKey)
        var inbound = outbound
        inbound.spi = 0xc000_0002
        inbound.source = peer
        inbound.destination = us
        return ChildSAInstallation(
            name: "net", reqid: 9, mode: mode, inbound: inbound, outbound: outbound,
            localTrafficSelectors: [.ipv4([10, 2, 0, 0], [10, 2, 0, 255])],
            remoteTrafficSelectors: [.ipv4([10, 1, 0, 1], [10, 1, 0, 5]), .ipv4([10, 3, 0, 0], [10, 3, 255, 255], ipProtocolID: 17)],
            extendedSequenceNumbers: esn, replayWindow: 128,
            lifetime: ChildSALifetime(softSeconds: 3000, hardSeconds: 3300, softBytes: 1 << 30, hardBytes: 1 << 31,
                                      softPackets: 1 << 20, hardPackets: 1 << 21),
            udpEncapsulation: encap ? UDPEncapsulation(sourcePort: 4500, destinationPort: 31_000) : nil)
    }

    static let cases: [(String, ChildSAInstallation)] = [
        ("AES-GCM tunnel", child()),
        ("AES-CBC + SHA-384 transport", child(encryption: .aesCBC, integrity: .hmacSHA2_384_192, keyLength: 32,
                                              integrityKeyLength: 48, mode: .transport)),
        ("ChaCha20 with ESN", child(encryption: .chacha20Poly1305, esn: true)),
        ("IPv4 in an IPv6 tunnel, NAT-T", child(v6: true, encap: true)),
    ]

    /// What the routing node sends, as a target decodes it.
    func overTheWire(_ sa: SADescription) throws -> SADescription {
        var buffer = ByteBufferAllocator().buffer(capacity: 512)
        ClusterMessage.InstallSA(sa: sa).write(to: &buffer)
        return try ClusterMessage.InstallSA(parsing: &buffer).sa
    }

    func bytes(_ builder: NetlinkMessageBuilder) -> [UInt8] { Array(builder.bytes) }

    func testTheStandaloneGatewayAndATargetSendTheKernelTheSameRequests() throws {
        for (name, child) in Self.cases {
            let standalone = try ChildSADescriptions.make(of: child, ids: [ClusterSAID(1), ClusterSAID(2)], outbound: .notApplicable)
            let owner = try NodeID("t1")
            let cluster = try ChildSADescriptions.make(of: child, ids: [ClusterSAID(41), ClusterSAID(42)], outbound: .perTarget(owner: owner))
                .map(overTheWire)
            XCTAssertEqual(standalone.count, 2)
            for (local, target) in zip(standalone, cluster) {
                let here = try XFRMStateMessages.add(try XFRMTranslation.state(for: local), update: false)
                let there = try XFRMStateMessages.add(try XFRMTranslation.state(for: target), update: false)
                XCTAssertEqual(bytes(here), bytes(there), "\(name): the \(local.direction) SA")
                let herePolicies = try XFRMTranslation.policies(for: local).map { bytes(try XFRMPolicyMessages.add($0, update: true)) }
                let therePolicies = try XFRMTranslation.policies(for: target).map { bytes(try XFRMPolicyMessages.add($0, update: true)) }
                XCTAssertEqual(herePolicies, therePolicies, "\(name): the \(local.direction) SA's policies")
                XCTAssertFalse(herePolicies.isEmpty)
            }
        }
    }

    func testWhatTheTranslationCarries() throws {
        let sas = try ChildSADescriptions.make(of: Self.child(mode: .transport, encap: true), ids: [ClusterSAID(1), ClusterSAID(2)],
                                              outbound: .notApplicable)
        let inbound = try XFRMTranslation.state(for: sas[0]), outbound = try XFRMTranslation.state(for: sas[1])
        XCTAssertEqual(inbound.lifetime.softPacketLimit, 1 << 20, "packet limits reach the kernel (the cluster lost them)")
        XCTAssertEqual(outbound.lifetime.hardPacketLimit, 1 << 21)
        XCTAssertEqual(inbound.replay.window, 128)
        XCTAssertEqual(outbound.replay.window, 0, "no window on an outbound SA without ESN")
        XCTAssertEqual(inbound.encap?.sourcePort, 31_000, "the peer's port is where inbound ESP comes from")
        XCTAssertEqual(outbound.encap?.destinationPort, 31_000)
        XCTAssertNil(inbound.selector.source, "transport mode with several selectors: no SA selector")
        let policies = try XFRMTranslation.policies(for: sas[0])
        XCTAssertFalse(policies.contains { $0.direction == .forward }, "transport mode: no fwd")
        // 10.1.0.1-10.1.0.5 is three prefixes, 10.3.0.0/16 UDP one: four inbound policies.
        XCTAssertEqual(policies.map { $0.selector.source?.description ?? "" }.sorted(),
                       ["10.1.0.1/32", "10.1.0.2/31", "10.1.0.4/31", "10.3.0.0/16"])
        XCTAssertEqual(policies.first { $0.selector.source?.description == "10.3.0.0/16" }?.selector.upperProtocol, 17)
        XCTAssertEqual(policies.first?.templates.first?.source?.description, "192.0.2.1", "transport templates carry the addresses")
    }

    func testASelectorTheKernelCannotHoldRefusesTheCHILDSA() {
        var child = Self.child()
        child.remoteTrafficSelectors = [.ipv4([10, 1, 0, 0], [10, 1, 0, 255], ipProtocolID: 6, ports: 8000...8080)]
        XCTAssertThrowsError(try ChildSADescriptions.make(of: child, ids: [ClusterSAID(1), ClusterSAID(2)], outbound: .notApplicable)) {
            XCTAssertTrue(($0 as? ChildSATranslationError)?.description.contains("ports 8000-8080") == true, "\($0)")
        }
    }
}
