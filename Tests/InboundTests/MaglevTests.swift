@testable import Inbound
import VipsecTestSupport
import XCTest

final class MaglevTests: XCTestCase {
    /// The paper's Populate (NSDI '16, Pseudocode 1) written plainly, unweighted.
    private func naivePopulate(_ names: [String], size m: Int) -> [Int] {
        let permutation = names.map { name -> [Int] in
            let offset = Int(maglevNameHash(name, seed: 0x6F66_6673_6574) % UInt64(m))
            let skip = Int(maglevNameHash(name, seed: 0x736B_6970) % UInt64(m - 1)) + 1
            return (0..<m).map { j in (offset + j * skip) % m }
        }
        var next = [Int](repeating: 0, count: names.count)
        var entry = [Int](repeating: -1, count: m)
        var n = 0
        while true {
            for i in 0..<names.count {
                var c = permutation[i][next[i]]
                while entry[c] >= 0 { next[i] += 1; c = permutation[i][next[i]] }
                entry[c] = i
                next[i] += 1
                n += 1
                if n == m { return entry }
            }
        }
    }

    func testAgreesWithTheNaiveReference() {
        for count in [1, 2, 3, 5, 8] {
            let names = (0..<count).map { "target-\($0)" }
            let table = MaglevTable(backends: names.map { ($0, 1) }, size: 251)
            XCTAssertEqual(table.entries.map(Int.init), naivePopulate(names, size: 251), "\(count) backends")
        }
    }

    func testBalancedAndWeighted() {
        let table = MaglevTable(backends: [("a", 1), ("b", 1), ("c", 2)], size: 65537)
        var counts = [0, 0, 0]
        for entry in table.entries { counts[Int(entry)] += 1 }
        XCTAssertEqual(Double(counts[0]) / 65537, 0.25, accuracy: 0.02)
        XCTAssertEqual(Double(counts[1]) / 65537, 0.25, accuracy: 0.02)
        XCTAssertEqual(Double(counts[2]) / 65537, 0.50, accuracy: 0.02)
    }

    func testRemovingOneOfNMovesAboutOneNthOfFlows() {
        let names = (1...5).map { "t\($0)" }
        let before = MaglevTable(backends: names.map { ($0, 1) })
        let remaining = names.filter { $0 != "t3" }
        let after = MaglevTable(backends: remaining.map { ($0, 1) })
        var rng = SeededGenerator(seed: 7)
        var moved = 0, movedFromSurvivors = 0
        let flows = 50_000
        for _ in 0..<flows {
            let hash = rng.next()
            let old = names[Int(before.lookup(hash))], new = remaining[Int(after.lookup(hash))]
            if old != new { moved += 1; if old != "t3" { movedFromSurvivors += 1 } }
        }
        let fraction = Double(moved) / Double(flows)
        XCTAssertEqual(fraction, 0.2, accuracy: 0.04, "about 1/N moved")
        XCTAssertLessThan(Double(movedFromSurvivors) / Double(flows), 0.03, "survivors' flows barely move")
    }

    func testDeterministicAcrossBuilds() {
        let a = MaglevTable(backends: [("t1", 1), ("t2", 1)]), b = MaglevTable(backends: [("t1", 1), ("t2", 1)])
        XCTAssertEqual(a.entries, b.entries)
        let key = FlowKey(lineage: SALineageID(1), source: .v4(10, 0, 0, 1), destination: .v4(10, 0, 0, 2),
                          sourcePort: 1, destinationPort: 2, ipProtocol: 6)
        XCTAssertEqual(key.placementHash, 0x0 &+ key.hash(seed: 0x5649_5053_4543_4D47))
    }
}
