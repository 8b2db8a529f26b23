// `auth = pubkey` in the config file: files found in swanctl's layout, errors by key and line,
// a private key readable by others refused by name.
import Foundation
import IKECertificates
import IKEDaemon
import X509
import XCTest

final class CertificateConfigTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "vipsec-cert-config-\(UUID().uuidString)"
        for folder in ["x509", "x509ca", "private"] {
            try FileManager.default.createDirectory(atPath: "\(directory!)/\(folder)", withIntermediateDirectories: true)
        }
        let caKey = try TestKeyType.p256.make()
        let ca = try makeCA("root", key: caKey)
        let key = try TestKeyType.p256.make()
        let leaf = try makeLeaf("gw", key: key, issuer: ca, names: [.dnsName("gw.vipsec.test")])
        try write("x509ca/ca.pem", try ca.certificate.serializeAsPEM().pemString)
        try write("x509/gw.pem", try leaf.serializeAsPEM().pemString)
        try write("private/gw.pem", try key.serializeAsPEM().pemString, mode: 0o600)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func write(_ name: String, _ text: String, mode: Int = 0o644) throws {
        let path = "\(directory!)/\(name)"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    func config(local: String = "auth = pubkey\n certs = gw.pem", remote: String = "auth = pubkey\n cacerts = ca.pem",
                extra: String = "") -> String {
        """
        connections {
            gw {
                remote_addrs = 192.0.2.1
                local {
                    \(local)
                }
                remote {
                    \(remote)
                }
                children { net { } }
            }
        }
        \(extra)
        """
    }

    func parse(_ text: String) throws -> DaemonConfig {
        try DaemonConfig(parsing: text, file: "\(directory!)/vipsec.conf")
    }

    func assertConfigError(_ text: String, key: String, line: Int? = nil, contains: String, file: StaticString = #filePath, lineNumber: UInt = #line) {
        XCTAssertThrowsError(try parse(text), file: file, line: lineNumber) { error in
            guard let error = error as? ConfigError else { return XCTFail("\(error)", file: file, line: lineNumber) }
            XCTAssertEqual(error.key, key, "\(error)", file: file, line: lineNumber)
            if let line { XCTAssertEqual(error.line, line, "\(error)", file: file, line: lineNumber) }
            XCTAssertTrue(error.description.contains(contains), "\(error)", file: file, line: lineNumber)
        }
    }

    func testPubkeyConnectionLoadsChainKeyAndAnchors() throws {
        let parsed = try parse(config())
        let credentials = try XCTUnwrap(parsed.connections[0].credentials)
        XCTAssertTrue(credentials.authenticator.canSign)
        XCTAssertEqual(credentials.authenticator.certificatePayloads.count, 1)
        XCTAssertNotNil(credentials.authenticator.certificateRequest)
        XCTAssertNotNil(credentials.subjectDER)
        XCTAssertFalse(credentials.description.contains("BEGIN"), "never the key")
    }

    func testKeyFromSecretsSection() throws {
        try FileManager.default.moveItem(atPath: "\(directory!)/private/gw.pem", toPath: "\(directory!)/gw.key")
        let parsed = try parse(config(extra: "secrets {\n private-gw {\n file = \(directory!)/gw.key\n }\n}"))
        XCTAssertEqual(parsed.privateKeyFiles.map(\.name), ["private-gw"])
        XCTAssertTrue(try XCTUnwrap(parsed.connections[0].credentials).authenticator.canSign)
    }

    func testLooseKeyFileIsRefusedByName() throws {
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: "\(directory!)/private/gw.pem")
        XCTAssertThrowsError(try parse(config())) { error in
            XCTAssertTrue("\(error)".contains("private/gw.pem"), "\(error)")
            XCTAssertTrue("\(error)".contains("chmod 600"), "\(error)")
        }
    }

    func testMissingKeyIsAnError() throws {
        try FileManager.default.removeItem(atPath: "\(directory!)/private/gw.pem")
        assertConfigError(config(), key: "connections.gw.local.certs", line: 6, contains: "no private key")
    }

    func testMissingCertificateFileNamesKeyAndLine() {
        assertConfigError(config(local: "auth = pubkey\n certs = nope.pem"), key: "connections.gw.local.certs", line: 6,
                          contains: "cannot read")
    }

    func testCertsBelongLocalAndCacertsRemote() {
        assertConfigError(config(remote: "auth = pubkey\n certs = gw.pem"), key: "connections.gw.remote.certs", line: 10,
                          contains: "local section")
        assertConfigError(config(local: "auth = pubkey\n certs = gw.pem\n cacerts = ca.pem"), key: "connections.gw.local.cacerts",
                          line: 7, contains: "remote section")
    }

    func testPubkeyNeedsCertsAndCacerts() {
        assertConfigError(config(local: "auth = pubkey"), key: "connections.gw.local.certs", contains: "missing")
        assertConfigError(config(remote: "auth = pubkey"), key: "connections.gw.remote.cacerts", contains: "missing")
        assertConfigError(config(local: "auth = psk\n certs = gw.pem"), key: "connections.gw.local.certs", line: 6,
                          contains: "auth = pubkey")
    }

    func testMalformedDistinguishedNameId() {
        assertConfigError(config(local: "auth = pubkey\n certs = gw.pem\n id = XX=foo, CN=gw"), key: "connections.gw.local.id",
                          line: 7, contains: "Distinguished Name")
    }

    func testCertificateFileThatIsNotACertificate() throws {
        try write("x509ca/bad.pem", "not a certificate")
        assertConfigError(config(remote: "auth = pubkey\n cacerts = bad.pem"), key: "connections.gw.remote.cacerts", line: 10,
                          contains: "no X.509 certificate")
    }
}
