import XCTest
@testable import IKEDaemon

/// `vipsec { cluster { } }`: values, defaults, and errors that name file, line and key.
final class ClusterSettingsTests: XCTestCase {
    func config(_ cluster: String) throws -> DaemonConfig {
        try DaemonConfig(parsing: "vipsec {\n    cluster {\n\(cluster)\n    }\n}\n", file: "r.conf")
    }

    let minimal = """
        listen = 10.0.0.1:4501
        ca = /etc/vipsec/ca.crt
        cert = /etc/vipsec/router.crt
        key = /etc/vipsec/router.key
        dvipa = 192.0.2.100
        """

    func testMinimalWithDefaults() throws {
        let settings = try XCTUnwrap(try config(minimal).settings.cluster)
        XCTAssertEqual(settings.listenHost, "10.0.0.1")
        XCTAssertEqual(settings.listenPort, 4501)
        XCTAssertEqual(settings.dvipa, "192.0.2.100")
        XCTAssertEqual(settings.nodeID, "router")
        XCTAssertEqual(settings.sequenceMode, .perTarget)
        XCTAssertEqual(settings.installTimeout, 2)
        XCTAssertEqual(settings.memberTimeout, 3)
        XCTAssertEqual(settings.lifesizeReportPercent, 5)
    }

    func testNoClusterSectionMeansTheLocalKernel() throws {
        XCTAssertNil(try DaemonConfig(parsing: "vipsec {\n listen = 192.0.2.1\n}\n", file: "r.conf").settings.cluster)
    }

    func testAllKeys() throws {
        let settings = try XCTUnwrap(try config(minimal + """

            install_timeout = 5s
            heartbeat = 1s
            member_timeout = 10s
            sequence_mode = shared
            block_size = 64
            replay_window = 4096
            lifesize_report_percent = 10
            status_socket = /run/vipsec/status.sock
            """).settings.cluster)
        XCTAssertEqual(settings.sequenceMode, .shared)
        XCTAssertEqual(settings.blockSize, 64)
        XCTAssertEqual(settings.replayWindow, 4096)
        XCTAssertEqual(settings.installTimeout, 5)
        XCTAssertEqual(settings.memberTimeout, 10)
        XCTAssertEqual(settings.lifesizeReportPercent, 10)
        XCTAssertEqual(settings.statusSocket, "/run/vipsec/status.sock")
    }

    func assertError(_ cluster: String, line: Int, key: String, mentions: String, file: StaticString = #filePath, sourceLine: UInt = #line) {
        XCTAssertThrowsError(try config(cluster), file: file, line: sourceLine) { error in
            guard let error = error as? ConfigError else { return XCTFail("\(error)", file: file, line: sourceLine) }
            XCTAssertEqual(error.file, "r.conf", file: file, line: sourceLine)
            XCTAssertEqual(error.line, line, "\(error)", file: file, line: sourceLine)
            XCTAssertEqual(error.key, key, "\(error)", file: file, line: sourceLine)
            XCTAssertTrue(error.description.contains(mentions), "\(error)", file: file, line: sourceLine)
        }
    }

    func testErrorsNameFileLineAndKey() {
        assertError(minimal.replacingOccurrences(of: "10.0.0.1:4501", with: "10.0.0.1"), line: 3,
                    key: "vipsec.cluster.listen", mentions: "ADDRESS:PORT")
        assertError(minimal.replacingOccurrences(of: "192.0.2.100", with: "192.0.2"), line: 7,
                    key: "vipsec.cluster.dvipa", mentions: "not an IP address")
        assertError(minimal + "\nsequence_mode = per-targt", line: 8, key: "vipsec.cluster.sequence_mode", mentions: "per-target")
        assertError(minimal + "\ninstal_timeout = 2s", line: 8, key: "vipsec.cluster.instal_timeout", mentions: "unknown key")
        assertError(minimal + "\nmember_timeout = 0.2s", line: 8, key: "vipsec.cluster.member_timeout", mentions: "heartbeat")
        assertError(minimal + "\nsequence_mode = shared\nblock_size = 64", line: 9, key: "vipsec.cluster.block_size",
                    mentions: "replay_window")
        assertError(minimal.replacingOccurrences(of: "key = /etc/vipsec/router.key", with: ""), line: 2,
                    key: "vipsec.cluster.key", mentions: "missing")
    }
}
