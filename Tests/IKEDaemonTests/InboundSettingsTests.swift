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
                       InboundSettings(mode: .encapsulated, queues: 1...1, maximumFlows: 1_000_000, greSource: "10.0.0.1"))
        // A range as nft's `queue num 0-3`: one worker per queue.
        XCTAssertEqual(try settings("queue = 0-3")?.inbound?.queues, 0...3)
        XCTAssertEqual(try settings("mode = encapsulated\nqueue = 4-5")?.inbound?.queues, 4...5)
        XCTAssertEqual(try settings("queue = 65472-65535")?.inbound?.queues, 65472...65535)  // 64 queues: the most
        // ICV verification at the routing node: never by default.
        XCTAssertEqual(try settings("")?.inbound?.verify, .never)
        XCTAssertEqual(try settings("verify = never")?.inbound?.verify, .never)
        XCTAssertEqual(try settings("verify = always")?.inbound?.verify, .always)
        XCTAssertEqual(try settings("mode = encapsulated\nverify = under-attack")?.inbound,
                       InboundSettings(mode: .encapsulated, queues: 0...0, maximumFlows: 1_000_000, verify: .underAttack,
                                       greSource: "10.0.0.1"))
        // Direct mode is not limited by the cluster addresses encapsulated mode needs.
        XCTAssertEqual(try settings("mode = direct", listen: "0.0.0.0:4501", dvipa: "2001:db8::100")?.inbound?.mode, .direct)
    }

    /// Encapsulated mode's GRE source: `gre_source`, else `listen`'s address; of the DVIPA's
    /// family (gre for IPv4, ip6gre for IPv6), the cluster channel's family is free.
    func testEncapsulatedGRESourcePerFamily() throws {
        XCTAssertEqual(try settings("mode = encapsulated")?.inbound?.greSource, "10.0.0.1")
        XCTAssertEqual(try settings("mode = encapsulated", listen: "fd00:c::1:4501", dvipa: "2001:db8::100")?.inbound?.greSource,
                       "fd00:c::1", "IPv6 listen, IPv6 DVIPA: ip6gre from listen's address")
        XCTAssertEqual(try settings("mode = encapsulated\ngre_source = fd00:c::1", dvipa: "2001:db8::100")?.inbound?.greSource,
                       "fd00:c::1", "the cluster channel on IPv4, GRE on IPv6")
        XCTAssertEqual(try settings("mode = encapsulated\ngre_source = 10.0.0.9", listen: "0.0.0.0:4501")?.inbound?.greSource,
                       "10.0.0.9", "a wildcard listen with an explicit source")
        XCTAssertNil(try settings("mode = direct")?.inbound?.greSource)
    }

    /// What encapsulated mode cannot serve, refused naming the file, the line and the key that
    /// brought the address (the mode's line when it is `listen`'s).
    func testEncapsulatedRefusesWhatItCannotServe() {
        func refused(_ inbound: String = "mode = encapsulated", listen: String, dvipa: String, line: Int = 9,
                     key: String = "vipsec.cluster.inbound.mode", mentions: String, sourceLine: UInt = #line) {
            XCTAssertThrowsError(try settings(inbound, listen: listen, dvipa: dvipa), line: sourceLine) { error in
                guard let error = error as? ConfigError else { return XCTFail("\(error)", line: sourceLine) }
                XCTAssertEqual(error.line, line, "\(error)", line: sourceLine)
                XCTAssertEqual(error.key, key, "\(error)", line: sourceLine)
                XCTAssertTrue(error.description.contains(mentions), "\(error)", line: sourceLine)
                XCTAssertTrue(error.description.contains("r.conf"), "\(error)", line: sourceLine)
            }
        }
        // Mixed families: IPv6 ESP in IPv4 GRE, IPv4 ESP in ip6gre.
        refused(listen: "10.0.0.1:4501", dvipa: "2001:db8::100", mentions: "is IPv4 but dvipa 2001:db8::100 is IPv6")
        refused(listen: "10.0.0.1:4501", dvipa: "2001:db8::100", mentions: "set gre_source to this node's IPv6 cluster address")
        refused(listen: "fd00::1:4501", dvipa: "192.0.2.100", mentions: "is IPv6 but dvipa 192.0.2.100 is IPv4")
        refused("mode = encapsulated\ngre_source = 10.0.0.1", listen: "10.0.0.1:4501", dvipa: "2001:db8::100", line: 10,
                key: "vipsec.cluster.inbound.gre_source", mentions: "'10.0.0.1' is IPv4 but dvipa 2001:db8::100 is IPv6")
        refused("mode = encapsulated\ngre_source = fd00::1", listen: "10.0.0.1:4501", dvipa: "192.0.2.100", line: 10,
                key: "vipsec.cluster.inbound.gre_source", mentions: "in gre between IPv4 cluster addresses only")
        // Wildcards: not an address the targets can accept GRE from.
        refused(listen: "0.0.0.0:4501", dvipa: "192.0.2.100", mentions: "0.0.0.0 is a wildcard")
        refused(listen: ":::4501", dvipa: "2001:db8::100", mentions: ":: is a wildcard")
        refused("mode = encapsulated\ngre_source = ::", listen: "10.0.0.1:4501", dvipa: "2001:db8::100", line: 10,
                key: "vipsec.cluster.inbound.gre_source", mentions: "wildcard")
        refused("mode = encapsulated\ngre_source = fd00:c::1/64", listen: "10.0.0.1:4501", dvipa: "2001:db8::100", line: 10,
                key: "vipsec.cluster.inbound.gre_source", mentions: "is not an IP address")
        // Direct mode sends no GRE.
        refused("mode = direct\ngre_source = 10.0.0.1", listen: "10.0.0.1:4501", dvipa: "192.0.2.100", line: 10,
                key: "vipsec.cluster.inbound.gre_source", mentions: "only used with mode = encapsulated")
        refused("gre_source = 10.0.0.1", listen: "10.0.0.1:4501", dvipa: "192.0.2.100",
                key: "vipsec.cluster.inbound.gre_source", mentions: "only used with mode = encapsulated")
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
