import Cluster
import Foundation
import IKECrypto
import IKEv2
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import VipsecTestSupport
import XCTest
@testable import ClusterNode

/// Issue 16's proof that no IKE worker waits for the cluster: one target never acknowledges;
/// while CHILD_SA installs are pending on it, IKE workers go on serving other IKE_SAs (new
/// ones and an established one, on two workers), and the pending CHILD_SAs resolve at the
/// install timeout as documented (ClusterService, SAAuthority): the laggard is dropped; a
/// CHILD_SA the other target holds whole is installed and its held IKE_AUTH response goes
/// out; one whose outbound SA the laggard owned is installed nowhere whole and fails: the
/// peer still gets its response, and the daemon deletes that CHILD_SA with it.
final class IKEWorkersWhileATargetStallsTests: ClusterHarnessTestCase {
    let provider = OpenSSLCryptoProvider()
    let dvipa = InMemoryIKEPair.dvipa, peer = InMemoryIKEPair.peer

    func configuration(initiator: Bool, reqid: UInt32 = 1) throws -> IKESAConfiguration {
        try InMemoryIKEPair.configuration(initiator: initiator, reqid: reqid, secret: "stall test key")
    }

    static func sent(_ actions: [IKEAction]) -> [UInt8]? {
        actions.lazy.compactMap { if case .send(let bytes) = $0 { return bytes }; return nil }.first
    }

    /// An IKE_SA pair up to the responder's install of its CHILD_SA (the IKE_AUTH response held).
    struct Negotiation {
        var initiator: IKESA
        var responder: IKESA
        var child: ChildSAInstallation
    }

    func negotiate(reqid: UInt32 = 1) throws -> Negotiation {
        var initiator = try IKESA.initiator(configuration: configuration(initiator: true, reqid: reqid), provider: provider, local: peer, remote: dvipa)
        var responder = try IKESA.responder(configuration: configuration(initiator: false, reqid: reqid), provider: provider, local: dvipa,
                                            remote: peer, initiatorSPI: initiator.initiatorSPI)
        let initRequest = try XCTUnwrap(Self.sent(initiator.start(now: 0)))
        let initResponse = try XCTUnwrap(Self.sent(responder.receive(initRequest, now: 0)))
        let authRequest = try XCTUnwrap(Self.sent(initiator.receive(initResponse, now: 0)))
        let actions = responder.receive(authRequest, now: 0)
        XCTAssertNil(Self.sent(actions), "the IKE_AUTH response waits for the install")
        let child = try XCTUnwrap(actions.lazy.compactMap { if case .install(let c) = $0 { return c }; return nil }.first)
        return Negotiation(initiator: initiator, responder: responder, child: child)
    }

    /// Reports the install's outcome to the responder and hands its response to the initiator.
    func complete(_ negotiation: inout Negotiation, installed: Bool) throws {
        let response = try XCTUnwrap(Self.sent(negotiation.responder.installCompleted(negotiation.child.reference, succeeded: installed, now: 1)))
        _ = negotiation.initiator.receive(response, now: 1)
    }

    func testIKEWorkersServeOtherIKESAsWhileATargetNeverAcknowledgesAndThePendingCHILDSAResolvesAtTheInstallTimeout() async throws {
        let installTimeout = Duration.seconds(1)
        try await harness.startService(installTimeout: installTimeout)
        let kernel = RecordingKernel()
        try await harness.startAgent("t1", kernel: kernel).welcomed.get()
        let installer = ClusterChildSAInstaller(service: harness.service)
        let workers = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let first = workers.next(), second = workers.next()

        // An established IKE_SA on the second worker, installed while t1 is the only target.
        var established = try negotiate()
        try await installer.install(established.child, on: second).get()
        try complete(&established, installed: true)
        XCTAssertEqual(established.initiator.phase, .established)

        // t2 joins and never answers an install.
        let t2 = try await RawClusterClient.connect(port: harness.port, credentials: try harness.pki.credentials("t2"), group: harness.group)
        try await t2.send(try RawClusterClient.hello("t2"))
        let joined = await eventually(3) { t2.messages.contains { if case .welcome = $0 { return true } else { return false } } }
        XCTAssertTrue(joined)

        // Two CHILD_SAs whose installs are pending on t2, started on the first worker: one of
        // a new line (line 2: its outbound SA goes to t1, the first target without one), one
        // of line 1 (t1 has line 1's outbound SA already: this one's goes to t2).
        var pending = try negotiate(reqid: 2), orphaned = try negotiate(reqid: 1)
        let started = ContinuousClock.now
        let install = try await first.submit { installer.install(pending.child, on: first) }.get()
        let orphanedInstall = try await first.submit { installer.install(orphaned.child, on: first) }.get()
        let resolved = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
        install.whenComplete { _ in resolved.withLockedValue { $0 = ContinuousClock.now } }
        orphanedInstall.whenComplete { _ in resolved.withLockedValue { $0 = $0 ?? ContinuousClock.now } }

        // Meanwhile: new IKE_SAs answered on the first worker, the established one's DPD on the second.
        let newOnes = try await first.submit { [self] in
            try (0..<3).map { _ -> Bool in
                var initiator = try IKESA.initiator(configuration: configuration(initiator: true), provider: provider, local: peer, remote: dvipa)
                var responder = try IKESA.responder(configuration: configuration(initiator: false), provider: provider, local: dvipa,
                                                    remote: peer, initiatorSPI: initiator.initiatorSPI)
                guard let request = Self.sent(initiator.start(now: 0)), let response = Self.sent(responder.receive(request, now: 0)) else { return false }
                return Self.sent(initiator.receive(response, now: 0)) != nil   // the IKE_AUTH request follows: IKE_SA_INIT done
            }
        }.get()
        let dpdAnswered = try await second.submit { [established] () -> Bool in
            var pair = established
            guard let dpd = Self.sent(pair.initiator.checkLiveness(now: 2)),
                  let answer = Self.sent(pair.responder.receive(dpd, now: 2)) else { return false }
            _ = pair.initiator.receive(answer, now: 2)
            return pair.initiator.phase == .established
        }.get()
        let stillPending = resolved.withLockedValue { $0 == nil }
        XCTAssertEqual(newOnes, [true, true, true], "new IKE_SAs answered on the worker whose install is pending")
        XCTAssertTrue(dpdAnswered, "the established IKE_SA answered its peer's DPD on the other worker")
        XCTAssertTrue(stillPending, "all of it while the install was still pending on t2")

        // The pending CHILD_SAs resolve at the install timeout: t2 dropped, t1 holds line 2's.
        try await install.get()
        let took = try XCTUnwrap(resolved.withLockedValue { $0 }) - started
        XCTAssertGreaterThanOrEqual(took, installTimeout - .milliseconds(100), "not before the install timeout: \(took)")
        let status = try await harness.routingStatus()
        XCTAssertEqual(status.members.map(\.node), ["t1"], "the laggard was dropped")
        XCTAssertTrue(status.events.contains { $0.contains("dropped t2") }, "\(status.events)")
        XCTAssertTrue(kernel.spis.contains(pending.child.inbound.spi), "t1 holds the CHILD_SA")
        try complete(&pending, installed: true)
        XCTAssertEqual(pending.initiator.phase, .established, "the held IKE_AUTH response went out once installed")
        do {
            try await orphanedInstall.get()
            XCTFail("line 1's CHILD_SA had its outbound SA on the dropped target only")
        } catch {
            XCTAssertTrue("\(error)".contains("installed on no target"), "\(error)")
        }
        try complete(&orphaned, installed: false)
        XCTAssertEqual(orphaned.initiator.phase, .established, "the peer is answered all the same (the daemon then deletes the CHILD_SA with it)")
        try await workers.shutdownGracefully()
    }
}
