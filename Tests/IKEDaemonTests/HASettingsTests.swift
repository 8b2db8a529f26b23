import Foundation
import XCTest
@testable import IKEDaemon

/// `vipsec { cluster { ha { } } }`: values, defaults, errors naming file, line and key, and
/// the file checks `--check` runs (DaemonConfig.load).
final class HASettingsTests: XCTestCase {
    let cluster = """
        vipsec {
            cluster {
                listen = 10.0.0.1:4501
                ca = /etc/vipsec/ca.crt
                cert = /etc/vipsec/router.crt
                key = /etc/vipsec/router.key
                dvipa = 192.0.2.100
                ha {
        """   // the ha section's first key is on line 9

    func config(_ ha: String) throws -> DaemonConfig {
        try DaemonConfig(parsing: cluster + "\n" + ha + "\n        }\n    }\n}\n", file: "r.conf")
    }

    let minimal = """
                    etcd = https://10.0.0.31:2379, https://10.0.0.32:2379, https://10.0.0.33:2379
                    ca = /etc/vipsec/ha/ca.crt
                    cert = /etc/vipsec/ha/router1.crt
                    key = /etc/vipsec/ha/router1.key
                    interface = wan0
        """

    func testMinimalWithDefaults() throws {
        let ha = try XCTUnwrap(try config(minimal).settings.cluster?.ha)
        XCTAssertEqual(ha.endpoints, ["https://10.0.0.31:2379", "https://10.0.0.32:2379", "https://10.0.0.33:2379"])
        XCTAssertEqual(ha.caPath, "/etc/vipsec/ha/ca.crt")
        XCTAssertEqual(ha.certificatePath, "/etc/vipsec/ha/router1.crt")
        XCTAssertEqual(ha.keyPath, "/etc/vipsec/ha/router1.key")
        XCTAssertEqual(ha.interface, "wan0")
        XCTAssertEqual(ha.prefix, "/vipsec/")
        XCTAssertEqual(ha.lease, 3)
    }

    func testWithoutHANothingChanges() throws {
        let settings = try DaemonConfig(parsing: cluster.replacingOccurrences(of: "        ha {", with: "") + "\n    }\n}\n",
                                        file: "r.conf").settings.cluster
        XCTAssertNotNil(settings)
        XCTAssertNil(settings?.ha)
    }

    func testAllKeys() throws {
        let ha = try XCTUnwrap(try config(minimal + """

                    prefix = /vipsec/lab
                    lease = 5s
            """).settings.cluster?.ha)
        XCTAssertEqual(ha.prefix, "/vipsec/lab/", "a trailing / is added")
        XCTAssertEqual(ha.lease, 5)
    }

    func testSmallEtcdNeedsTheFlag() throws {
        let one = minimal.replacingOccurrences(of: ", https://10.0.0.32:2379, https://10.0.0.33:2379", with: "")
        assertError(one, line: 9, key: "vipsec.cluster.ha.etcd", mentions: "3 members")
        XCTAssertEqual(try config(one + "\n            allow_small_etcd = yes").settings.cluster?.ha?.endpoints.count, 1)
    }

    func testErrorsNameFileLineAndKey() {
        assertError(minimal.replacingOccurrences(of: "https://10.0.0.32:2379", with: "http://10.0.0.32:2379"),
                    line: 9, key: "vipsec.cluster.ha.etcd", mentions: "https://HOST:PORT")
        assertError(minimal.replacingOccurrences(of: "https://10.0.0.33:2379", with: "https://10.0.0.33"),
                    line: 9, key: "vipsec.cluster.ha.etcd", mentions: "'https://10.0.0.33'")
        assertError(minimal + "\n            lease = 1s", line: 14, key: "vipsec.cluster.ha.lease", mentions: "out of range")
        assertError(minimal + "\n            lease = soon", line: 14, key: "vipsec.cluster.ha.lease", mentions: "not a duration")
        assertError(minimal + "\n            lease = 2.5s", line: 14, key: "vipsec.cluster.ha.lease", mentions: "whole seconds")
        assertError(minimal + "\n            prefix = vipsec", line: 14, key: "vipsec.cluster.ha.prefix", mentions: "must start with /")
        assertError(minimal + "\n            leases = 3s", line: 14, key: "vipsec.cluster.ha.leases", mentions: "unknown key")
        assertError(minimal.replacingOccurrences(of: "interface = wan0", with: "interface = a-very-long-name0"),
                    line: 13, key: "vipsec.cluster.ha.interface", mentions: "not an interface name")
        assertError(minimal.replacingOccurrences(of: "interface = wan0", with: ""),
                    line: 8, key: "vipsec.cluster.ha.interface", mentions: "missing")
        assertError(minimal.replacingOccurrences(of: "key = /etc/vipsec/ha/router1.key", with: ""),
                    line: 8, key: "vipsec.cluster.ha.key", mentions: "missing")
    }

    func assertError(_ ha: String, line: Int, key: String, mentions: String, file: StaticString = #filePath, sourceLine: UInt = #line) {
        XCTAssertThrowsError(try config(ha), file: file, line: sourceLine) { error in
            guard let error = error as? ConfigError else { return XCTFail("\(error)", file: file, line: sourceLine) }
            XCTAssertEqual(error.file, "r.conf", file: file, line: sourceLine)
            XCTAssertEqual(error.line, line, "\(error)", file: file, line: sourceLine)
            XCTAssertEqual(error.key, key, "\(error)", file: file, line: sourceLine)
            XCTAssertTrue(error.message.contains(mentions), "\(error)", file: file, line: sourceLine)
        }
    }

    // MARK: --check: the files (DaemonConfig.load)

    func withFiles(_ body: (String, String) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vipsec-ha-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (name, mode) in [("ca.crt", 0o644), ("router1.crt", 0o644), ("router1.key", 0o600)] {
            FileManager.default.createFile(atPath: "\(directory)/\(name)", contents: Data("x".utf8), attributes: [.posixPermissions: mode])
        }
        let text = (cluster + "\n" + minimal + "\n        }\n    }\n}\n").replacingOccurrences(of: "/etc/vipsec/ha", with: directory)
        let configPath = "\(directory)/vipsec.conf"
        FileManager.default.createFile(atPath: configPath, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        try body(directory, configPath)
    }

    func testCheckAcceptsTightFiles() throws {
        try withFiles { _, configPath in
            XCTAssertNotNil(try DaemonConfig.load(path: configPath).settings.cluster?.ha)
        }
    }

    func testCheckRefusesALooseKey() throws {
        try withFiles { directory, configPath in
            chmod("\(directory)/router1.key", 0o640)
            XCTAssertThrowsError(try DaemonConfig.load(path: configPath)) { error in
                let error = error as? ConfigError
                XCTAssertEqual(error?.file, configPath)
                XCTAssertEqual(error?.line, 12)
                XCTAssertEqual(error?.key, "vipsec.cluster.ha.key")
                XCTAssertTrue(error?.message.contains("mode 0640") ?? false, "\(String(describing: error))")
            }
        }
    }

    func testCheckRefusesAMissingCAAndAWritableCertificate() throws {
        try withFiles { directory, configPath in
            unlink("\(directory)/ca.crt")
            XCTAssertThrowsError(try DaemonConfig.load(path: configPath)) { error in
                XCTAssertEqual((error as? ConfigError)?.key, "vipsec.cluster.ha.ca")
                XCTAssertEqual((error as? ConfigError)?.line, 10)
                XCTAssertTrue((error as? ConfigError)?.message.contains("cannot read") ?? false, "\(error)")
            }
        }
        try withFiles { directory, configPath in
            chmod("\(directory)/router1.crt", 0o666)
            XCTAssertThrowsError(try DaemonConfig.load(path: configPath)) { error in
                XCTAssertEqual((error as? ConfigError)?.key, "vipsec.cluster.ha.cert")
                XCTAssertEqual((error as? ConfigError)?.line, 11)
            }
        }
    }

    func testSealKeyIsOptionalAndCheckedLikeAKey() throws {
        XCTAssertNil(try config(minimal).settings.cluster?.ha?.sealKeyPath, "without it no IKE state goes to etcd")
        try withFiles { directory, _ in
            let path = "\(directory)/seal.key"
            FileManager.default.createFile(atPath: path, contents: Data(repeating: 7, count: 32), attributes: [.posixPermissions: 0o644])
            let text = (cluster + "\n" + minimal + "\n            seal_key = \(path)\n        }\n    }\n}\n")
                .replacingOccurrences(of: "/etc/vipsec/ha", with: directory)
            let configPath = "\(directory)/sealed.conf"
            FileManager.default.createFile(atPath: configPath, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
            XCTAssertThrowsError(try DaemonConfig.load(path: configPath)) { error in
                let error = error as? ConfigError
                XCTAssertEqual(error?.key, "vipsec.cluster.ha.seal_key")
                XCTAssertEqual(error?.line, 14)
                XCTAssertTrue(error?.message.contains("mode 0644") ?? false, "\(String(describing: error))")
            }
            chmod(path, 0o600)
            XCTAssertEqual(try DaemonConfig.load(path: configPath).settings.cluster?.ha?.sealKeyPath, path)
        }
    }
}
