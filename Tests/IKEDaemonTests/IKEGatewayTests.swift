import XCTest
import IKEv2
import IKECrypto
@testable import IKEDaemon

/// The gateway's table: responder IKE_SAs made from the config file, COOKIEs under load
/// (RFC 7296 2.6), the half-open limit, dispatch by SPI.
final class IKEGatewayTests: XCTestCase {
    let provider = OpenSSLCryptoProvider()
    static let gatewayAddress = IKEEndpoint(address: [192, 0, 2, 100], port: 500)
    static let peerAddress = IKEEndpoint(address: [192, 0, 2, 1], port: 500)

    static func config(cookieThreshold: Int = 10, halfOpenLimit: Int = 1000) -> String {
        """
        vipsec {
            listen = 192.0.2.100
            cookie_threshold = \(cookieThreshold)
            half_open_limit = \(halfOpenLimit)
        }
        connections {
            lab {
                local_addrs = 192.0.2.100
                remote_addrs = 192.0.2.1
                proposals = aes256gcm16-prfsha256-x25519
                local {
                    id = 192.0.2.100
                }
                remote {
                    id = 192.0.2.1
                }
                children {
                    lab {
                        local_ts = 10.2.0.0/24
                        remote_ts = 10.1.0.0/24
                        esp_proposals = aes256gcm16
                    }
                }
            }
        }
        secrets {
            ike-lab {
                id-1 = 192.0.2.100
                secret = "lab secret"
            }
        }
        """
    }

    /// The peer: one of our IKE_SAs configured as the gateway's mirror image.
    func peer() throws -> IKESA {
        let child = ChildSAConfiguration(name: "lab", espProposals: try ProposalSyntax.parse("aes256gcm16", protocolID: .esp),
                                         localTrafficSelectors: [.ipv4([10, 1, 0, 0], [10, 1, 0, 255])],
                                         remoteTrafficSelectors: [.ipv4([10, 2, 0, 0], [10, 2, 0, 255])])
        let configuration = IKESAConfiguration(
            name: "peer", ikeProposals: try ProposalSyntax.parse("aes256gcm16-prfsha256-x25519", protocolID: .ike),
            localIdentity: IdentificationPayload(idType: .ipv4Address, identificationData: [192, 0, 2, 1]),
            remoteIdentity: IdentificationPayload(idType: .ipv4Address, identificationData: [192, 0, 2, 100]),
            presharedKey: SecretBytes(Array("lab secret".utf8)), child: child, reqid: 1)
        return try IKESA.initiator(configuration: configuration, provider: provider,
                                   local: Self.peerAddress, remote: Self.gatewayAddress)
    }

    /// Runs peer <-> gateway until quiet; returns the gateway's actions.
    func converse(_ peer: inout IKESA, _ gateway: inout IKEGateway) -> [GatewayAction] {
        var toGateway = peer.start(now: 0).compactMap { if case .send(let b) = $0 { return b }; return nil }
        var all: [GatewayAction] = []
        while let datagram = toGateway.first {
            toGateway.removeFirst()
            let actions = gateway.receive(datagram, local: Self.gatewayAddress, remote: Self.peerAddress, now: 0)
            all += actions
            for case .send(let bytes, _, let remote) in actions {
                XCTAssertEqual(remote, Self.peerAddress)
                toGateway += peer.receive(bytes, now: 0).compactMap { if case .send(let b) = $0 { return b }; return nil }
            }
        }
        return all
    }

    func testAResponderIKESAIsMadeFromTheConfigFile() throws {
        var gateway = try IKEGateway(config: DaemonConfig(parsing: Self.config(), file: "t"), provider: provider)
        var peer = try peer()
        let actions = converse(&peer, &gateway)
        XCTAssertEqual(peer.phase, .established)
        let installs = actions.compactMap { if case .install(let c) = $0 { return c }; return nil }
        XCTAssertEqual(installs.count, 1)
        XCTAssertEqual(installs.first?.reqid, 1)
        XCTAssertEqual(installs.first?.localTrafficSelectors, [.ipv4([10, 2, 0, 0], [10, 2, 0, 255])])
        XCTAssertEqual(gateway.sas.count, 1)
        XCTAssertEqual(gateway.halfOpenCount, 0, "established: no longer half-open")
        XCTAssertEqual(gateway.counters.cookiesSent, 0)
    }

    func testCookiesAreDemandedAboveTheThresholdAndEchoed() throws {
        var gateway = try IKEGateway(config: DaemonConfig(parsing: Self.config(cookieThreshold: 0), file: "t"), provider: provider)
        var peer = try peer()
        _ = converse(&peer, &gateway)
        XCTAssertEqual(gateway.counters.cookiesSent, 1)
        XCTAssertEqual(peer.phase, .established, "the initiator echoed the cookie")
        XCTAssertEqual(gateway.counters.badCookies, 0)
    }

    func testAForgedCookieIsDroppedWithoutState() throws {
        var gateway = try IKEGateway(config: DaemonConfig(parsing: Self.config(cookieThreshold: 0), file: "t"), provider: provider)
        var peer = try peer()
        guard case .send(let first)? = peer.start(now: 0).first else { return XCTFail() }
        guard case .send(let reply, _, _)? = gateway.receive(first, local: Self.gatewayAddress, remote: Self.peerAddress, now: 0).first else {
            return XCTFail("no COOKIE")
        }
        guard case .send(var retry)? = peer.receive(reply, now: 0).first else { return XCTFail("no retry") }
        retry[40] ^= 0xFF   // inside the COOKIE notify's data (first payload after the header)
        XCTAssertTrue(gateway.receive(retry, local: Self.gatewayAddress, remote: Self.peerAddress, now: 0).isEmpty)
        XCTAssertEqual(gateway.counters.badCookies, 1)
        XCTAssertTrue(gateway.sas.isEmpty)
    }

    func testTheHalfOpenLimitDropsNewInitiators() throws {
        var gateway = try IKEGateway(config: DaemonConfig(parsing: Self.config(halfOpenLimit: 1), file: "t"), provider: provider)
        for _ in 0..<3 {
            var peer = try peer()
            guard case .send(let first)? = peer.start(now: 0).first else { return XCTFail() }
            _ = gateway.receive(first, local: Self.gatewayAddress, remote: Self.peerAddress, now: 0)
        }
        XCTAssertEqual(gateway.halfOpenCount, 1)
        XCTAssertEqual(gateway.counters.halfOpenLimitDrops, 2)
    }

    func testUnknownSPIsAndGarbageAreCounted() throws {
        var gateway = try IKEGateway(config: DaemonConfig(parsing: Self.config(), file: "t"), provider: provider)
        XCTAssertTrue(gateway.receive([0, 1, 2], local: Self.gatewayAddress, remote: Self.peerAddress, now: 0).isEmpty)
        var header = [UInt8](repeating: 0, count: 28)
        header[7] = 1; header[15] = 2; header[17] = 0x20; header[18] = 35; header[19] = 0x08; header[27] = 28
        XCTAssertTrue(gateway.receive(header, local: Self.gatewayAddress, remote: Self.peerAddress, now: 0).isEmpty)
        XCTAssertEqual(gateway.counters.malformed, 1)
        XCTAssertEqual(gateway.counters.unknownSPI, 1)
        var otherPeer = IKEEndpoint(address: [198, 51, 100, 9], port: 500)
        otherPeer.port = 500
        var peer = try peer()
        guard case .send(let first)? = peer.start(now: 0).first else { return XCTFail() }
        let actions = gateway.receive(first, local: Self.gatewayAddress, remote: otherPeer, now: 0)
        XCTAssertEqual(gateway.counters.noConnection, 1, "\(actions)")
        XCTAssertTrue(gateway.sas.isEmpty)
    }
}
