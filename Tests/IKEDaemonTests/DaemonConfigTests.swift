import XCTest
@testable import IKEDaemon
#if canImport(Glibc)
import Glibc
#endif

final class DaemonConfigTests: XCTestCase {
    static let sample = """
        # vipsec gateway
        vipsec {
            listen = 192.0.2.1, 2001:db8::1
            half_open_limit = 500
            cookie_threshold = 20
        }
        connections {
            gw {
                version = 2
                local_addrs = 192.0.2.1
                remote_addrs = 198.51.100.2
                proposals = aes256gcm16-prfsha256-x25519, aes128-sha256-ecp256
                rekey_time = 2h
                dpd_delay = 30s
                local {
                    auth = psk
                    id = gw.example
                }
                remote {
                    auth = psk
                    id = "peer example"   # quoted, with a space
                }
                children {
                    net {
                        local_ts = 10.1.0.0/16
                        remote_ts = 10.2.0.0/24, 10.3.0.1
                        esp_proposals = aes256gcm16-x25519
                        mode = tunnel
                        rekey_time = 20m
                        rekey_bytes = 500m
                        start_action = start
                    }
                    host {
                        mode = transport
                    }
                }
            }
        }
        secrets {
            ike-gw {
                id = gw.example
                id-peer = peer example
                secret = 0x73656372657421
            }
        }
        """

    func testParsesTheSample() throws {
        let config = try DaemonConfig(parsing: Self.sample, file: "sample.conf")
        XCTAssertEqual(config.settings.listenAddresses, ["192.0.2.1", "2001:db8::1"])
        XCTAssertEqual(config.settings.halfOpenLimit, 500)
        XCTAssertEqual(config.settings.cookieThreshold, 20)
        XCTAssertEqual(config.settings.ikePort, 500)
        XCTAssertEqual(config.connections.count, 1)
        let gw = config.connections[0]
        XCTAssertEqual(gw.name, "gw")
        XCTAssertEqual(gw.localAddresses, ["192.0.2.1"])
        XCTAssertEqual(gw.remoteAddresses, ["198.51.100.2"])
        XCTAssertEqual(gw.proposals, ["aes256gcm16-prfsha256-x25519", "aes128-sha256-ecp256"])
        XCTAssertEqual(gw.rekeyTime, 7200)
        XCTAssertEqual(gw.overTime, 720, accuracy: 0.001)
        XCTAssertEqual(gw.dpdDelay, 30)
        XCTAssertEqual(gw.local, AuthConfig(method: .psk, identity: "gw.example"))
        XCTAssertEqual(gw.remote.identity, "peer example")
        XCTAssertEqual(gw.children.map(\.name), ["net", "host"])
        let net = gw.children[0]
        XCTAssertEqual(net.localTrafficSelectors, [.prefix(IPPrefix("10.1.0.0/16")!)])
        XCTAssertEqual(net.remoteTrafficSelectors.map(\.description), ["10.2.0.0/24", "10.3.0.1/32"])
        XCTAssertEqual(net.espProposals, ["aes256gcm16-x25519"])
        XCTAssertEqual(net.rekeyTime, 1200)
        XCTAssertEqual(net.lifeTime, 1320, accuracy: 0.001)
        XCTAssertEqual(net.rekeyBytes, 500 << 20)
        XCTAssertEqual(net.startAction, .start)
        let host = gw.children[1]
        XCTAssertEqual(host.mode, .transport)
        XCTAssertEqual(host.localTrafficSelectors, [.dynamic])
        XCTAssertEqual(host.rekeyTime, 3600)
        XCTAssertEqual(host.startAction, StartAction.none)
        XCTAssertEqual(config.secrets.count, 1)
        XCTAssertEqual(config.secrets[0].identities, ["gw.example", "peer example"])
        XCTAssertEqual(config.secrets[0].secret, Array("secret!".utf8))
    }

    func testSecretsNeverAppearInDescriptions() throws {
        let config = try DaemonConfig(parsing: Self.sample, file: "sample.conf")
        XCTAssertFalse(String(describing: config).contains("secret!"))
        XCTAssertFalse(String(describing: config.secrets).contains("115")) // 's' as a byte
        var secret = config.secrets[0]
        secret.wipe()
        XCTAssertEqual(secret.secret, [UInt8](repeating: 0, count: 7))
    }

    func testSecretLookupPrefersTheBestMatch() throws {
        let text = """
            secrets {
                ike-any { secret = anyone
                }
                ike-peer {
                    id = peer
                    secret = 0sc2VjcmV0
                }
            }
            """
        let config = try DaemonConfig(parsing: text, file: "s.conf")
        XCTAssertEqual(config.sharedSecret(local: "gw", remote: "peer")?.name, "ike-peer")
        XCTAssertEqual(config.sharedSecret(local: "gw", remote: "peer")?.secret, Array("secret".utf8))
        XCTAssertEqual(config.sharedSecret(local: "gw", remote: "stranger")?.name, "ike-any")
    }

    func assertError(_ text: String, line: Int, key: String?, contains fragment: String,
                     file: StaticString = #filePath, sourceLine: UInt = #line) {
        XCTAssertThrowsError(try DaemonConfig(parsing: text, file: "bad.conf"), file: file, line: sourceLine) { error in
            guard let error = error as? ConfigError else { return XCTFail("\(error)", file: file, line: sourceLine) }
            XCTAssertEqual(error.file, "bad.conf", file: file, line: sourceLine)
            XCTAssertEqual(error.line, line, "\(error)", file: file, line: sourceLine)
            XCTAssertEqual(error.key, key, "\(error)", file: file, line: sourceLine)
            XCTAssertTrue(error.description.contains(fragment), "\(error)", file: file, line: sourceLine)
        }
    }

    func testErrorsNameFileLineAndKey() {
        assertError("connections {\n gw {\n  local {\n  }\n  remote {\n  }\n  rekey_tme = 1h\n }\n}\n",
                    line: 7, key: "connections.gw.rekey_tme", contains: "unknown key")
        assertError("connections {\n gw {\n  rekey_time = soon\n }\n}\n",
                    line: 3, key: "connections.gw.rekey_time", contains: "not a duration")
        assertError("connections {\n gw {\n  local {\n  }\n }\n}\n",
                    line: 2, key: "connections.gw.remote", contains: "missing")
        assertError("connections {\n gw {\n  version = 1\n }\n}\n",
                    line: 3, key: "connections.gw.version", contains: "version 2")
        assertError("connections {\n gw {\n", line: 2, key: "gw", contains: "never closed")
        assertError("}\n", line: 1, key: nil, contains: "without a matching")
        assertError("a {\n b = 1\n b = 2\n}\n", line: 3, key: "a.b", contains: "twice")
        assertError("vipsec {\n listen\n}\n", line: 2, key: "vipsec.listen", contains: "expected '='")
        assertError("vipsec {\n listen = 300.1.1.1\n}\n", line: 2, key: "vipsec.listen", contains: "not an IP address")
        assertError("vipsec {\n half_open_limit = -4\n}\n", line: 2, key: "vipsec.half_open_limit", contains: "whole number")
        assertError("connections {\n gw {\n  local {\n  }\n  remote {\n  }\n  children {\n   c {\n    mode = beet\n   }\n  }\n }\n}\n",
                    line: 9, key: "connections.gw.children.c.mode", contains: "not one of")
        assertError("connections {\n gw {\n  local {\n  }\n  remote {\n  }\n  children {\n   c {\n    local_ts = 10.0.0.0/33\n   }\n  }\n }\n}\n",
                    line: 9, key: "connections.gw.children.c.local_ts", contains: "not a prefix")
        assertError("x = \"open\n", line: 1, key: "x", contains: "unterminated")
    }

    /// strongSwan's `start_action = trap` is not implemented: refused, never loaded and ignored.
    func testStartActionTrapIsRefused() {
        assertError("connections {\n gw {\n  local {\n  }\n  remote {\n  }\n  children {\n   c {\n    start_action = trap\n   }\n  }\n }\n}\n",
                    line: 9, key: "connections.gw.children.c.start_action", contains: "'trap' is not supported")
        assertError("connections {\n gw {\n  local {\n  }\n  remote {\n  }\n  children {\n   c {\n    start_action = route\n   }\n  }\n }\n}\n",
                    line: 9, key: "connections.gw.children.c.start_action", contains: "not one of none, start")
    }

    func testFragmentationSettings() throws {
        let config = try DaemonConfig(parsing: Self.sample, file: "s.conf")
        XCTAssertEqual(config.connections[0].fragmentation, .yes, "strongSwan's default")
        XCTAssertEqual(config.settings.fragmentSize, 1280)
        let set = try DaemonConfig(parsing: "vipsec {\n fragment_size = 1400\n}\nconnections {\n gw {\n  fragmentation = accept\n"
                                   + "  local {\n  }\n  remote {\n  }\n }\n}\n", file: "f.conf")
        XCTAssertEqual(set.connections[0].fragmentation, .accept)
        XCTAssertEqual(set.settings.fragmentSize, 1400)
        assertError("connections {\n gw {\n  fragmentation = maybe\n  local {\n  }\n  remote {\n  }\n }\n}\n",
                    line: 3, key: "connections.gw.fragmentation", contains: "not one of")
        assertError("vipsec {\n fragment_size = 100\n}\n", line: 2, key: "vipsec.fragment_size", contains: "576")
    }

    func testMalformedSecretIsRejectedWithoutEchoingIt() {
        let text = "secrets {\n ike-a {\n  secret = 0xabcdefzz\n }\n}\n"
        XCTAssertThrowsError(try DaemonConfig(parsing: text, file: "bad.conf")) { error in
            let description = String(describing: error)
            XCTAssertTrue(description.contains("bad.conf:3"), description)
            XCTAssertTrue(description.contains("secrets.ike-a.secret"), description)
            XCTAssertFalse(description.contains("abcdef"), description)
        }
    }

    func testValueSyntaxes() {
        XCTAssertEqual(ConfigValue.duration("90"), 90)
        XCTAssertEqual(ConfigValue.duration("1d"), 86400)
        XCTAssertNil(ConfigValue.duration("-1s"))
        XCTAssertEqual(ConfigValue.count("64k"), 65536)
        XCTAssertEqual(ConfigValue.count("2G"), 2 << 30)
        XCTAssertNil(ConfigValue.count("99999999999999999999g"))
        XCTAssertNil(ConfigValue.secret("0xabc"))
        XCTAssertEqual(IPPrefix("10.1.2.3/8")?.description, "10.0.0.0/8")
        XCTAssertEqual(IPPrefix("10.1.2.3/8").map { IPPrefix.format($0.lastAddress) }, "10.255.255.255")
        XCTAssertEqual(IPPrefix("fd00::1/64")?.description, "fd00::/64")
        XCTAssertNil(IPPrefix("fd00::/129"))
        XCTAssertNil(IPPrefix("host.example"))
    }

    func testLoadRefusesLooseModesForFilesWithSecrets() throws {
        let directory = NSTemporaryDirectory() + "vipsec-config-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/vipsec.conf"
        try Self.sample.write(toFile: path, atomically: true, encoding: .utf8)

        chmod(path, 0o644)
        XCTAssertThrowsError(try DaemonConfig.load(path: path)) { error in
            let description = String(describing: error)
            XCTAssertTrue(description.contains("0644") && description.contains("chmod 600"), description)
        }
        chmod(path, 0o600)
        XCTAssertEqual(try DaemonConfig.load(path: path).connections.count, 1)

        let noSecrets = directory + "/public.conf"
        try "vipsec {\n cookie_threshold = 3\n}\n".write(toFile: noSecrets, atomically: true, encoding: .utf8)
        chmod(noSecrets, 0o644)
        XCTAssertEqual(try DaemonConfig.load(path: noSecrets).settings.cookieThreshold, 3)

        XCTAssertThrowsError(try DaemonConfig.load(path: directory + "/missing.conf")) { error in
            XCTAssertTrue(String(describing: error).contains("missing.conf"))
        }
    }
}
