import XCTest
import IKEv2
@testable import IKEDaemon

/// rekey_bytes / life_bytes / rand_bytes (and _packets) in strongSwan's syntax and meaning.
final class VolumeLimitsConfigTests: XCTestCase {
    /// A config with one child holding `keys` (one per line, starting at line 10).
    static func config(_ keys: [String]) -> String {
        """
        connections {
            gw {
                remote_addrs = 192.0.2.1
                local {
                }
                remote {
                }
                children {
                    c {
        \(keys.map { "                \($0)" }.joined(separator: "\n"))
                    }
                }
            }
        }
        secrets {
            ike-s {
                secret = hush
            }
        }

        """
    }

    func child(_ keys: [String], file: StaticString = #filePath, line: UInt = #line) throws -> ChildConfig {
        let config = try DaemonConfig(parsing: Self.config(keys), file: "limits.conf")
        return try XCTUnwrap(config.connections.first?.children.first, file: file, line: line)
    }

    func testStrongSwanDefaults() throws {
        XCTAssertEqual(try child([]).bytes, VolumeLimits())
        XCTAssertEqual(try child([]).packets, VolumeLimits())
        // life = rekey + 10 %, rand = life - rekey.
        XCTAssertEqual(try child(["rekey_bytes = 1000"]).bytes, VolumeLimits(rekey: 1000, life: 1100, rand: 100))
        XCTAssertEqual(try child(["rekey_bytes = 200k", "life_bytes = 300k"]).bytes,
                       VolumeLimits(rekey: 200 << 10, life: 300 << 10, rand: 100 << 10))
        XCTAssertEqual(try child(["rekey_bytes = 200k", "life_bytes = 300k", "rand_bytes = 0"]).bytes,
                       VolumeLimits(rekey: 200 << 10, life: 300 << 10, rand: 0))
        XCTAssertEqual(try child(["rekey_packets = 1000", "life_packets = 2000", "rand_packets = 10"]).packets,
                       VolumeLimits(rekey: 1000, life: 2000, rand: 10))
        // Hard limit only (no rekey by volume), and a life far beyond rekey: the jitter
        // still leaves a positive soft limit.
        XCTAssertEqual(try child(["life_bytes = 100k"]).bytes, VolumeLimits(rekey: 0, life: 100 << 10, rand: 0))
        XCTAssertEqual(try child(["rekey_bytes = 10", "life_bytes = 1m"]).bytes, VolumeLimits(rekey: 10, life: 1 << 20, rand: 9))
        // life_bytes = 0: no hard limit.
        XCTAssertEqual(try child(["rekey_bytes = 1m", "life_bytes = 0"]).bytes, VolumeLimits(rekey: 1 << 20, life: 0, rand: 0))
        // The old accessors still read the same.
        let limited = try child(["rekey_bytes = 500m"])
        XCTAssertEqual(limited.rekeyBytes, 500 << 20)
        XCTAssertEqual(limited.lifeBytes, 550 << 20)
    }

    func testHugeRekeyBytesSaturatesInsteadOfTrapping() throws {
        XCTAssertEqual(try child(["rekey_bytes = 18446744073709551615"]).bytes.life, .max)
    }

    func testResolvedLifetimeCarriesAllLimits() throws {
        let config = try DaemonConfig(parsing: Self.config(["rekey_bytes = 200k", "life_bytes = 300k", "rand_bytes = 20k",
                                                            "rekey_packets = 500", "rekey_time = 1h"]), file: "x.conf")
        let resolved = try ConnectionResolver(config: config).resolve(index: 0, local: [192, 0, 2, 100], remote: [192, 0, 2, 1])
        XCTAssertEqual(resolved.child.lifetime,
                       ChildSALifetime(softSeconds: 3600, hardSeconds: 3960, softBytes: 200 << 10, hardBytes: 300 << 10,
                                       softPackets: 500, hardPackets: 550, softBytesJitter: 20 << 10, softPacketsJitter: 50))
    }

    func assertError(_ keys: [String], line: Int, key: String, contains fragment: String,
                     file: StaticString = #filePath, sourceLine: UInt = #line) {
        XCTAssertThrowsError(try DaemonConfig(parsing: Self.config(keys), file: "limits.conf"), file: file, line: sourceLine) { error in
            guard let error = error as? ConfigError else { return XCTFail("\(error)", file: file, line: sourceLine) }
            XCTAssertEqual(error.line, line, "\(error)", file: file, line: sourceLine)
            XCTAssertEqual(error.key, "connections.gw.children.c.\(key)", "\(error)", file: file, line: sourceLine)
            XCTAssertTrue(error.description.contains(fragment), "\(error)", file: file, line: sourceLine)
            XCTAssertTrue(error.description.contains("limits.conf"), "\(error)", file: file, line: sourceLine)
        }
    }

    func testBadValuesNameKeyAndLine() {
        assertError(["rekey_bytes = 200k", "life_bytes = 100k"], line: 11, key: "life_bytes",
                    contains: "must not be smaller than rekey_bytes")
        assertError(["rekey_packets = 100", "life_packets = 99"], line: 11, key: "life_packets",
                    contains: "must not be smaller than rekey_packets")
        assertError(["rekey_bytes = 200k", "rand_bytes = 200k"], line: 11, key: "rand_bytes", contains: "must be smaller than rekey_bytes")
        assertError(["rand_packets = 5"], line: 10, key: "rand_packets", contains: "needs rekey_packets")
        assertError(["rekey_bytes = lots"], line: 10, key: "rekey_bytes", contains: "is not a count")
        assertError(["life_bytes = -1"], line: 10, key: "life_bytes", contains: "is not a count")
        assertError(["rekey_bytes = 99999999999g"], line: 10, key: "rekey_bytes", contains: "is not a count")
        assertError(["life_byte = 1m"], line: 10, key: "life_byte", contains: "unknown key")
    }
}
