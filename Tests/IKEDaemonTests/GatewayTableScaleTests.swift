import XCTest
import IKEv2
@testable import IKEDaemon

/// The gateway's tables (HalfOpenTable, ChildSAIndex, IKESAIdentityIndex, the expiry
/// policy's sets): each per-event operation looks at the same number of entries with
/// 100,000 IKE_SAs as with 1,000 (counted as probes, never timed), and the tables stay right.
/// A scan (what the gateway did before) would look at one entry more per IKE_SA.
final class GatewayTableScaleTests: XCTestCase {
    static let us: [UInt8] = [192, 0, 2, 100]

    /// A peer address per number (10.x.y.z).
    static func address(_ n: Int) -> [UInt8] { [10, UInt8(truncatingIfNeeded: n >> 16), UInt8(truncatingIfNeeded: n >> 8), UInt8(truncatingIfNeeded: n)] }

    /// CHILD_SA number `n`: inbound SPI 0x1000_0000 + n (to us), outbound 0x2000_0000 + n (to peer n).
    static func child(_ n: Int) -> ChildSAInstallation {
        var child = KernelChildSAInstallerTests.child()
        child.inbound.spi = 0x1000_0000 + UInt32(n)
        child.outbound.spi = 0x2000_0000 + UInt32(n)
        child.inbound.destination = us
        child.outbound.destination = address(n)
        return child
    }

    // MARK: Half-open IKE_SAs

    /// Probes of one IKE_SA_INIT's worth of operations (retransmission lookup, per-peer
    /// count, insert, then forgetting one) in a table of `n` half-open IKE_SAs, two per address.
    func halfOpenProbes(holding n: Int) -> Int {
        var table = HalfOpenTable()
        for i in 0..<n {
            table.insert(.init(remote: IKEEndpoint(address: Self.address(i / 2), port: UInt16(500 + i % 2)), initiatorSPI: UInt64(i + 1)),
                         spi: UInt64(1_000_000 + i))
        }
        XCTAssertEqual(table.count, n)
        let before = table.probes
        let newcomer = HalfOpenTable.Key(remote: IKEEndpoint(address: Self.address(n), port: 500), initiatorSPI: 7)
        XCTAssertNil(table.spi(for: newcomer))
        XCTAssertEqual(table.peerCount(Self.address(n / 4)), 2)
        table.insert(newcomer, spi: 42)
        table.remove(spi: UInt64(1_000_000 + n / 3))
        XCTAssertEqual(table.count, n)
        return table.probes - before
    }

    func testHalfOpenEventsCostTheSameAt1000And100000HalfOpenIKESAs() {
        let small = halfOpenProbes(holding: 1_000), large = halfOpenProbes(holding: 100_000)
        XCTAssertEqual(small, large, "per-event probes must not grow with the table")
        XCTAssertLessThanOrEqual(large, 8)
    }

    func testTheHalfOpenTableCountsEachPeerAndForgetsBySPI() {
        var table = HalfOpenTable()
        let a = Self.address(1), b = Self.address(2)
        for port in UInt16(1)...3 { table.insert(.init(remote: IKEEndpoint(address: a, port: port), initiatorSPI: 9), spi: UInt64(port)) }
        table.insert(.init(remote: IKEEndpoint(address: b, port: 500), initiatorSPI: 9), spi: 10)
        XCTAssertEqual(table.peerCount(a), 3, "same address, any port")
        XCTAssertEqual(table.peerCount(b), 1)
        XCTAssertEqual(table.count, 4)
        table.remove(spi: 2)
        XCTAssertEqual(table.peerCount(a), 2)
        XCTAssertNil(table.spi(for: .init(remote: IKEEndpoint(address: a, port: 2), initiatorSPI: 9)))
        XCTAssertEqual(table.spi(for: .init(remote: IKEEndpoint(address: a, port: 3), initiatorSPI: 9)), 3)
        table.remove(spi: 2)   // not (any more) half-open: nothing happens
        table.remove(spi: 99)
        XCTAssertEqual(table.count, 3)
        XCTAssertEqual(table.peerCount(a), 2)
        // The same request again under another SPI replaces the entry; counts stay right.
        table.insert(.init(remote: IKEEndpoint(address: a, port: 3), initiatorSPI: 9), spi: 30)
        XCTAssertEqual(table.peerCount(a), 2)
        table.remove(spi: 3)
        XCTAssertEqual(table.peerCount(a), 2, "SPI 3 was replaced: removing it changes nothing")
        for spi: UInt64 in [1, 30, 10] { table.remove(spi: spi) }
        XCTAssertEqual(table.count, 0)
        XCTAssertEqual(table.peerCount(a) + table.peerCount(b), 0)
    }

    // MARK: CHILD_SAs

    /// An index of `n` IKE_SAs (local SPI 1...n) with one CHILD_SA each.
    func childIndex(holding n: Int) -> ChildSAIndex {
        var index = ChildSAIndex()
        for i in 1...n { index.update(ikeSA: UInt64(i), children: ([], [Self.child(i)]), kept: ([], [])) }
        XCTAssertEqual(index.count, n)
        return index
    }

    /// Probes of the per-event operations: a CHILD_SA rekey timer finding its IKE_SA, an
    /// expire event by the outbound SA's kernel name, an IKE_SA rekey moving a CHILD_SA,
    /// a CHILD_SA rekey keeping the old inbound SA, and its removal.
    func childIndexProbes(holding n: Int) -> Int {
        var index = childIndex(holding: n)
        let before = index.probes
        let k = n / 2
        XCTAssertEqual(index.holder(ofChild: Self.child(k).inbound.spi), UInt64(k))
        XCTAssertEqual(index.owner(of: .init(destination: Self.address(k), spi: Self.child(k).outbound.spi))?.ikeSA, UInt64(k))
        // IKE_SA k rekeyed to local SPI n + 1: the old one is stored without it, then the new one.
        index.update(ikeSA: UInt64(k), children: ([Self.child(k)], []), kept: ([], []))
        index.update(ikeSA: UInt64(n + 1), children: ([], [Self.child(k)]), kept: ([], []))
        XCTAssertEqual(index.holder(ofChild: Self.child(k).inbound.spi), UInt64(n + 1))
        // Its CHILD_SA rekeyed (k -> n + 2); the old inbound SA kept a while, then removed.
        index.update(ikeSA: UInt64(n + 1), children: ([Self.child(k)], [Self.child(n + 2)]), kept: ([], [Self.child(k).inbound.spi]))
        XCTAssertEqual(index.keeper(ofRekeyed: Self.child(k).inbound.spi), UInt64(n + 1))
        index.update(ikeSA: UInt64(n + 1), children: ([Self.child(n + 2)], [Self.child(n + 2)]), kept: ([Self.child(k).inbound.spi], []))
        return index.probes - before
    }

    func testCHILDSAEventsCostTheSameAt1000And100000IKESAs() {
        let small = childIndexProbes(holding: 1_000), large = childIndexProbes(holding: 100_000)
        XCTAssertEqual(small, large, "per-event probes must not grow with the number of IKE_SAs")
        XCTAssertLessThanOrEqual(large, 16)
    }

    func testTheCHILDSAIndexFollowsRekeysAndCloses() {
        var index = childIndex(holding: 3)
        let c1 = Self.child(1), c9 = Self.child(9)
        // IKE_SA rekey, the new IKE_SA (7) stored before the old one (1): the old one's
        // update must not take the CHILD_SA away from the new one.
        index.update(ikeSA: 7, children: ([], [c1]), kept: ([], []))
        index.update(ikeSA: 1, children: ([c1], []), kept: ([], []))
        XCTAssertEqual(index.holder(ofChild: c1.inbound.spi), 7)
        XCTAssertEqual(index.owner(of: .init(destination: Self.us, spi: c1.inbound.spi))?.ikeSA, 7)
        XCTAssertEqual(index.owner(of: .init(destination: Self.address(1), spi: c1.outbound.spi))?.inboundSPI, c1.inbound.spi)
        // The same SPI number to another destination is not ours.
        XCTAssertNil(index.owner(of: .init(destination: Self.address(2), spi: c1.outbound.spi)))
        // CHILD_SA rekey c1 -> c9 on IKE_SA 7: both while the exchange runs, then c1 kept.
        index.update(ikeSA: 7, children: ([c1], [c1, c9]), kept: ([], []))
        XCTAssertEqual(index.holder(ofChild: c9.inbound.spi), 7)
        index.update(ikeSA: 7, children: ([c1, c9], [c9]), kept: ([], [c1.inbound.spi]))
        XCTAssertNil(index.holder(ofChild: c1.inbound.spi))
        XCTAssertNil(index.owner(of: .init(destination: Self.us, spi: c1.inbound.spi)), "a kept inbound SA gets no expire decisions")
        XCTAssertEqual(index.keeper(ofRekeyed: c1.inbound.spi), 7)
        XCTAssertFalse(index.contains(inboundSPI: c1.inbound.spi))
        XCTAssertTrue(index.contains(inboundSPI: c9.inbound.spi))
        // IKE_SA 7 rekeyed to 8: its CHILD_SA and the kept inbound SA move.
        index.update(ikeSA: 7, children: ([c9], []), kept: ([c1.inbound.spi], []))
        index.update(ikeSA: 8, children: ([], [c9]), kept: ([], [c1.inbound.spi]))
        XCTAssertEqual(index.holder(ofChild: c9.inbound.spi), 8)
        XCTAssertEqual(index.keeper(ofRekeyed: c1.inbound.spi), 8)
        // IKE_SA 8 closes: nothing of it is left.
        index.update(ikeSA: 8, children: ([c9], []), kept: ([c1.inbound.spi], []))
        XCTAssertNil(index.holder(ofChild: c9.inbound.spi))
        XCTAssertNil(index.keeper(ofRekeyed: c1.inbound.spi))
        XCTAssertNil(index.owner(of: .init(destination: Self.address(9), spi: c9.outbound.spi)))
        XCTAssertEqual(index.count, 2, "IKE_SAs 2 and 3 keep theirs")
    }

    // MARK: Identities (INITIAL_CONTACT)

    static func identities(_ n: Int) -> IKESAIdentityIndex.Identities {
        .init(local: IdentificationPayload(idType: .fqdn, identificationData: Array("gw".utf8)),
              peer: IdentificationPayload(idType: .ipv4Address, identificationData: address(n)))
    }

    func identityProbes(holding n: Int) -> Int {
        var index = IKESAIdentityIndex()
        for i in 1...n { index.update(ikeSA: UInt64(i), identities: Self.identities(i)) }
        let before = index.probes
        // A new IKE_SA of peer n / 2 with INITIAL_CONTACT: the one IKE_SA it supersedes.
        index.update(ikeSA: UInt64(n + 1), identities: Self.identities(n / 2))
        XCTAssertEqual(index.ikeSAs(Self.identities(n / 2)), [UInt64(n / 2), UInt64(n + 1)])
        index.update(ikeSA: UInt64(n / 2), identities: nil)
        return index.probes - before
    }

    func testInitialContactLookupsCostTheSameAt1000And100000IKESAs() {
        let small = identityProbes(holding: 1_000), large = identityProbes(holding: 100_000)
        XCTAssertEqual(small, large)
        XCTAssertLessThanOrEqual(large, 6)
    }

    func testTheIdentityIndexMovesAnIKESAWhenItsPeerIdentityIsLearnt() {
        var index = IKESAIdentityIndex()
        index.update(ikeSA: 1, identities: Self.identities(1))   // from remote.id, before IKE_AUTH
        index.update(ikeSA: 2, identities: Self.identities(1))
        index.update(ikeSA: 1, identities: Self.identities(5))   // authenticated as another peer
        XCTAssertEqual(index.ikeSAs(Self.identities(1)), [2])
        XCTAssertEqual(index.ikeSAs(Self.identities(5)), [1])
        index.update(ikeSA: 2, identities: nil)
        XCTAssertEqual(index.ikeSAs(Self.identities(1)), [])
        XCTAssertEqual(index.ikeSAs(Self.identities(5)), [1])
    }

    // MARK: The expiry policy's memory of CHILD_SAs being rekeyed

    /// `events` soft expires, each of another CHILD_SA, which all stay (their rekeys under
    /// way) or are gone by the next event (rekeyed and deleted, without the `forget` a
    /// `.delete` gives): how often the policy asked whether a CHILD_SA is still there, and
    /// the most it remembered at once.
    func expirySweeps(events: Int, stay: Bool) -> (presentCalls: Int, mostTracked: Int) {
        var policy = ChildSAExpiryPolicy()
        var calls = 0, most = 0
        for i in 1...events {
            let child = Self.child(i)
            let event = ChildSAExpireEvent(destination: Self.us, spi: child.inbound.spi, hard: false, bytes: 0, packets: 0)
            let decision = policy.decide(event, owner: (UInt64(i), child)) { spi in calls += 1; return stay || spi == child.inbound.spi }
            XCTAssertEqual(decision, .rekey(ikeSA: UInt64(i), inboundSPI: child.inbound.spi, cause: .time))
            most = max(most, policy.tracked)
        }
        return (calls, most)
    }

    func testTheExpiryPolicysMemoryCostsAmortizedConstantWorkPerEvent() {
        // Before, each event rebuilt the set of every CHILD_SA: N per event (stop at the
        // first failure: that is quadratic at 100,000).
        for events in [1_000, 100_000] {
            let staying = expirySweeps(events: events, stay: true)
            guard staying.presentCalls <= 2 * events else {
                return XCTFail("\(events) events: \(staying.presentCalls) presence checks")
            }
            XCTAssertEqual(staying.mostTracked, events, "all of them are being rekeyed")
            let going = expirySweeps(events: events, stay: false)
            XCTAssertLessThanOrEqual(going.presentCalls, 2 * events, "\(events) events")
            XCTAssertLessThanOrEqual(going.mostTracked, 65, "gone CHILD_SAs do not pile up")
        }
        // `forget` (the CHILD_SA's inbound SA was deleted) drops one at once.
        var policy = ChildSAExpiryPolicy()
        let child = Self.child(1)
        let event = ChildSAExpireEvent(destination: Self.us, spi: child.inbound.spi, hard: false, bytes: 0, packets: 0)
        XCTAssertNotEqual(policy.decide(event, owner: (1, child), present: { _ in true }), .duplicate)
        XCTAssertEqual(policy.decide(event, owner: (1, child), present: { _ in true }), .duplicate)
        policy.forget(inboundSPI: child.inbound.spi)
        XCTAssertEqual(policy.tracked, 0)
        XCTAssertNotEqual(policy.decide(event, owner: (1, child), present: { _ in true }), .duplicate,
                          "a new CHILD_SA with the SPI number of a gone one is rekeyed")
    }
}
