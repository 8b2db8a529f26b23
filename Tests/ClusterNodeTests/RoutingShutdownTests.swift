import Cluster
import Foundation
import IKEv2
import XCTest
@testable import ClusterNode

/// The routing node's cluster side at a stop signal: an IKE worker blocked in
/// `ClusterChildSAInstaller.install` (a target that never acknowledges) is released at once,
/// and the stop's waits on the targets are bounded.
final class RoutingShutdownTests: ClusterHarnessTestCase {
    func testAStopSignalReleasesAnInstallWaitingOnASlowTarget() async throws {
        try await harness.startService(installTimeout: .seconds(20))
        let kernel = RecordingKernel()
        try await harness.startAgent("t1", kernel: kernel).welcomed.get()
        kernel.installDelay = 5   // the target does not answer for 5 s
        let installer = ClusterChildSAInstaller(service: harness.service)
        let installation = ClusterChildSAInstallerTests.child(inboundSPI: 0xc001, outboundSPI: 0xc002)
        let start = Date()
        let install = Task.detached { () -> Error? in
            do { try installer.install(installation); return nil } catch { return error }
        }
        try await Task.sleep(nanoseconds: 300_000_000)
        harness.service.abortPendingInstalls()
        let error = await install.value
        XCTAssertNotNil(error, "the install fails: the routing node is stopping")
        XCTAssertLessThan(Date().timeIntervalSince(start), 2, "released at once, not after the install timeout")
        // New installs are refused at once too.
        let again = try await Task.detached { () -> Bool in
            (try? installer.install(ClusterChildSAInstallerTests.child(inboundSPI: 0xc003, outboundSPI: 0xc004))) == nil
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
