import Cluster
@testable import Inbound
import XCTest

/// Issue 20, "whatever grows faster than N": the classifier's work per SA change and per
/// flow-end report, counted as operations (slots and lineages visited), not timed, is the
/// same with 100,000 SAs as with 1,000.
final class ClassifierGrowthTests: XCTestCase {
    /// SA `n` of the crowd: its own SPI and lineage, held by t2 and t3 (never t1).
    static func crowdSA(_ n: Int, holders: [NodeID] = [Fixture.t2, Fixture.t3]) -> InboundSA {
        var sa = Fixture.sa(spi: 0x1000_0000 + UInt32(n), holders: holders)
        sa.lineage = SALineageID(UInt32(1_000 + n))
        sa.replayWindowSize = 64   // small: 100,000 of them in a unit test
        return sa
    }

    static func key(_ sa: InboundSA) -> SAKey { SAKey(destination: sa.destination, spi: sa.spi) }

    // MARK: The SA lookup (SAIndex)

    /// The lookup's work to install `count` SAs one by one, then per removal and per add of
    /// 500 SAs spread over the table (averaged: one key's probe run is luck, their mean is not).
    func lookupWork(holding count: Int) throws -> (install: Double, remove: Double, add: Double) {
        var c = Fixture.classifier(sas: [])
        let before = c.saLookup.work
        for n in 0..<count { try c.addSA(Self.crowdSA(n), now: Fixture.now) }
        let install = Double(c.saLookup.work - before) / Double(count)
        XCTAssertEqual(c.saCount, count)
        XCTAssertEqual(c.saLookup.count, count)
        // Every SA found at its position (spot checks across the table).
        for n in stride(from: 0, to: count, by: max(1, count / 500)) {
            let sa = Self.crowdSA(n)
            XCTAssertEqual(c.saLookup.find(Self.key(sa)).map { c.sas[$0].sa.spi }, sa.spi)
        }
        let victims = stride(from: 0, to: count, by: count / 500).map { Self.crowdSA($0) }
        var mark = c.saLookup.work
        for sa in victims { XCTAssertTrue(c.removeSA(destination: sa.destination, spi: sa.spi)) }
        let remove = Double(c.saLookup.work - mark) / Double(victims.count)
        for sa in victims { XCTAssertNil(c.saLookup.find(Self.key(sa))) }
        // The SAs moved into the holes of `sas` are found where they now are.
        for n in stride(from: 1, to: count, by: max(1, count / 500)) {
            let sa = Self.crowdSA(n)
            XCTAssertEqual(c.saLookup.find(Self.key(sa)).map { c.sas[$0].sa.spi }, sa.spi)
        }
        mark = c.saLookup.work
        for sa in victims { try c.addSA(sa, now: Fixture.now) }
        let add = Double(c.saLookup.work - mark) / Double(victims.count)
        for sa in victims { XCTAssertEqual(c.saLookup.find(Self.key(sa)).map { c.sas[$0].sa.spi }, sa.spi) }
        return (install, remove, add)
    }

    func testAnSAChangeCostsTheSameLookupWorkAt100000SAsAsAt1000() throws {
        let small = try lookupWork(holding: 1_000), large = try lookupWork(holding: 100_000)
        // Installing N: O(N) in all (the doublings included), a few slots per SA at either
        // size; the rebuild per change it replaces wrote N slots per change (5 × 10⁹ at 100,000).
        // 500 removals and 500 adds: no resize at either size, a short probe run each.
        for (name, small, large) in [("install", small.install, large.install), ("remove", small.remove, large.remove),
                                     ("add", small.add, large.add)] {
            XCTAssertLessThan(small, 10, "\(name): \(small) slots per SA at 1,000")
            XCTAssertLessThan(large, 10, "\(name): \(large) slots per SA at 100,000")
            XCTAssertGreaterThanOrEqual(large, 1, "\(name): the counter counts")
        }
    }

    /// Random adds, replacements and removals (with the resizes both ways) against a
    /// dictionary: every SA is found at its position in `sas`, none that was removed is.
    func testTheLookupStaysWhatADictionarySaysThroughARandomRun() throws {
        var generator = SystemRandomNumberGenerator()
        var c = Fixture.classifier(sas: [])
        var present = Set<Int>()
        for step in 0..<6_000 {
            // Grows to ~2,000, then shrinks to a few (the halving), then grows again.
            let growing = step < 2_500 || step > 4_500
            let n = Int.random(in: 0..<2_500, using: &generator)
            if growing ? Int.random(in: 0..<4, using: &generator) != 0 : present.isEmpty {
                try c.addSA(Self.crowdSA(n), now: Fixture.now)   // a replacement when present
                present.insert(n)
            } else if let victim = (present.contains(n) ? n : present.randomElement(using: &generator)) {
                let sa = Self.crowdSA(victim)
                XCTAssertTrue(c.removeSA(destination: sa.destination, spi: sa.spi))
                present.remove(victim)
            }
            if step % 500 == 499 || step == 4_500 {
                XCTAssertEqual(c.saCount, present.count)
                XCTAssertEqual(c.saLookup.count, present.count)
                XCTAssertEqual(c.saLookup.entries().count, present.count)
                for n in 0..<2_500 {
                    let sa = Self.crowdSA(n)
                    let found = c.saLookup.find(Self.key(sa))
                    if present.contains(n) {
                        XCTAssertEqual(found.map { c.sas[$0].sa.spi }, sa.spi, "SA \(n) at step \(step)")
                    } else {
                        XCTAssertNil(found, "SA \(n) removed, still found at step \(step)")
                    }
                }
            }
        }
        XCTAssertFalse(c.removeSA(destination: Fixture.dvipa, spi: 0xDEAD), "an unknown SA: nothing removed")
    }

    // MARK: Flow-end reports (the lineages per target)

    /// With `count` SAs held by t2 and t3 and one by t1 (its flows: 20 entries), the work of
    /// t1's report of 10 of its flows and 5 it never had.
    func flowEndWork(crowd count: Int) throws -> Int {
        var c = Fixture.classifier(sas: [Fixture.sa(holders: [Fixture.t1])])
        for n in 0..<count { try c.addSA(Self.crowdSA(n), now: Fixture.now) }
        for port in UInt16(7000)..<7020 { _ = c.classify(Fixture.tcp(sport: port, flags: Fixture.syn), now: Fixture.now) }
        XCTAssertEqual(c.flows.count, 20)
        let before = c.flowEndWork
        let report = (UInt16(7000)..<7010).map { Fixture.flow(sport: $0).fiveTuple }
            + (UInt16(9000)..<9005).map { Fixture.flow(sport: $0).fiveTuple }
        let results = c.flowsEnded(by: Fixture.t1, report, now: Fixture.now)
        XCTAssertEqual(results, [FlowEndResult](repeating: .ended, count: 10) + [FlowEndResult](repeating: .noEntry, count: 5))
        XCTAssertEqual(c.flows.count, 10)
        return c.flowEndWork - before
    }

    func testAFlowEndReportCostsTheSameAt100000SAsAsAt1000() throws {
        let small = try flowEndWork(crowd: 1_000), large = try flowEndWork(crowd: 100_000)
        XCTAssertEqual(small, large, "a report of 15 ends: \(small) lineages and entries visited at 1,000 SAs, \(large) at 100,000")
        XCTAssertLessThanOrEqual(large, 2 * 15 + 1, "one lineage held by t1: a probe per end, not a visit of every SA")
        XCTAssertGreaterThan(large, 0, "the counter counts")
    }

    /// The per-target lineage index follows holders, replacements, removals and targets:
    /// through a random run it is what a recomputation from every SA says.
    func testTheLineageIndexStaysWhatARecomputationSaysThroughARandomRun() throws {
        var generator = SystemRandomNumberGenerator()
        var c = Fixture.classifier(sas: [])
        let nodes = [Fixture.t1, Fixture.t2, Fixture.t3, try NodeID("t4")]
        for step in 0..<3_000 {
            let n = Int.random(in: 0..<200, using: &generator)
            // A few SAs share a lineage (a rekey: old and new SA of one CHILD_SA line).
            var sa = Self.crowdSA(n, holders: nodes.filter { _ in Bool.random(using: &generator) })
            sa.lineage = SALineageID(UInt32(n / 3))
            switch Int.random(in: 0..<12, using: &generator) {
            case 0..<5: try c.addSA(sa, now: Fixture.now)
            case 5..<8: c.removeSA(destination: sa.destination, spi: sa.spi)
            case 8..<10: c.setHolders(destination: sa.destination, spi: sa.spi, holders: sa.holders)
            case 10:
                let node = nodes.randomElement(using: &generator)!
                c.removeTarget(node)
            default:
                let i = Int.random(in: 0..<nodes.count, using: &generator)
                try c.upsertTarget(InboundTarget(id: nodes[i], directMark: 0x101 + UInt32(i), encapsulatedMark: 0x201 + UInt32(i),
                                                 healthy: Bool.random(using: &generator)))
            }
            if step % 50 == 0 || step == 2_999 {
                XCTAssertEqual(c.lineagesByTarget.map { $0.filter { $0.value > 0 } }, c.recomputedLineagesByTarget(),
                               "step \(step)")
                XCTAssertTrue(c.sas.allSatisfy { $0.holderSet == c.holderSet($0.sa.holders) },
                              "step \(step): every SA's registered holders are current (a health change visits none)")
            }
        }
    }

    /// A target that comes (back) after the SAs naming it: its lineages are found.
    func testATargetRegisteredAfterItsSAsHasItsLineages() throws {
        var c = Fixture.classifier(sas: [])
        let late = try NodeID("t9")
        var sa = Self.crowdSA(1, holders: [late])
        sa.lineage = Fixture.lineage
        try c.addSA(sa, now: Fixture.now)
        _ = c.classify(Fixture.tcp(sport: 7000, flags: Fixture.syn, spi: sa.spi), now: Fixture.now)
        XCTAssertEqual(c.flows.count, 0, "no registered holder: dropped, no entry")
        try c.upsertTarget(InboundTarget(id: late, directMark: 0x109, encapsulatedMark: 0x209))
        _ = c.classify(Fixture.tcp(sport: 7000, flags: Fixture.syn, spi: sa.spi), now: Fixture.now)
        XCTAssertEqual(c.flows.count, 1)
        XCTAssertEqual(c.flowsEnded(by: late, [Fixture.flow(sport: 7000).fiveTuple], now: Fixture.now), [.ended])
        XCTAssertEqual(c.lineagesByTarget.map { $0.filter { $0.value > 0 } }, c.recomputedLineagesByTarget())
    }
}
