import XCTest
@testable import IKEDaemon

/// `vipsec { cluster { inbound { } } }`: absent = nothing changes; values; errors by line and key.
final class InboundSettingsTests: XCTestCase {
    let cluster = """
        listen = 10.0.0.1:4501
        ca = /etc/vipsec/ca.crt
        cert = /etc/vipsec/router.crt
        key = /etc/vipsec/router.key
        dvipa = 192.0.2.100
        """

    func settings(_ inbound: String?) throws -> ClusterSettings? {
        let section = inbound.map { "\n        inbound {\n\($0)\n        }" } ?? ""
        return try DaemonConfig(parsing: "vipsec {\n    cluster {\n\(cluster)\(section)\n    }\n}\n", file: "r.conf").settings.cluster
    }

    func testAbsentMeansNoDistributor() throws {
        XCTAssertNil(try XCTUnwrap(try settings(nil)).inbound)
    }

    func testDefaultsAndValues() throws {
        XCTAssertEqual(try settings("")?.inbound, InboundSettings(mode: .direct, queue: 0, maximumFlows: 1_000_000))
        XCTAssertEqual(try settings("mode = direct\nqueue = 7\nmax_flows = 64k")?.inbound,
                       InboundSettings(mode: .direct, queue: 7, maximumFlows: 65_536))  // counts are binary (64k = 65536)
    }

    func assertError(_ inbound: String, line: Int, key: String, mentions: String, file: StaticString = #filePath, sourceLine: UInt = #line) {
        XCTAssertThrowsError(try settings(inbound), file: file, line: sourceLine) { error in
            guard let error = error as? ConfigError else { return XCTFail("\(error)", file: file, line: sourceLine) }
            XCTAssertEqual(error.line, line, "\(error)", file: file, line: sourceLine)
            XCTAssertEqual(error.key, key, "\(error)", file: file, line: sourceLine)
            XCTAssertTrue(error.description.contains(mentions), "\(error)", file: file, line: sourceLine)
        }
    }

    func testErrors() {
        assertError("mode = encapsulated", line: 9, key: "vipsec.cluster.inbound.mode", mentions: "not supported yet")
        assertError("mode = gre", line: 9, key: "vipsec.cluster.inbound.mode", mentions: "direct")
        assertError("queue = 70000", line: 9, key: "vipsec.cluster.inbound.queue", mentions: "0...65535")
        assertError("max_flows = 10", line: 9, key: "vipsec.cluster.inbound.max_flows", mentions: "1024")
        assertError("queues = 1", line: 9, key: "vipsec.cluster.inbound.queues", mentions: "unknown key")
    }
}
