@testable import Inbound
import VipsecTestSupport
import XCTest

final class FlowTableTests: XCTestCase {
    private func key(_ n: UInt64, lineage: UInt32 = 1, v6: Bool = false) -> FlowKey {
        let source = v6 ? InboundAddress(high: 0xFD00_0000_0000_0000, low: n, isIPv4: false)
                        : InboundAddress(high: 0, low: 0x0A00_0000 | (n & 0xFFFFFF), isIPv4: true)
        let destination = v6 ? InboundAddress(high: 0x2001_0DB8_0000_0000, low: 0x10, isIPv4: false) : .v4(192, 0, 2, 10)
        return FlowKey(lineage: SALineageID(lineage), source: source, destination: destination,
                       sourcePort: UInt16(truncatingIfNeeded: n >> 24 | 1024), destinationPort: 443, ipProtocol: n % 3 == 0 ? 17 : 6)
    }

    /// Differential test: random inserts, lookups, removals, expiries and target removals
    /// agree with a dictionary model.
    func testAgreesWithADictionaryModel() {
        var rng = SeededGenerator(seed: 1234)
        var timeouts = FlowTimeouts()
        timeouts.tcp = 50; timeouts.udp = 30; timeouts.tcpClosing = 10
        var table = FlowTable(maximumEntries: 3000, timeouts: timeouts, seed: 99)
        var model: [FlowKey: (target: UInt16, expires: UInt32)] = [:]
        var now: UInt32 = 100
        for step in 0..<40_000 {
            let k = key(UInt64.random(in: 0..<4000, using: &rng), lineage: UInt32.random(in: 1...2, using: &rng),
                        v6: Bool.random(using: &rng))
            switch UInt8.random(in: 0..<10, using: &rng) {
            case 0..<5:
                let found = table.find(k, now: now)
                let live = model[k].flatMap { $0.expires > now ? $0 : nil }
                if model[k] != nil, live == nil { model[k] = nil }
                XCTAssertEqual(found.map { table.target(atSlot: $0) }, live?.target, "step \(step)")
                if found == nil, live == nil {
                    let target = UInt16.random(in: 0..<8, using: &rng)
                    let inserted = table.insert(k, target: target, now: now)
                    XCTAssertTrue(inserted || table.count == 3000)
                    if inserted { model[k] = (target, now + (k.ipProtocol == 17 ? 30 : 50)) }
                }
            case 5:
                let removed = table.remove(k)
                switch model.removeValue(forKey: k) {
                case .some(let entry) where entry.expires > now: XCTAssertTrue(removed, "step \(step)")
                case .none: XCTAssertFalse(removed, "step \(step)")
                default: break  // expired: swept already or not yet
                }
            case 6:
                now += UInt32.random(in: 0...5, using: &rng)
                let removed = table.sweep(now: now, budget: 200)
                XCTAssertGreaterThanOrEqual(removed, 0)
                // The model forgets only what the table swept: compare live entries below.
            case 7 where step % 500 == 0:
                let target = UInt16.random(in: 0..<8, using: &rng)
                table.removeTarget(target)
                model = model.filter { $0.value.target != target }
            default:
                break
            }
            if step % 1000 == 0 {
                let live = Dictionary(uniqueKeysWithValues: table.entries(now: now).map { ($0.key, $0.target) })
                XCTAssertEqual(live, model.filter { $0.value.expires > now }.mapValues(\.target), "step \(step)")
                for t in UInt16(0)..<8 {
                    XCTAssertGreaterThanOrEqual(table.count(target: t), live.values.filter { $0 == t }.count)
                }
            }
        }
        XCTAssertLessThanOrEqual(table.count, 3000)
    }

    func testSweepRemovesExpiredWithoutFullScansAndLazyExpiryOnLookup() {
        var table = FlowTable(maximumEntries: 10_000)
        for n in 0..<5000 { XCTAssertTrue(table.insert(key(UInt64(n)), target: UInt16(n % 3), now: 0)) }
        XCTAssertEqual(table.count, 5000)
        // UDP (n % 3 == 0) expires at 300 s, TCP at 900 s.
        XCTAssertNil(table.find(key(0), now: 300), "lazily expired on lookup")
        XCTAssertNotNil(table.find(key(1), now: 300))
        var removed = 0
        var calls = 0
        while removed < 1666 && calls < 10_000 {
            removed += table.sweep(now: 301, budget: 8)
            calls += 1
        }
        XCTAssertEqual(table.count, 5000 - 1667)
        XCTAssertGreaterThan(calls, 100, "each call looks at 8 slots only")
    }

    func testFinOrRstShortensTheTimeout() {
        var table = FlowTable(maximumEntries: 10)
        let k = key(1)  // TCP
        XCTAssertTrue(table.insert(k, target: 2, now: 0))
        let slot = table.find(k, now: 10)!
        table.refresh(slot: slot, now: 10, closing: true)
        XCTAssertNotNil(table.find(k, now: 129))
        XCTAssertNil(table.find(k, now: 130))
    }

    func testCapIsEnforced() {
        var table = FlowTable(maximumEntries: 100)
        for n in 0..<100 { XCTAssertTrue(table.insert(key(UInt64(n)), target: 0, now: 0)) }
        XCTAssertFalse(table.insert(key(1000), target: 0, now: 0))
        XCTAssertEqual(table.count, 100)
    }

    func testOneMillionFlowsFitIn128MB() {
        XCTAssertEqual(FlowTable.slotBytes, 48)
        var table = FlowTable(maximumEntries: 1_000_000)
        for n in 0..<1_000_000 { _ = table.insert(key(UInt64(n) | UInt64(n % 7) << 32, v6: n % 2 == 0), target: UInt16(n % 5), now: 0) }
        XCTAssertEqual(table.count, 1_000_000)
        let bytesPerEntry = Double(table.storageBytes) / Double(table.count)
        XCTAssertLessThanOrEqual(Double(table.storageBytes), 128e6)
        XCTAssertLessThan(bytesPerEntry, 80)
        XCTAssertEqual(table.count(target: 4), 200_000)
        XCTAssertNotNil(table.find(key(UInt64(999_999) | UInt64(999_999 % 7) << 32), now: 1))
    }
}
