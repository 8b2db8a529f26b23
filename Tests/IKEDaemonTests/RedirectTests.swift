import XCTest
import IKEv2
import IKECrypto
import NIOCore
import VipsecTestSupport
@testable import IKEDaemon

/// RFC 5685 in IKE_SA_INIT: the gateway sends peers that support it elsewhere, keeps no state.
final class RedirectTests: XCTestCase, GatewayPeerTesting {
    let provider = OpenSSLCryptoProvider()
    static let gatewayAddress = IKEEndpoint(address: [192, 0, 2, 100], port: 500)

    func gateway(_ redirect: [String]) throws -> IKEGateway {
        let text = LabGatewayConfig.text(settings: ["redirect {"] + redirect + ["}"])
        return try IKEGateway(config: DaemonConfig(parsing: text, file: "t"), provider: provider)
    }

    /// A fresh peer's IKE_SA_INIT request, with `notifies` added (REDIRECT_SUPPORTED, ...).
    func initRequest(_ notifies: [NotifyMessageType], spi: UInt64 = 0) throws -> (IKEMessage, [UInt8]) {
        var peer = try peer()
        guard case .send(let bytes)? = peer.start(now: 0).first else { throw XCTSkip("no request") }
        var message = try IKEMessage(datagram: ByteBuffer(bytes: bytes))
        message.payloads += notifies.map { .notify(NotifyPayload(messageType: $0)) }
        if spi != 0 { message.header.initiatorSPI = spi }
        return (message, Array(message.bytes.readableBytesView))
    }

    func receive(_ gateway: inout IKEGateway, _ bytes: [UInt8], from port: UInt16 = 500) -> [[UInt8]] {
        gateway.receive(bytes, local: Self.gatewayAddress, remote: IKEEndpoint(address: [192, 0, 2, 1], port: port), now: 0)
            .compactMap { if case .send(let reply, _, _) = $0 { return reply }; return nil }
    }

    func testAPeerThatSupportsRedirectsIsSentToTheOtherGatewayWithItsNonce() throws {
        var gateway = try gateway(["gateway = 192.0.2.101"])
        let (request, bytes) = try initRequest([.redirectSupported])
        let replies = receive(&gateway, bytes)
        XCTAssertEqual(replies.count, 1)
        let reply = try IKEMessage(datagram: ByteBuffer(bytes: replies[0]))
        XCTAssertTrue(reply.header.isResponse)
        XCTAssertEqual(reply.header.responderSPI, 0, "no state, no SPI")
        XCTAssertEqual(reply.header.initiatorSPI, request.header.initiatorSPI)
        let notify = try XCTUnwrap(reply.notify(.redirect))
        let redirect = try RedirectNotification(parsing: notify.notificationData)
        XCTAssertEqual(redirect.gateway, .ipv4([192, 0, 2, 101]))
        guard case .nonce(let nonce)? = request.payloads.first(where: { $0.type == .nonce }) else { return XCTFail() }
        XCTAssertEqual(redirect.nonce, nonce.nonceData, "the request's Ni, tying the answer to it")
        XCTAssertEqual(gateway.sas.count, 0)
        XCTAssertEqual(gateway.halfOpenCount, 0)
        XCTAssertEqual(gateway.counters.redirectsSent, 1)
        XCTAssertTrue(gateway.statusLine.contains("redirects_sent=1"), gateway.statusLine)
    }

    func testPeersWithoutSupportOrAlreadyRedirectedAreServed() throws {
        var gateway = try gateway(["gateway = vpn2.example.net"])
        _ = receive(&gateway, try initRequest([]).1)
        _ = receive(&gateway, try initRequest([.redirectSupported, .redirectedFrom], spi: 0x1234).1, from: 501)
        XCTAssertEqual(gateway.counters.redirectsSent, 0)
        XCTAssertEqual(gateway.halfOpenCount, 2, "both got an IKE_SA_INIT response of their own")
    }

    func testAboveIKESAsRedirectsOnlyOnceThatManyAreHeld() throws {
        var gateway = try gateway(["gateway = 2001:db8::101", "above_ike_sas = 2"])
        for (n, port) in [UInt16(500), 501, 502].enumerated() {
            let replies = receive(&gateway, try initRequest([.redirectSupported], spi: 0x1000 + UInt64(n)).1, from: port)
            let redirected = try replies.contains { try IKEMessage(datagram: ByteBuffer(bytes: $0)).notify(.redirect) != nil }
            XCTAssertEqual(redirected, n == 2, "request \(n + 1)")
        }
        XCTAssertEqual(gateway.halfOpenCount, 2)
        XCTAssertEqual(gateway.counters.redirectsSent, 1)
    }

    func testTheNotificationDataRoundTripsAndRefusesNonsense() throws {
        for gateway: RedirectNotification.Gateway in [.ipv4([192, 0, 2, 7]), .ipv6(Array(repeating: 0x20, count: 16)), .fqdn("gw.example")] {
            let notification = RedirectNotification(gateway: gateway, nonce: [1, 2, 3])
            XCTAssertEqual(try RedirectNotification(parsing: notification.data), notification)
        }
        XCTAssertThrowsError(try RedirectNotification(parsing: [1, 5, 1, 2, 3, 4, 5]), "an IPv4 identity of 5 octets")
        XCTAssertThrowsError(try RedirectNotification(parsing: [9, 1, 0]), "an unknown GW Ident Type")
        XCTAssertThrowsError(try RedirectNotification(parsing: [3, 10, 0x61]), "shorter than its length")
        XCTAssertThrowsError(try RedirectNotification(parsing: [1]))
    }

    func testConfigErrorsNameTheKey() {
        for (lines, key, fragment) in [(["above_ike_sas = 3"], "vipsec.redirect.gateway", "missing"),
                                       (["gateway = not a host!"], "vipsec.redirect.gateway", "neither"),
                                       (["gateway = 192.0.2.101", "above_ike_sas = many"], "vipsec.redirect.above_ike_sas", "whole number")] {
            XCTAssertThrowsError(try gateway(lines)) { error in
                guard let error = error as? ConfigError else { return XCTFail("\(error)") }
                XCTAssertEqual(error.key, key, "\(error)")
                XCTAssertTrue(error.description.contains(fragment), "\(error)")
            }
        }
    }
}
