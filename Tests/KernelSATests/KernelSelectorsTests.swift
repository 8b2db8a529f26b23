import XCTest
import Cluster
import IKEv2
import VipsecTestSupport
@testable import KernelSA

/// Negotiated ranges → kernel prefixes: exact, never wider.
final class KernelSelectorsTests: XCTestCase {
    func text(_ prefixes: [(address: [UInt8], length: UInt8)]) -> [String] {
        prefixes.map { p in
            p.address.count == 4 ? p.address.map(String.init).joined(separator: ".") + "/\(p.length)"
                : p.address.map { String(format: "%02x", $0) }.joined() + "/\(p.length)"
        }
    }

    func testPrefixRangesStayOnePrefix() {
        XCTAssertEqual(text(KernelSelectors.prefixes(from: [10, 2, 0, 0], to: [10, 2, 0, 255])), ["10.2.0.0/24"])
        XCTAssertEqual(text(KernelSelectors.prefixes(from: [192, 0, 2, 7], to: [192, 0, 2, 7])), ["192.0.2.7/32"])
        XCTAssertEqual(text(KernelSelectors.prefixes(from: [0, 0, 0, 0], to: [255, 255, 255, 255])), ["0.0.0.0/0"])
        let zero = [UInt8](repeating: 0, count: 16), ones = [UInt8](repeating: 0xff, count: 16)
        XCTAssertEqual(KernelSelectors.prefixes(from: zero, to: ones).map(\.length), [0], "all of IPv6")
    }

    /// The case the old code widened: 10.0.0.1-10.0.0.5 became 10.0.0.0/29 (.0 to .7).
    func testARangeThatIsNoPrefixBecomesExactPrefixes() {
        XCTAssertEqual(text(KernelSelectors.prefixes(from: [10, 0, 0, 1], to: [10, 0, 0, 5])),
                       ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31"])
        XCTAssertEqual(KernelSelectors.prefixes(from: [10, 0, 0, 1], to: [10, 0, 0, 254]).count, 14)
        XCTAssertTrue(KernelSelectors.prefixes(from: [10, 0, 0, 5], to: [10, 0, 0, 1]).isEmpty, "end before start")
        XCTAssertTrue(KernelSelectors.prefixes(from: [10, 0, 0, 5], to: [10, 0, 0]).isEmpty, "mixed lengths")
    }

    /// Seeded random ranges (IPv4 and IPv6): the prefixes are aligned, adjacent, in order, and
    /// cover exactly start...end.
    func testRandomRangesAreCoveredExactly() {
        var generator = SeededGenerator(seed: 0x5eed)
        for round in 0..<400 {
            let v6 = round % 2 == 1
            var start = (0..<(v6 ? 16 : 4)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            var end = start
            // Differ only in the last few octets, so the ranges have every shape.
            let tail = Int.random(in: 1...3, using: &generator)
            for index in (start.count - tail)..<start.count {
                start[index] = UInt8.random(in: 0...255, using: &generator)
                end[index] = UInt8.random(in: 0...255, using: &generator)
            }
            if end.lexicographicallyPrecedes(start) { swap(&start, &end) }
            let prefixes = KernelSelectors.prefixes(from: start, to: end)
            XCTAssertFalse(prefixes.isEmpty)
            var next = number(start)
            for prefix in prefixes {
                let hostBits = start.count * 8 - Int(prefix.length)
                let first = number(prefix.address)
                XCTAssertEqual(first, next, "adjacent, in order (round \(round))")
                XCTAssertEqual(hostBits == 0 ? 0 : first & ((UInt128(1) << UInt128(hostBits)) - 1), 0, "aligned")
                next = first + (hostBits == 0 ? 1 : UInt128(1) << UInt128(hostBits))
            }
            XCTAssertEqual(next - 1, number(end), "ends at the range's end (round \(round))")
        }
    }

    func testProtocolsAndPortsAreKeptNotWidened() throws {
        let local = TrafficSelector.ipv4([10, 2, 0, 0], [10, 2, 0, 255])
        let web = TrafficSelector.ipv4([10, 1, 0, 0], [10, 1, 0, 255], ipProtocolID: 6, ports: 443...443)
        let pair = try KernelSelectors.selectors(local: [local], remote: [web])
        XCTAssertEqual(pair.outbound.count, 1)
        XCTAssertEqual(pair.outbound[0].ipProtocol, 6, "the remote selector's protocol, though the local one says any")
        XCTAssertEqual(pair.outbound[0].destinationPort, 443)
        XCTAssertEqual(pair.outbound[0].sourcePort, 0)
        XCTAssertEqual(pair.inbound[0].sourcePort, 443, "mirrored for traffic from the peer")
        XCTAssertEqual(pair.inbound[0].source, .v4(10, 1, 0, 0))
        let udp = TrafficSelector.ipv4([10, 1, 0, 0], [10, 1, 0, 255], ipProtocolID: 17)
        let tcp = TrafficSelector.ipv4([10, 2, 0, 0], [10, 2, 0, 255], ipProtocolID: 6)
        XCTAssertTrue(try KernelSelectors.selectors(local: [tcp], remote: [udp]).outbound.isEmpty, "TCP to UDP matches nothing")
        let v6 = TrafficSelector.ipv6([UInt8](repeating: 0, count: 16), [UInt8](repeating: 0xff, count: 16))
        XCTAssertTrue(try KernelSelectors.selectors(local: [local], remote: [v6]).outbound.isEmpty, "families apart")
    }

    func testWhatTheKernelCannotHoldExactlyIsRefusedByName() {
        let local = TrafficSelector.ipv4([10, 2, 0, 0], [10, 2, 0, 255])
        let range = TrafficSelector.ipv4([10, 1, 0, 0], [10, 1, 0, 255], ipProtocolID: 6, ports: 1000...2000)
        XCTAssertThrowsError(try KernelSelectors.selectors(local: [local], remote: [range])) {
            XCTAssertTrue("\($0)".contains("ports 1000-2000"), "\($0)")
        }
        let many = TrafficSelector.ipv4([10, 1, 0, 1], [10, 1, 0, 254])   // 14 prefixes
        let more = TrafficSelector.ipv4([10, 2, 0, 1], [10, 2, 0, 6])      // 4 prefixes
        XCTAssertThrowsError(try KernelSelectors.selectors(local: [more], remote: [many])) {
            XCTAssertTrue("\($0)".contains("56 kernel selectors, more than 16"), "\($0)")
        }
        XCTAssertEqual(try KernelSelectors.selectors(local: [local], remote: [many]).outbound.count, 14)
    }

    private func number(_ octets: [UInt8]) -> UInt128 { octets.reduce(UInt128(0)) { $0 << 8 | UInt128($1) } }
}
