import Foundation
import XCTest

/// `vipsec status --connections` as a user types it, without a daemon: a bad `--limit` is
/// refused naming the flag; no routing node says so; exit status non-zero.
extension VipsecCLITests {
    func testStatusConnectionsRefusesABadLimitNamingTheFlag() throws {
        for limit in ["100001", "-1", "many"] {
            let result = try run(["status", "--connections", "--limit=\(limit)"])
            XCTAssertNotEqual(result.status, 0, limit)
            XCTAssertTrue(result.output.contains("--limit"), result.output)
        }
        let alone = try run(["status", "--limit", "5"])
        XCTAssertNotEqual(alone.status, 0)
        XCTAssertTrue(alone.output.contains("--limit goes with --connections"), alone.output)
    }

    func testStatusSocketFlagsAreRefusedWithTheWrongMode() throws {
        let status = try run(["status", "--connections", "--socket", "/tmp/status.sock"])
        XCTAssertNotEqual(status.status, 0)
        XCTAssertTrue(status.output.contains("--socket names the status socket"), status.output)
        let control = try run(["status", "--control-socket", "/tmp/control.sock"])
        XCTAssertNotEqual(control.status, 0)
        XCTAssertTrue(control.output.contains("--control-socket goes with --connections"), control.output)
    }

    func testStatusConnectionsWithoutARoutingNodeSaysSoAndFails() throws {
        let socket = NSTemporaryDirectory() + "vipsec-no-routing-\(getpid()).sock"
        let result = try run(["status", "--connections", "--control-socket", socket])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.output.contains("cannot connect to the control socket \(socket)"), result.output)
    }
}
