import Foundation
import XCTest
import IKEv2
import IKECrypto
import NIOCore
import NIOPosix
@testable import IKEDaemon

/// Sharding IKE_SAs over workers (IKEShardRouting.swift, IKEWorkerSet.swift): every message
/// of one IKE_SA goes to one worker; SPIs spread; `vipsec { workers }`; summed status.
final class IKEShardRoutingTests: XCTestCase, GatewayPeerTesting {
    let provider = OpenSSLCryptoProvider()

    /// A full IKE_SA_INIT + IKE_AUTH between a peer and a gateway: (datagrams from the
    /// peer, datagrams from the gateway, the peer's IKE_SA, the gateway's local SPI).
    func conversation() throws -> (toGateway: [[UInt8]], fromGateway: [[UInt8]], peer: IKESA, gatewaySPI: UInt64) {
        var gateway = try IKEGateway(config: DaemonConfig(parsing: IKEGatewayTests.config(), file: "t"), provider: provider)
        var peer = try peer()
        var pending = peer.start(now: 0).compactMap { if case .send(let b) = $0 { return b }; return nil }
        var toGateway: [[UInt8]] = [], fromGateway: [[UInt8]] = []
        while let datagram = pending.first {
            pending.removeFirst()
            toGateway.append(datagram)
            let actions = gateway.receiveInstalling(datagram, local: IKEGatewayTests.gatewayAddress, remote: IKEGatewayTests.peerAddress, now: 0)
            for case .send(let bytes, _, _) in actions {
                fromGateway.append(bytes)
                pending += peer.receiveInstalling(bytes, now: 0).compactMap { if case .send(let b) = $0 { return b }; return nil }
            }
        }
        XCTAssertEqual(peer.phase, IKESA.Phase.established)
        let spi = try XCTUnwrap(gateway.sas.keys.first)
        return (toGateway, fromGateway, peer, spi)
    }

    func testEveryMessageOfAPeerInitiatedIKESAGoesToOneWorker() throws {
        let (toGateway, fromGateway, peer, _) = try conversation()
        XCTAssertEqual(toGateway.count, 2)   // IKE_SA_INIT, IKE_AUTH
        for count in 2...5 {
            let routing = IKEShardRouting(workerCount: count)
            let expected = routing.worker(forInitiatorSPI: peer.initiatorSPI)
            for datagram in toGateway { XCTAssertEqual(routing.worker(for: datagram), expected, "\(count) workers") }
            // Messages from an original responder (I flag clear) belong to IKE_SAs we initiated: worker 0.
            for datagram in fromGateway { XCTAssertEqual(routing.worker(for: datagram), IKEShardRouting.initiatorWorker) }
        }
    }

    func testTheLocalSPIIsTheOneTheReceiverChose() throws {
        let (toGateway, fromGateway, peer, gatewaySPI) = try conversation()
        XCTAssertEqual(IKEShardRouting.localSPI(of: toGateway[0]), 0)             // IKE_SA_INIT: SPIr not yet chosen
        XCTAssertEqual(IKEShardRouting.localSPI(of: toGateway[1]), gatewaySPI)    // IKE_AUTH: the gateway's SPIr
        XCTAssertEqual(IKEShardRouting.localSPI(of: fromGateway[1]), peer.initiatorSPI)   // to the initiator: its SPIi
        XCTAssertNil(IKEShardRouting.localSPI(of: Array(toGateway[1].prefix(27))))
    }

    func testSPIsSpreadOverTheWorkers() {
        let routing = IKEShardRouting(workerCount: 4)
        var counts = [0, 0, 0, 0]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<8000 { counts[routing.worker(forInitiatorSPI: generator.next())] += 1 }
        for count in counts { XCTAssert((1600...2400).contains(count), "\(counts)") }
        // Counting SPIs (differing in low or high bits only) spread too.
        var sequential = [0, 0, 0, 0], high = [0, 0, 0, 0]
        for i in UInt64(0)..<4000 {
            sequential[routing.worker(forInitiatorSPI: 0x1000 + i)] += 1
            high[routing.worker(forInitiatorSPI: i << 48)] += 1
        }
        for count in sequential + high { XCTAssert((700...1300).contains(count), "\(sequential) \(high)") }
    }

    func testOneWorkerShortInputAndThePassOnRing() throws {
        let (toGateway, _, _, _) = try conversation()
        XCTAssertEqual(IKEShardRouting(workerCount: 1).worker(for: toGateway[1]), 0)
        XCTAssertEqual(IKEShardRouting(workerCount: 0).workerCount, 1)
        XCTAssertEqual(IKEShardRouting(workerCount: 4).worker(for: [UInt8](repeating: 0xFF, count: 27)), 0)
        XCTAssertEqual(IKEShardRouting(workerCount: 4).worker(for: [UInt8]()), 0)
        let ring = IKEShardRouting(workerCount: 3)
        XCTAssertEqual([0, 1, 2].map(ring.next(after:)), [1, 2, 0])
    }

    func testTheWorkerCountDefaultsToTheCPUs() {
        XCTAssertEqual(IKEShardRouting.workerCount(configured: 0, cpus: 2), 2)
        XCTAssertEqual(IKEShardRouting.workerCount(configured: 0, cpus: 0), 1)
        XCTAssertEqual(IKEShardRouting.workerCount(configured: 3, cpus: 2), 3)
    }

    func testTheWorkersSettingIsParsedAndChecked() throws {
        XCTAssertEqual(try DaemonConfig(parsing: "vipsec {\n}\n", file: "t").settings.workers, 1)
        XCTAssertEqual(try DaemonConfig(parsing: "vipsec {\n workers = 4\n}\n", file: "t").settings.workers, 4)
        for bad in ["-1", "1000", "many"] {
            XCTAssertThrowsError(try DaemonConfig(parsing: "vipsec {\n workers = \(bad)\n}\n", file: "w.conf")) { error in
                guard let error = error as? ConfigError else { return XCTFail("\(error)") }
                XCTAssertEqual(error.key, "vipsec.workers", "\(error)")
                XCTAssertEqual(error.line, 2)
            }
        }
    }

    func testLimitsAreSharedOutOverTheWorkers() {
        var settings = DaemonSettings()
        settings.halfOpenLimit = 1001
        settings.cookieThreshold = 10
        XCTAssertEqual(IKEWorkerSet.workerSettings(settings, workers: 1), settings)
        let each = IKEWorkerSet.workerSettings(settings, workers: 2)
        XCTAssertEqual(each.halfOpenLimit, 501)
        XCTAssertEqual(each.cookieThreshold, 5)
        settings.cookieThreshold = 0   // COOKIEs always: stays always
        XCTAssertEqual(IKEWorkerSet.workerSettings(settings, workers: 4).cookieThreshold, 0)
    }

    func testTheStatusLineSumsTheWorkers() {
        let merged = WorkerStatus.merge([
            [("ike_sas", 3), ("half_open", 1), ("refused_NO_PROPOSAL_CHOSEN", 1)],
            [("ike_sas", 4), ("half_open", 0), ("refused_AUTHENTICATION_FAILED", 2)],
        ])
        XCTAssertEqual(merged.map(\.0), ["ike_sas", "half_open", "refused_NO_PROPOSAL_CHOSEN", "refused_AUTHENTICATION_FAILED"])
        XCTAssertEqual(merged.map(\.1), [7, 1, 1, 2])
        XCTAssertEqual(WorkerStatus.line([[("ike_sas", 1)], [("ike_sas", 2)]]), "counters: ike_sas=3 workers=2")
    }

    func testTheConfinedInstallerRunsTheCallsOneAtATimeInOrderOffTheCallersThread() throws {
        /// Records each call, whether another call was running at the same time, and whether
        /// it ran on the thread that submitted it.
        final class Recording: SynchronousChildSAInstaller, @unchecked Sendable {
            let lock = NSLock()
            var calls: [String] = [], active = 0, overlaps = 0, onCaller = 0
            var caller: Thread?
            func record(_ call: String) {
                lock.withLock {
                    active += 1
                    if active > 1 { overlaps += 1 }
                    if Thread.current === caller { onCaller += 1 }
                }
                Thread.sleep(forTimeInterval: 0.0002)   // widen the window another call could overlap in
                lock.withLock { active -= 1; calls.append(call) }
            }
            func install(_ childSA: ChildSAInstallation) throws { record("install") }
            func delete(_ childSA: ChildSAInstallation) throws { record("delete") }
            func deleteOutbound(_ childSA: ChildSAInstallation) throws { record("deleteOutbound") }
            func activateOutbound(_ childSA: ChildSAInstallation) throws { record("activate") }
        }
        let recording = Recording()
        recording.caller = Thread.current
        let confined = ConfinedChildSAInstaller(recording)
        let (_, _, peer, _) = try conversation()
        let child = try XCTUnwrap(peer.childSAs.first)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 4)
        defer { try? group.syncShutdownGracefully() }
        let loops = Array(group.makeIterator())
        var futures: [EventLoopFuture<Void>] = [], expected: [String] = []
        for i in 0..<600 {   // submitted in order from this thread, completing on several loops
            let loop = loops[i % loops.count]
            switch i % 4 {
            case 0: futures.append(confined.install(child, on: loop)); expected.append("install")
            case 1: futures.append(confined.delete(child, on: loop)); expected.append("delete")
            case 2: futures.append(confined.deleteOutbound(child, on: loop)); expected.append("deleteOutbound")
            default: futures.append(confined.activateOutbound(child, on: loop)); expected.append("activate")
            }
        }
        try EventLoopFuture.andAllSucceed(futures, on: loops[0]).wait()
        recording.lock.withLock {
            XCTAssertEqual(recording.calls, expected, "in the order submitted")
            XCTAssertEqual(recording.overlaps, 0, "one call at a time")
            XCTAssertEqual(recording.onCaller, 0, "never on the submitting thread")
        }
        XCTAssertFalse(confined.installsIntoLocalKernel)
    }

    func testTheConfinedInstallersFailureReachesTheCaller() throws {
        final class Refusing: SynchronousChildSAInstaller {
            struct Refused: Error {}
            func install(_ childSA: ChildSAInstallation) throws { throw Refused() }
            func delete(_ childSA: ChildSAInstallation) throws {}
            func deleteOutbound(_ childSA: ChildSAInstallation) throws {}
            func activateOutbound(_ childSA: ChildSAInstallation) throws {}
        }
        let confined = ConfinedChildSAInstaller(Refusing())
        let (_, _, peer, _) = try conversation()
        let child = try XCTUnwrap(peer.childSAs.first)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        XCTAssertThrowsError(try confined.install(child, on: loop).wait())
        XCTAssertNoThrow(try confined.delete(child, on: loop).wait())
    }
}
