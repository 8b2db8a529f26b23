import IKECrypto
import IKEv2
import XCTest

/// The setup floor `vipsec-crypto-bench` prints: it runs the whole responder crypto (it
/// throws when the IKE_AUTH request does not open or AUTH does not verify) and its total is
/// the sum of its parts. No timing is asserted.
final class SetupFloorBenchmarkTests: XCTestCase {
    func testFloorRunsEveryPartAndSumsThem() throws {
        let floor = try SetupFloorBenchmark.measure(iterations: 3)
        let parts = [floor.keyExchange, floor.randomness, floor.ikeSAKeys, floor.natDetection, floor.authExchange, floor.childSAKeys]
        XCTAssertTrue(parts.allSatisfy { $0 >= 0 }, "\(parts)")
        XCTAssertEqual(floor.total, parts.reduce(0, +), accuracy: 1e-9)
    }

    func testThreadCPUTimeAdvancesWithWork() {
        let start = threadCPUSeconds()
        var x: UInt64 = 1
        var spins = 0
        while threadCPUSeconds() == start, spins < 100_000_000 {   // busy until the clock ticks
            x = x &* 6364136223846793005 &+ 1442695040888963407
            spins += 1
        }
        XCTAssertGreaterThan(threadCPUSeconds(), start, "spun \(spins) times (\(x))")
    }
}
