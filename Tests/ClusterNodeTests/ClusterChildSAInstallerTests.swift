import Cluster
import Foundation
import IKEv2
import NIOPosix
import XCTest
@testable import ClusterNode

/// The IKE daemon's door (`ChildSAInstaller`) on the routing node: a negotiated CHILD_SA
/// reaches the targets, and the install's future completes only once they hold it.
final class ClusterChildSAInstallerTests: ClusterHarnessTestCase {
    func child(inboundSPI: UInt32, outboundSPI: UInt32) -> ChildSAInstallation {
        Self.child(inboundSPI: inboundSPI, outboundSPI: outboundSPI)
    }

    static func child(inboundSPI: UInt32, outboundSPI: UInt32) -> ChildSAInstallation {
        let peer: [UInt8] = [192, 0, 2, 1], dvipa: [UInt8] = [192, 0, 2, 100]
        func key(_ seed: UInt8) -> SecretBytes { SecretBytes((0..<20).map { seed &+ $0 }) }
        return ChildSAInstallation(
            name: "lab", reqid: 7, mode: .tunnel,
            inbound: ChildSAParameters(spi: inboundSPI, source: peer, destination: dvipa, encryption: .aesGCM16,
                                       encryptionKeyLengthBits: 128, integrity: .none, encryptionKey: key(1), integrityKey: key(0)),
            outbound: ChildSAParameters(spi: outboundSPI, source: dvipa, destination: peer, encryption: .aesGCM16,
                                        encryptionKeyLengthBits: 128, integrity: .none, encryptionKey: key(2), integrityKey: key(0)),
            localTrafficSelectors: [.ipv4([10, 2, 0, 0], [10, 2, 0, 255])],
            remoteTrafficSelectors: [.ipv4([10, 1, 0, 0], [10, 1, 0, 255])],
            extendedSequenceNumbers: false, replayWindow: 32,
            lifetime: ChildSALifetime(softBytes: 900_000, hardBytes: 1_000_000), udpEncapsulation: nil)
    }

    func testTranslationKeepsDirectionsSelectorsAndKeys() throws {
        let sas = try ClusterChildSA.descriptions(of: child(inboundSPI: 0x11, outboundSPI: 0x22),
                                                  ids: [ClusterSAID(1), ClusterSAID(2)],
                                                  outboundOwner: try NodeID("t1"), outboundMode: .perTarget)
        XCTAssertEqual(sas.map(\.spi), [0x11, 0x22])
        XCTAssertEqual(sas.map(\.direction), [.inbound, .outbound])
        XCTAssertEqual(sas[0].destination, .v4(192, 0, 2, 100), "inbound SAs end at the DVIPA")
        XCTAssertEqual(sas[0].selectors.first?.source, .v4(10, 1, 0, 0))
        XCTAssertEqual(sas[0].selectors.first?.sourcePrefixLength, 24)
        XCTAssertEqual(sas[1].selectors.first?.source, .v4(10, 2, 0, 0))
        XCTAssertEqual(sas[1].sequencing, .perTarget(owner: try NodeID("t1")))
        XCTAssertEqual(sas[0].algorithms.first?.name, "rfc4106(gcm(aes))")
        XCTAssertEqual(sas[0].algorithms.first?.key, SecretBytes((0..<20).map { 1 + $0 }))
        XCTAssertEqual(sas[0].lifetimes.hardByteLimit, 1_000_000)
        XCTAssertFalse("\(sas)".contains("0102030405"), "descriptions are redacted")
        XCTAssertThrowsError(try ClusterChildSA.descriptions(of: child(inboundSPI: 1, outboundSPI: 2), ids: [ClusterSAID(1), ClusterSAID(2)],
                                                             outboundOwner: nil, outboundMode: .perTarget),
                             "per-target mode needs an owner")
    }

    func testInstallReturnsOnceTheTargetsHoldTheCHILDSA() async throws {
        try await harness.startService()
        let first = RecordingKernel(), second = RecordingKernel()
        try await harness.startAgent("t1", kernel: first).welcomed.get()
        try await harness.startAgent("t2", kernel: second).welcomed.get()
        let installer = ClusterChildSAInstaller(service: harness.service)
        let installation = child(inboundSPI: 0xb001, outboundSPI: 0xb002)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        try await installer.install(installation, on: loop).get()
        XCTAssertTrue(first.spis.contains(0xb001) && second.spis.contains(0xb001), "the inbound SA is on both targets")
        XCTAssertEqual((first.spis.contains(0xb002) ? 1 : 0) + (second.spis.contains(0xb002) ? 1 : 0), 1,
                       "the negotiated outbound SA belongs to exactly one target")
        try await installer.delete(installation, on: loop).get()
        let gone = await eventually { !first.spis.contains(0xb001) && !second.spis.contains(0xb001) }
        XCTAssertTrue(gone)
    }

    func testInstallWithoutTargetsThrows() async throws {
        try await harness.startService()
        let installer = ClusterChildSAInstaller(service: harness.service)
        let installation = child(inboundSPI: 0xc001, outboundSPI: 0xc002)
        do {
            try await installer.install(installation, on: MultiThreadedEventLoopGroup.singleton.next()).get()
            XCTFail("no target can hold the CHILD_SA: the IKE daemon must not make it usable")
        } catch is ClusterChildSAError {
        }
    }

    func testADeleteRightAfterTheInstallStartedRemovesItsSAsOnceTheTargetsHoldThem() async throws {
        try await harness.startService()
        let kernel = RecordingKernel()
        try await harness.startAgent("t1", kernel: kernel).welcomed.get()
        let installer = ClusterChildSAInstaller(service: harness.service)
        let installation = child(inboundSPI: 0xd001, outboundSPI: 0xd002)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        // The IKE_SA closes in the same breath: the delete is called before the install ran.
        let installed = installer.install(installation, on: loop)
        try await installer.delete(installation, on: loop).get()
        try? await installed.get()
        let gone = await eventually { !kernel.spis.contains(0xd001) && !kernel.spis.contains(0xd002) }
        XCTAssertTrue(gone, "deleted while in flight: its SAs must not stay on the target (held: \(kernel.spis))")
    }

    /// A rekeyed CHILD_SA (delete_rekeyed_delay): its outbound SA leaves the targets at once,
    /// its inbound SA stays on every target until the delete.
    func testDeleteOutboundLeavesTheInboundSAOnEveryTargetUntilTheDelete() async throws {
        try await harness.startService()
        let first = RecordingKernel(), second = RecordingKernel()
        try await harness.startAgent("t1", kernel: first).welcomed.get()
        try await harness.startAgent("t2", kernel: second).welcomed.get()
        let installer = ClusterChildSAInstaller(service: harness.service)
        let installation = child(inboundSPI: 0xe001, outboundSPI: 0xe002)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        try await installer.install(installation, on: loop).get()
        XCTAssertTrue(first.spis.contains(0xe002) || second.spis.contains(0xe002))
        try await installer.deleteOutbound(installation, on: loop).get()
        let outboundGone = await eventually { !first.spis.contains(0xe002) && !second.spis.contains(0xe002) }
        XCTAssertTrue(outboundGone, "the outbound SA goes at once (held: \(first.spis), \(second.spis))")
        XCTAssertTrue(first.spis.contains(0xe001) && second.spis.contains(0xe001), "the inbound SA stays on both targets")
        let service = harness.service!
        let inboundListed = try await service.loop.submit { service.authority.currentSAs.contains { $0.spi == 0xe001 } }.get()
        XCTAssertTrue(inboundListed, "the routing node still distributes it (status, stop, new members)")
        try await installer.deleteOutbound(installation, on: loop).get()   // twice: nothing more goes
        XCTAssertTrue(first.spis.contains(0xe001) && second.spis.contains(0xe001))
        try await installer.delete(installation, on: loop).get()
        let inboundGone = await eventually { !first.spis.contains(0xe001) && !second.spis.contains(0xe001) }
        XCTAssertTrue(inboundGone, "the delete takes the inbound SA")
    }
}
