import Foundation
import NIOCore
import NIOPosix
import XCTest
@testable import ClusterNode

/// `vipsec status` reads a status socket: it gets the node's document, or an error that says
/// what is wrong, never a wait without end.
final class StatusClientTests: XCTestCase {
    var group: MultiThreadedEventLoopGroup!
    var directory: String!

    override func setUp() {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        directory = NSTemporaryDirectory() + "status-client-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? group.syncShutdownGracefully()
        try? FileManager.default.removeItem(atPath: directory)
    }

    func testTheStatusOfARunningNodeIsRead() throws {
        let path = directory + "/status.sock"
        let server = try StatusSocketServer.start(path: path, group: group) { [group] in
            group!.next().makeSucceededFuture(NodeStatus(role: "routing", node: "rn1"))
        }.wait()
        defer { try? server.close().wait() }
        let (status, json) = try StatusClient.read(path: path, timeout: 5)
        XCTAssertEqual(status.role, "routing")
        XCTAssertEqual(status.node, "rn1")
        XCTAssertTrue(String(decoding: json, as: UTF8.self).contains("\"rn1\""))
    }

    /// The control socket (list-sas) waits for a request and says nothing: a status read
    /// from it used to wait for ever.
    func testASilentSocketIsAnErrorNamingItNotAWaitForEver() throws {
        let path = directory + "/control.sock"
        let silent = try ServerBootstrap(group: group).bind(unixDomainSocketPath: path).wait()
        defer { try? silent.close().wait() }
        XCTAssertThrowsError(try StatusClient.read(path: path, timeout: 0.3)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("no status from \(path) within"), text)
            XCTAssertTrue(text.contains("not the control socket"), text)
        }
    }

    func testNoSocketIsAnErrorNamingThePath() {
        let path = directory + "/absent.sock"
        XCTAssertThrowsError(try StatusClient.read(path: path, timeout: 1)) { error in
            XCTAssertTrue("\(error)".contains("cannot connect to the status socket \(path)"), "\(error)")
        }
    }
}
