import XCTest
import IKEv2
import IKECrypto

/// NAT detection and traversal (RFC 7296 2.23, RFC 3948): the notify hash, the pure
/// decision, and two of our IKE_SAs conversing through a simulated NAT.
final class NATTraversalTests: XCTestCase {
    let provider = OpenSSLCryptoProvider()

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    // MARK: The hash

    func testSHA1KnownAnswerRFC3174() throws {
        XCTAssertEqual(Self.hex(try openSSLSHA1(Array("abc".utf8))), "a9993e364706816aba3e25717850c26c9cd0d89d")
        XCTAssertEqual(Self.hex(try openSSLSHA1([])), "da39a3ee5e6b4b0d3255bfef95601890afd80709")
    }

    /// Expected values computed independently with Python's hashlib over
    /// SPIi | SPIr | address | port.
    func testNotifyHashMatchesAnIndependentComputation() throws {
        let request = try NATDetection.hash(provider: provider, initiatorSPI: 0x0102_0304_0506_0708, responderSPI: 0,
                                            endpoint: IKEEndpoint(address: [192, 0, 2, 1], port: 500))
        XCTAssertEqual(Self.hex(request), "644b4575455bd6fcc1efe2be8162a9218e448e5f")
        let response = try NATDetection.hash(provider: provider, initiatorSPI: 0x0102_0304_0506_0708,
                                             responderSPI: 0x1112_1314_1516_1718,
                                             endpoint: IKEEndpoint(address: [198, 51, 100, 2], port: 4500))
        XCTAssertEqual(Self.hex(response), "f574d2c866f7fa5e231217325d5dcde42e7be277")
    }

    // MARK: The decision (pure)

    static let inside = IKEEndpoint(address: [172, 16, 0, 2], port: 500)
    static let natOutside = IKEEndpoint(address: [192, 0, 2, 1], port: 41234)
    static let server = IKEEndpoint(address: [192, 0, 2, 100], port: 500)

    func evaluate(sentFrom source: IKEEndpoint, sentTo destination: IKEEndpoint,
                  seenFrom remote: IKEEndpoint, seenAt local: IKEEndpoint) throws -> NATDetectionResult? {
        let notifies = try NATDetection.notifies(provider: provider, initiatorSPI: 7, responderSPI: 0,
                                                 local: source, remote: destination)
        return try NATDetection.evaluate(provider: provider, notifies: notifies, initiatorSPI: 7, responderSPI: 0,
                                         local: local, remote: remote)
    }

    func testNoNATWhenAddressesAreUnchanged() throws {
        let result = try evaluate(sentFrom: Self.inside, sentTo: Self.server, seenFrom: Self.inside, seenAt: Self.server)
        XCTAssertEqual(result, NATDetectionResult(remoteBehindNAT: false, localBehindNAT: false))
        XCTAssertEqual(result?.natDetected, false)
    }

    func testRewrittenSourceMeansThePeerIsBehindANAT() throws {
        let result = try evaluate(sentFrom: Self.inside, sentTo: Self.server, seenFrom: Self.natOutside, seenAt: Self.server)
        XCTAssertEqual(result, NATDetectionResult(remoteBehindNAT: true, localBehindNAT: false))
    }

    func testRewrittenDestinationMeansWeAreBehindANAT() throws {
        // The peer sent to the NAT's public address; a port forward delivered it to us.
        let result = try evaluate(sentFrom: Self.server, sentTo: IKEEndpoint(address: [192, 0, 2, 1], port: 500),
                                  seenFrom: Self.server, seenAt: Self.inside)
        XCTAssertEqual(result, NATDetectionResult(remoteBehindNAT: false, localBehindNAT: true))
    }

    func testAPortChangeAloneIsANAT() throws {
        var moved = Self.inside
        moved.port = 1500
        let result = try evaluate(sentFrom: Self.inside, sentTo: Self.server, seenFrom: moved, seenAt: Self.server)
        XCTAssertEqual(result?.remoteBehindNAT, true)
    }

    func testNoNotifiesMeansNoNATTraversal() throws {
        XCTAssertNil(try NATDetection.evaluate(provider: provider, notifies: [], initiatorSPI: 7, responderSPI: 0,
                                               local: Self.server, remote: Self.inside))
        let onlySource = [NotifyPayload(messageType: .natDetectionSourceIP, notificationData: [UInt8](repeating: 1, count: 20))]
        XCTAssertNil(try NATDetection.evaluate(provider: provider, notifies: onlySource, initiatorSPI: 7, responderSPI: 0,
                                               local: Self.server, remote: Self.inside))
    }

    func testWrongSPIsInTheHashLookLikeANAT() throws {
        let notifies = try NATDetection.notifies(provider: provider, initiatorSPI: 7, responderSPI: 0,
                                                 local: Self.inside, remote: Self.server)
        let result = try NATDetection.evaluate(provider: provider, notifies: notifies, initiatorSPI: 8, responderSPI: 0,
                                               local: Self.server, remote: Self.inside)
        XCTAssertEqual(result, NATDetectionResult(remoteBehindNAT: true, localBehindNAT: true))
    }
}
