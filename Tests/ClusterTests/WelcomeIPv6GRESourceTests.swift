import NIOCore
import XCTest
@testable import Cluster

/// Encapsulated mode over ip6gre: the Welcome carries an IPv6 GRE source (the routing node's
/// IPv6 cluster address) as it carries an IPv4 one; the agent decapsulates ip6gre from it.
final class WelcomeIPv6GRESourceTests: XCTestCase {
    func testAnIPv6GRESourceRoundTrips() throws {
        let source = try IPAddress(bytes: [0xfd, 0, 0, 0x0c] + [UInt8](repeating: 0, count: 11) + [1])
        let welcome = ClusterMessage.Welcome(epoch: Fixture.epoch, heartbeatIntervalMilliseconds: 500,
                                             failureTimeoutMilliseconds: 3000, greSource: source)
        var body = ByteBuffer()
        ClusterMessage.welcome(welcome).writeBody(to: &body)
        var frame = ByteBuffer()
        frame.writeInteger(ClusterFrame.magic)
        frame.writeInteger(ClusterFrame.version)
        frame.writeInteger(ClusterMessageType.welcome.rawValue)
        frame.writeInteger(UInt32(body.readableBytes))
        frame.writeImmutableBuffer(body)
        guard case .welcome(let decoded) = try ClusterFrameDecoder().decode(&frame) else { return XCTFail("not a Welcome") }
        XCTAssertEqual(decoded.greSource, source)
        XCTAssertFalse(decoded.greSource?.isIPv4 ?? true)
        XCTAssertTrue(decoded.description.contains("inbound GRE from fd00:c:0:0:0:0:0:1"), decoded.description)
    }
}
