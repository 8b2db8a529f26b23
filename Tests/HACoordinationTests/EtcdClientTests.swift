import XCTest
@testable import HACoordination

/// EtcdClient against a real etcd (3.4, Debian's etcd-server) on 127.0.0.1 with TLS and
/// client certificates. No double: the gateway's JSON is etcd's own.
final class EtcdClientTests: XCTestCase {
    var server: EtcdTestServer!

    override func setUpWithError() throws {
        server = try EtcdTestServer()
        try server.start()
    }

    override func tearDown() {
        server?.stop()
        server = nil
    }

    func client(endpoints: [String]? = nil, ca: String = "ca.crt", certificate: String = "client",
                timeout: Duration = .seconds(2)) throws -> EtcdClient {
        try EtcdClient(.init(endpoints: endpoints ?? [server.endpoint],
                             tls: EtcdTLSFiles(caPath: server.path(ca), certificatePath: server.path("\(certificate).crt"),
                                               keyPath: server.path("\(certificate).key")),
                             requestTimeout: timeout))
    }

    /// The election's transactions, as LeaderElection asks for them, against etcd itself.
    func testCampaignFenceAndLeaseLifecycle() async throws {
        let etcd = try client()
        defer { Task { await etcd.shutdown() } }
        let leader = "/vipsec/test/leader"

        let (lease, ttl) = try await etcd.leaseGrant(ttlSeconds: 5)
        XCTAssertNotEqual(lease, 0)
        XCTAssertEqual(ttl, 5)
        let kept = try await etcd.leaseKeepAlive(lease)
        XCTAssertEqual(kept, 5)

        // Campaign: create_revision == 0 → put with our lease.
        let won = try await etcd.txn(compare: [EtcdCompare(key: leader, .createRevision(0))],
                                     success: [.put(key: leader, value: Array("router1".utf8), lease: lease)],
                                     failure: [.range(key: leader)])
        XCTAssertTrue(won.succeeded)
        let term = won.revision
        XCTAssertGreaterThan(term, 0)

        // A second campaign (another node) loses and learns the holder from the failure branch.
        let (otherLease, _) = try await etcd.leaseGrant(ttlSeconds: 5)
        let lost = try await etcd.txn(compare: [EtcdCompare(key: leader, .createRevision(0))],
                                      success: [.put(key: leader, value: Array("router2".utf8), lease: otherLease)],
                                      failure: [.range(key: leader)])
        XCTAssertFalse(lost.succeeded, "compare failed: the key exists")
        XCTAssertEqual(lost.ranges.count, 1)
        XCTAssertEqual(lost.ranges.first?.first?.value, Array("router1".utf8))
        XCTAssertEqual(lost.ranges.first?.first?.createRevision, term)
        XCTAssertEqual(lost.ranges.first?.first?.lease, lease)

        // The active's writes are guarded by its term.
        let write = try await etcd.guardedPut("/vipsec/test/term", value: Array("\(term)".utf8), leaderKey: leader, term: term)
        XCTAssertTrue(write.succeeded)
        let read = try await etcd.range("/vipsec/test/", prefix: true)
        XCTAssertEqual(Set(read.keyValues.map(\.key)), ["/vipsec/test/leader", "/vipsec/test/term"])

        // The lease goes: the leader key goes with it; the deposed term's write is fenced.
        try await etcd.leaseRevoke(lease)
        let afterRevoke = try await etcd.leaseKeepAlive(lease)
        XCTAssertEqual(afterRevoke, 0, "etcd no longer knows the lease")
        let leaderAfterRevoke = try await etcd.range(leader).keyValues
        XCTAssertEqual(leaderAfterRevoke, [])
        let fenced = try await etcd.guardedPut("/vipsec/test/term", value: Array("stale".utf8), leaderKey: leader, term: term)
        XCTAssertFalse(fenced.succeeded, "a write under an old term must fail its compare")
        let termValue = try await etcd.range("/vipsec/test/term").keyValues.first?.value
        XCTAssertEqual(termValue, Array("\(term)".utf8))

        // The other node now wins, with a higher term.
        let second = try await etcd.txn(compare: [EtcdCompare(key: leader, .createRevision(0))],
                                        success: [.put(key: leader, value: Array("router2".utf8), lease: otherLease)])
        XCTAssertTrue(second.succeeded)
        XCTAssertGreaterThan(second.revision, term)
        // Revoking an unknown lease is not an error (a step-down may revoke twice).
        try await etcd.leaseRevoke(lease)
    }

    func testALeaseEtcdDoesNotKnowIsAServerError() async throws {
        let etcd = try client()
        defer { Task { await etcd.shutdown() } }
        do {
            _ = try await etcd.txn(compare: [], success: [.put(key: "/vipsec/test/x", value: [1], lease: 12345)])
            XCTFail("a put with an unknown lease must fail")
        } catch let error as EtcdError {
            guard case .server(_, let status, let code, let message) = error else { return XCTFail("\(error)") }
            XCTAssertNotEqual(status, 200)
            XCTAssertEqual(code, 5)
            XCTAssertTrue(message.contains("lease not found"), message)
        }
    }

    func testADeadEndpointIsSkippedAndTheLiveOneRemembered() async throws {
        let dead = "https://127.0.0.1:\(try EtcdTestServer.freePort())"
        let etcd = try client(endpoints: [dead, server.endpoint])
        defer { Task { await etcd.shutdown() } }
        let (lease, _) = try await etcd.leaseGrant(ttlSeconds: 5)
        let ttl = try await etcd.leaseKeepAlive(lease)
        XCTAssertGreaterThan(ttl, 0)
    }

    func testEtcdDownNamesEveryEndpoint() async throws {
        let etcd = try client(timeout: .milliseconds(500))
        defer { Task { await etcd.shutdown() } }
        server.stop()
        do {
            _ = try await etcd.range("/vipsec/test/leader")
            XCTFail("etcd is stopped: the range must fail")
        } catch let error as EtcdError {
            guard case .unreachable(let failures) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(failures.map(\.endpoint), [server.endpoint])
            XCTAssertTrue(error.description.contains("etcd unreachable"), error.description)
        }
    }

    func testAServerCertificateFromAnotherCAIsRefused() async throws {
        let etcd = try client(ca: "other-ca.crt")
        defer { Task { await etcd.shutdown() } }
        do {
            _ = try await etcd.range("/vipsec/test/leader")
            XCTFail("a server certificate our CA did not sign must be refused")
        } catch let error as EtcdError {
            guard case .unreachable(let failures) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(failures.first?.reason.contains("TLS") ?? false, error.description)
        }
    }

    func testAClientCertificateEtcdDoesNotTrustIsRefused() async throws {
        let etcd = try client(certificate: "rogue")
        defer { Task { await etcd.shutdown() } }
        do {
            _ = try await etcd.leaseGrant(ttlSeconds: 5)
            XCTFail("etcd must refuse a client certificate from another CA")
        } catch is EtcdError {
        }
    }

    func testUnreadableTLSFilesNameTheFile() {
        XCTAssertThrowsError(try EtcdClient(.init(endpoints: [server.endpoint],
                                                  tls: EtcdTLSFiles(caPath: "/nonexistent/ca.crt",
                                                                    certificatePath: server.path("client.crt"),
                                                                    keyPath: server.path("client.key"))))) { error in
            XCTAssertEqual((error as? EtcdError).map { if case .credentials(let path, _) = $0 { return path } else { return "" } },
                           "/nonexistent/ca.crt")
        }
    }

    func testPrefixEnd() {
        XCTAssertEqual(EtcdClient.prefixEnd("/a/"), Array("/a0".utf8))
        XCTAssertEqual(EtcdClient.prefixEnd("a\u{7f}"), [0x61, 0x80])
    }
}
