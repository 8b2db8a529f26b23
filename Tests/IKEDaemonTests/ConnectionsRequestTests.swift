import Cluster
import Foundation
import NIOCore
import NIOPosix
import XCTest
@testable import IKEDaemon

/// `vipsec status --connections` on the control socket: a node without a connection table
/// says so, the limit is checked by the daemon too, the lister's answer is carried whole, and
/// each entry is named by its CHILD_SA line (reqid) from the IKE listing.
final class ConnectionsRequestTests: XCTestCase {
    static let entry = ConnectionEntry(proto: "tcp", source: "10.1.0.5", sourcePort: 40512, destination: "192.0.2.10",
                                       destinationPort: 80, target: "t1", reqid: 7, state: "open", expiresInSeconds: 897)

    final class Asked: @unchecked Sendable {
        var limits: [Int] = []
    }

    func serve(_ lister: ConnectionLister?, _ body: (String) throws -> Void) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var settings = ControlSettings()
        settings.socket = NSTemporaryDirectory() + "vipsec-connections-\(getpid()).sock"
        let server = try await OperatorSocketServer.start(settings: settings, service: OperatorService(control: IKEDaemonControl(), connections: lister),
                                                          group: group)
        let outcome = Result { try body(settings.socket) }
        await server.close()
        try? await group.shutdownGracefully()
        try outcome.get()
    }

    func request(limit: Int?) -> OperatorRequest {
        var request = OperatorRequest(command: .connections, timeout: 0)
        request.limit = limit
        return request
    }

    func testANodeWithoutInboundSaysItHasNoConnectionTable() async throws {
        try await serve(nil) { path in
            let response = try OperatorClient.send(request(limit: 10), path: path)
            XCTAssertFalse(response.ok)
            XCTAssertNil(response.connections)
            XCTAssertTrue(response.error?.contains("no connection table here") == true, "\(String(describing: response.error))")
            XCTAssertTrue(response.error?.contains("inbound { }") == true)
        }
    }

    func testTheListerGetsTheLimitAndItsListIsCarried() async throws {
        let asked = Asked()
        let list = ConnectionList(total: 3, limit: 5, perTarget: ["t1": 3], connections: [Self.entry])
        try await serve({ limit in asked.limits.append(limit); return list }) { path in
            let response = try OperatorClient.send(request(limit: 5), path: path)
            XCTAssertTrue(response.ok)
            XCTAssertEqual(response.connections, list, "the IKE daemon is not running: no names added")
            _ = try OperatorClient.send(request(limit: nil), path: path)
            let refused = try OperatorClient.send(request(limit: 100_001), path: path)
            XCTAssertFalse(refused.ok)
            XCTAssertEqual(refused.error, "limit 100001 is not 0...100000")
            let negative = try OperatorClient.send(request(limit: -1), path: path)
            XCTAssertFalse(negative.ok)
        }
        XCTAssertEqual(asked.limits, [5, OperatorRequest.defaultConnectionLimit], "refused limits never reach the table")
    }

    func testADistributorNotRunningIsSaid() async throws {
        try await serve({ _ in nil }) { path in
            let response = try OperatorClient.send(request(limit: 5), path: path)
            XCTAssertFalse(response.ok)
            XCTAssertTrue(response.error?.contains("not running") == true, "\(String(describing: response.error))")
        }
    }

    func testEntriesAreNamedByTheirCHILDSALine() {
        func child(_ name: String, reqid: UInt32) -> ChildSAEntry {
            ChildSAEntry(name: name, uniqueID: "c0010001", state: "INSTALLED", mode: "TUNNEL", reqid: reqid, spiIn: "0xc0010001",
                         spiOut: "0xc0010002", proposal: "AES_GCM_16_256", encapsulated: false, localTS: [], remoteTS: [],
                         installedSeconds: nil, rekeyInSeconds: nil, expiresInSeconds: nil)
        }
        let ike = IKESAEntry(name: "gw", uniqueID: "0123456789abcdef", state: "ESTABLISHED", localHost: "192.0.2.10", localPort: 500,
                             remoteHost: "198.51.100.7", remotePort: 500, initiator: false, initiatorSPI: "1", responderSPI: "2",
                             proposal: nil, rekeys: 0, establishedSeconds: nil, rekeyInSeconds: nil, expiresInSeconds: nil,
                             childSAs: [child("net", reqid: 7), child("dmz", reqid: 9)])
        var other = Self.entry
        other.reqid = 8
        var list = ConnectionList(total: 2, limit: 10, perTarget: [:], connections: [Self.entry, other])
        OperatorService.name(&list, from: [ike])
        XCTAssertEqual(list.connections[0].child, "gw/net")
        XCTAssertEqual(list.connections[0].peer, "198.51.100.7")
        XCTAssertNil(list.connections[1].child, "reqid 8 is no CHILD_SA the daemon holds: left unnamed")
        XCTAssertNil(list.connections[1].peer)
    }
}
