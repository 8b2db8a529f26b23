import XCTest
@testable import IKEDaemon

/// `vipsec { cluster { inbound { } } }`: absent = nothing changes; values; errors by line and key.
final class InboundSettingsTests: XCTestCase {
    func cluster(listen: String, dvipa: String) -> String {
        """
        listen = \(listen)
        ca = /etc/vipsec/ca.crt
        cert = /etc/vipsec/router.crt
        key = /etc/vipsec/router.key
        dvipa = \(dvipa)
        """
    }

    func settings(_ inbound: String?, listen: String = "10.0.0.1:4501", dvipa: String = "192.0.2.100") throws -> ClusterSettings? {
        let section = inbound.map { "\n        inbound {\n\($0)\n        }" } ?? ""
        let cluster = cluster(listen: listen, dvipa: dvipa)
        return try DaemonConfig(parsing: "vipsec {\n    cluster {\n\(cluster)\(section)\n    }\n}\n", file: "r.conf").settings.cluster
    }

    func testAbsentMeansNoDistributor() throws {
        XCTAssertNil(try XCTUnwrap(try settings(nil)).inbound)
    }

    func testDefaultsAndValues() throws {
        XCTAssertEqual(try settings("")?.inbound, InboundSettings(mode: .direct, queues: 0...0, maximumFlows: 1_000_000))
        XCTAssertEqual(try settings("mode = direct\nqueue = 7\nmax_flows = 64k")?.inbound,
                       InboundSettings(mode: .direct, queues: 7...7, maximumFlows: 65_536))  // counts are binary (64k = 65536)
        XCTAssertEqual(try settings("mode = encapsulated\nqueue = 1")?.inbound,
                       InboundSettings(mode: .encapsulated, queues: 1...1, maximumFlows: 1_000_000))
        // A range as nft's `queue num 0-3`: one worker per queue.
        XCTAssertEqual(try settings("queue = 0-3")?.inbound?.queues, 0...3)
        XCTAssertEqual(try settings("mode = encapsulated\nqueue = 4-5")?.inbound?.queues, 4...5)
        XCTAssertEqual(try settings("queue = 65472-65535")?.inbound?.queues, 65472...65535)  // 64 queues: the most
        // ICV verification at the routing node: never by default.
        XCTAssertEqual(try settings("")?.inbound?.verify, .never)
        XCTAssertEqual(try settings("verify = never")?.inbound?.verify, .never)
        XCTAssertEqual(try settings("verify = always")?.inbound?.verify, .always)
        XCTAssertEqual(try settings("mode = encapsulated\nverify = under-attack")?.inbound,
                       InboundSettings(mode: .encapsulated, queues: 0...0, maximumFlows: 1_000_000, verify: .underAttack))
        // Direct mode is not limited by the cluster addresses encapsulated mode needs.
        XCTAssertEqual(try settings("mode = direct", listen: "0.0.0.0:4501", dvipa: "2001:db8::100")?.inbound?.mode, .direct)
    }

    /// Encapsulated mode is IPv4 only, and its GRE source is `listen`: refused with the mode's line.
    func testEncapsulatedRefusesWhatItCannotServe() {
        func refused(listen: String, dvipa: String, mentions: String, sourceLine: UInt = #line) {
            XCTAssertThrowsError(try settings("mode = encapsulated", listen: listen, dvipa: dvipa), line: sourceLine) { error in
                guard let error = error as? ConfigError else { return XCTFail("\(error)", line: sourceLine) }
                XCTAssertEqual(error.line, 9, "\(error)", line: sourceLine)
                XCTAssertEqual(error.key, "vipsec.cluster.inbound.mode", "\(error)", line: sourceLine)
                XCTAssertTrue(error.description.contains(mentions), "\(error)", line: sourceLine)
                XCTAssertTrue(error.description.contains("r.conf"), "\(error)", line: sourceLine)
            }
        }
        refused(listen: "10.0.0.1:4501", dvipa: "2001:db8::100", mentions: "IPv4 only")
        refused(listen: "fd00::1:4501", dvipa: "192.0.2.100", mentions: "IPv6")
        refused(listen: "0.0.0.0:4501", dvipa: "192.0.2.100", mentions: "0.0.0.0")
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
        assertError("mode = gre", line: 9, key: "vipsec.cluster.inbound.mode", mentions: "direct, encapsulated")
        assertError("mode = Encapsulated", line: 9, key: "vipsec.cluster.inbound.mode", mentions: "is not one of")
        assertError("queue = 70000", line: 9, key: "vipsec.cluster.inbound.queue", mentions: "0...65535")
        assertError("queue = 3-0", line: 9, key: "vipsec.cluster.inbound.queue", mentions: "below its last")
        assertError("queue = 2-2", line: 9, key: "vipsec.cluster.inbound.queue", mentions: "below its last")
        assertError("queue = 0-65536", line: 9, key: "vipsec.cluster.inbound.queue", mentions: "0...65535")
        assertError("queue = 0-64", line: 9, key: "vipsec.cluster.inbound.queue", mentions: "at most 64")
        assertError("queue = 0-", line: 9, key: "vipsec.cluster.inbound.queue", mentions: "range A-B")
        assertError("queue = -1", line: 9, key: "vipsec.cluster.inbound.queue", mentions: "range A-B")
        assertError("queue = 0-1-2", line: 9, key: "vipsec.cluster.inbound.queue", mentions: "range A-B")
        assertError("queue = +1", line: 9, key: "vipsec.cluster.inbound.queue", mentions: "range A-B")
        assertError("queue = 0..3", line: 9, key: "vipsec.cluster.inbound.queue", mentions: "range A-B")
        // The second line of the section: the error names that line.
        assertError("mode = direct\nqueue = 1-0", line: 10, key: "vipsec.cluster.inbound.queue", mentions: "r.conf")
        assertError("max_flows = 10", line: 9, key: "vipsec.cluster.inbound.max_flows", mentions: "1024")
        assertError("verify = yes", line: 9, key: "vipsec.cluster.inbound.verify", mentions: "always, never, under-attack")
        assertError("queue = 0\nverify = under_attack", line: 10, key: "vipsec.cluster.inbound.verify", mentions: "is not one of")
        assertError("queues = 1", line: 9, key: "vipsec.cluster.inbound.queues", mentions: "unknown key")
    }
}
