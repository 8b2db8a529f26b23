import Cluster
import Foundation
import IKEv2
import NIOPosix
import XCTest
@testable import ClusterNode

/// The routing node's cluster side at a stop signal: an install pending on a target that
/// does not acknowledge fails at once, and the stop's waits on the targets are bounded.
final class RoutingShutdownTests: ClusterHarnessTestCase {
    func testAStopSignalReleasesAnInstallWaitingOnASlowTarget() async throws {
        try await harness.startService(installTimeout: .seconds(20))
        let kernel = RecordingKernel()
        try await harness.startAgent("t1", kernel: kernel).welcomed.get()
        kernel.installDelay = 5   // the target does not answer for 5 s
        let installer = ClusterChildSAInstaller(service: harness.service)
        let installation = ClusterChildSAInstallerTests.child(inboundSPI: 0xc001, outboundSPI: 0xc002)
        let start = Date()
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let install = Task.detached { () -> Error? in
            do { try await installer.install(installation, on: loop).get(); return nil } catch { return error }
        }
        try await Task.sleep(nanoseconds: 300_000_000)
        harness.service.abortPendingInstalls()
        let error = await install.value
        XCTAssertNotNil(error, "the install fails: the routing node is stopping")
        XCTAssertLessThan(Date().timeIntervalSince(start), 2, "released at once, not after the install timeout")
        // New installs are refused at once too.
        let again = await Task.detached { () -> Bool in
            (try? await installer.install(ClusterChildSAInstallerTests.child(inboundSPI: 0xc003, outboundSPI: 0xc004), on: loop).get()) == nil
        }.value
        XCTAssertTrue(again)
    }

    func testStopIsBoundedAndHurryEndsItsWaits() async throws {
        try await harness.startService()
        try await harness.startAgent("t1", kernel: RecordingKernel()).welcomed.get()
        harness.service.hurry()
        let start = Date()
        await harness.service.stop(removingSAs: true, bound: .seconds(10))
        XCTAssertLessThan(Date().timeIntervalSince(start), 1.5)
    }
}
