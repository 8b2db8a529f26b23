import XCTest
import IKEv2
import IKECrypto
import VipsecTestSupport
@testable import IKEDaemon

/// NAT keepalives (RFC 3948 2.3): a heap by due time (NATKeepaliveSchedule) instead of a scan
/// of every IKE_SA on each tick. The work of a tick (heap entries looked at) is the same with
/// 100,000 IKE_SAs behind a NAT as with 1,000 when as many are due; a scan (what the worker
/// did before) looked at every IKE_SA on every tick. Then the gateway: keepalives when due,
/// from IKE_SAs behind a NAT only, following an IKE_SA rekey, none after a delete.
final class NATKeepaliveTests: XCTestCase, GatewayPeerTesting {
    let provider = OpenSSLCryptoProvider()

    // MARK: The schedule

    /// `n` IKE_SAs wanting keepalives: three established at 0, the others spread over 5...10 s;
    /// one of the three deleted at 15. Returns the heap entries looked at by the tick at 20.5
    /// (two keepalives due, one stale entry) and what it took.
    func tickVisits(holding n: Int) -> (visits: Int, taken: [UInt64]) {
        var schedule = NATKeepaliveSchedule(interval: 20)
        for spi in UInt64(1)...3 { schedule.update(ikeSA: spi, wanted: true, now: 0) }
        for i in 3..<n { schedule.update(ikeSA: UInt64(i + 1), wanted: true, now: 5 + 5 * Double(i) / Double(n)) }
        XCTAssertEqual(schedule.takeDue(now: 1), [], "nothing due before the interval")
        schedule.update(ikeSA: 2, wanted: false, now: 15)
        XCTAssertEqual(schedule.count, n - 1)
        let before = schedule.visits
        let taken = schedule.takeDue(now: 20.5)
        return (schedule.visits - before, taken.sorted())
    }

    func testATickCostsTheSameAt1000And100000IKESAsBehindANAT() {
        let small = tickVisits(holding: 1_000), large = tickVisits(holding: 100_000)
        XCTAssertEqual(small.taken, [1, 3])
        XCTAssertEqual(large.taken, [1, 3])
        XCTAssertEqual(small.visits, large.visits, "per-tick work must not grow with the IKE_SAs")
        // Three entries due (two keepalives, one deleted IKE_SA) and the first one not due.
        XCTAssertEqual(large.visits, 4)
    }

    func testEachIKESAIsDueEveryIntervalAndStopsWhenRemoved() {
        var schedule = NATKeepaliveSchedule(interval: 20)
        schedule.update(ikeSA: 7, wanted: true, now: 3)
        schedule.update(ikeSA: 7, wanted: true, now: 10)   // already scheduled: unchanged
        schedule.update(ikeSA: 8, wanted: true, now: 12)
        XCTAssertEqual(schedule.nextDue, 23)
        XCTAssertEqual(schedule.takeDue(now: 22.9), [])
        XCTAssertEqual(schedule.takeDue(now: 23), [7])
        XCTAssertEqual(schedule.takeDue(now: 32), [8])
        XCTAssertEqual(schedule.takeDue(now: 42.9), [])
        XCTAssertEqual(schedule.takeDue(now: 43), [7], "again an interval after the last one")
        // A late tick sends each due IKE_SA's keepalive once, not one per missed interval.
        XCTAssertEqual(schedule.takeDue(now: 200).sorted(), [7, 8])
        XCTAssertEqual(schedule.takeDue(now: 200), [])
        schedule.update(ikeSA: 7, wanted: false, now: 201)
        XCTAssertEqual(schedule.takeDue(now: 220), [8])
        XCTAssertEqual(schedule.queued, 1, "the removed IKE_SA's entry was dropped when it came due")
        // Removed and wanted again: one keepalive an interval after it came back, not two.
        schedule.update(ikeSA: 8, wanted: false, now: 225)
        schedule.update(ikeSA: 8, wanted: true, now: 230)
        XCTAssertEqual(schedule.takeDue(now: 240), [], "the old entry (due 240) is stale")
        XCTAssertEqual(schedule.takeDue(now: 250), [8])
        XCTAssertEqual(schedule.count, 1)
    }

    // MARK: The gateway

    /// The gateway (192.0.2.100) behind a NAT: the peer (192.0.2.1) talks to the NAT's public
    /// address 198.51.100.7, which forwards 500 and 4500 to the gateway unchanged. Without
    /// `behindNAT` the peer talks to the gateway's own address.
    static let natPublic: [UInt8] = [198, 51, 100, 7]

    struct Pair {
        var gateway: IKEGateway
        var peer: IKESA
        let behindNAT: Bool

        /// Delivers the gateway's datagrams to the peer and the peer's to the gateway until quiet.
        mutating func run(gatewayActions: [GatewayAction], peerSends: [[UInt8]] = [], now: Double) {
            var toPeer = gatewayActions.compactMap { if case .send(let b, let l, let r) = $0 { return (b, l, r) }; return nil }
            var toGateway = peerSends.map { ($0, peer.local, peer.remote) }
            var rounds = 0
            while !toPeer.isEmpty || !toGateway.isEmpty, rounds < 40 {
                rounds += 1
                if !toGateway.isEmpty {
                    let (bytes, from, to) = toGateway.removeFirst()
                    let local = IKEEndpoint(address: IKEGatewayTests.gatewayAddress.address, port: to.port)
                    toPeer += gateway.receiveInstalling(bytes, local: local, remote: from, now: now)
                        .compactMap { if case .send(let b, let l, let r) = $0 { return (b, l, r) }; return nil }
                }
                if !toPeer.isEmpty {
                    let (bytes, from, to) = toPeer.removeFirst()
                    let seenFrom = IKEEndpoint(address: behindNAT ? NATKeepaliveTests.natPublic : from.address, port: from.port)
                    let sends = peer.receiveInstalling(bytes, local: to, remote: seenFrom, now: now)
                        .compactMap { if case .send(let b) = $0 { return b }; return nil }
                    toGateway += sends.map { ($0, peer.local, peer.remote) }
                }
            }
        }
    }

    func established(behindNAT: Bool, at now: Double = 0) throws -> Pair {
        let gateway = try IKEGateway(config: DaemonConfig(parsing: IKEGatewayTests.config(), file: "t"), provider: provider)
        let configuration = try LabPeerConfiguration.make(secret: "lab secret", ikeProposals: "aes256gcm16-prfsha256-x25519",
                                                          remoteTS: .ipv4([10, 2, 0, 0], [10, 2, 0, 255]))
        let remote = IKEEndpoint(address: behindNAT ? Self.natPublic : IKEGatewayTests.gatewayAddress.address, port: 500)
        var peer = try IKESA.initiator(configuration: configuration, provider: provider,
                                       local: IKEGatewayTests.peerAddress, remote: remote)
        let start = peer.start(now: now).compactMap { if case .send(let b) = $0 { return b }; return nil }
        var pair = Pair(gateway: gateway, peer: peer, behindNAT: behindNAT)
        pair.run(gatewayActions: [], peerSends: start, now: now)
        XCTAssertEqual(pair.peer.phase, .established)
        XCTAssertEqual(pair.gateway.sas.values.first?.phase, .established)
        return pair
    }

    func testAnIKESABehindANATSendsAKeepaliveEveryIntervalToThePeers4500() throws {
        var pair = try established(behindNAT: true, at: 2)
        let sa = try XCTUnwrap(pair.gateway.sas.values.first)
        XCTAssertEqual(sa.natDetection?.localBehindNAT, true, "the gateway found its address translated")
        XCTAssertTrue(pair.gateway.natKeepalivesDue(now: 21.9).isEmpty, "not before an interval")
        let due = pair.gateway.natKeepalivesDue(now: 22)
        XCTAssertEqual(due.count, 1)
        XCTAssertEqual(due.first?.local, IKEEndpoint(address: IKEGatewayTests.gatewayAddress.address, port: 4500))
        XCTAssertEqual(due.first?.remote, IKEEndpoint(address: IKEGatewayTests.peerAddress.address, port: 4500))
        XCTAssertTrue(pair.gateway.natKeepalivesDue(now: 41).isEmpty)
        XCTAssertEqual(pair.gateway.natKeepalivesDue(now: 42).count, 1)
    }

    func testNoKeepalivesWithoutANATInFrontOfUs() throws {
        let pair = try established(behindNAT: false)
        var gateway = pair.gateway
        XCTAssertEqual(gateway.sas.values.first?.natDetection?.natDetected, false)
        XCTAssertEqual(gateway.natKeepalives.count, 0)
        XCTAssertTrue(gateway.natKeepalivesDue(now: 1000).isEmpty)
    }

    func testKeepalivesStopWhenThePeerDeletesTheIKESA() throws {
        var pair = try established(behindNAT: true)
        XCTAssertEqual(pair.gateway.natKeepalives.count, 1)
        let delete = pair.peer.delete(now: 5).compactMap { if case .send(let b) = $0 { return b }; return nil }
        pair.run(gatewayActions: [], peerSends: delete, now: 5)
        XCTAssertTrue(pair.gateway.sas.isEmpty, "the gateway closed the IKE_SA")
        XCTAssertEqual(pair.gateway.natKeepalives.count, 0)
        XCTAssertTrue(pair.gateway.natKeepalivesDue(now: 20).isEmpty)
        XCTAssertTrue(pair.gateway.natKeepalivesDue(now: 100).isEmpty)
        XCTAssertEqual(pair.gateway.natKeepalives.queued, 0, "the stale entry is gone")
    }

    func testAnIKESARekeyMovesTheKeepalivesToTheNewIKESA() throws {
        var pair = try established(behindNAT: true)
        let old = try XCTUnwrap(pair.gateway.sas.keys.first)
        pair.run(gatewayActions: pair.gateway.commandTimerFired(.rekeyIKESA(sa: old), now: 10), now: 10)
        let new = try XCTUnwrap(pair.gateway.sas.first { $0.value.phase == .established }?.key)
        XCTAssertNotEqual(new, old, "rekeyed")
        XCTAssertNil(pair.gateway.sas[old], "the old IKE_SA is deleted")
        XCTAssertEqual(pair.gateway.natKeepalives.count, 1)
        XCTAssertNotNil(pair.gateway.natKeepalives.due[new])
        XCTAssertTrue(pair.gateway.natKeepalivesDue(now: 20).isEmpty, "the old IKE_SA's keepalive (due at 20) is not sent")
        let due = pair.gateway.natKeepalivesDue(now: 30)
        XCTAssertEqual(due.count, 1, "the new IKE_SA's, an interval after the rekey")
        XCTAssertEqual(due.first?.remote, IKEEndpoint(address: IKEGatewayTests.peerAddress.address, port: 4500))
    }
}
