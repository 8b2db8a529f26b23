import XCTest
import IKEv2
import IKECrypto
@testable import IKEDaemon

/// The counters line `vipsec routing` logs on SIGUSR1: every drop and refusal is counted,
/// including those of IKE_SAs already closed.
final class GatewayStatusTests: XCTestCase, GatewayPeerTesting {
    let provider = OpenSSLCryptoProvider()

    func gateway() throws -> IKEGateway {
        try IKEGateway(config: DaemonConfig(parsing: IKEGatewayTests.config(), file: "t"), provider: provider)
    }

    /// Peer <-> gateway until quiet; returns every datagram the peer sent.
    @discardableResult
    func converse(_ peer: inout IKESA, _ gateway: inout IKEGateway) -> [[UInt8]] {
        var toGateway = peer.start(now: 0).compactMap { if case .send(let b) = $0 { return b }; return nil }
        var sent = toGateway
        while let datagram = toGateway.first {
            toGateway.removeFirst()
            for case .send(let bytes, _, _) in gateway.receiveInstalling(datagram, local: IKEGatewayTests.gatewayAddress,
                                                                remote: IKEGatewayTests.peerAddress, now: 0) {
                let more = peer.receiveInstalling(bytes, now: 0).compactMap { if case .send(let b) = $0 { return b }; return nil }
                toGateway += more
                sent += more
            }
        }
        return sent
    }

    func field(_ gateway: IKEGateway, _ name: String) -> Int? {
        gateway.statusFields.first(where: { $0.0 == name })?.1
    }

    func testAWrongPSKIsRefusedAndCountedAfterTheSAIsGone() throws {
        var gateway = try gateway()
        var peer = try peer(secret: "another secret")
        converse(&peer, &gateway)
        XCTAssertEqual(peer.phase, .closed)
        XCTAssertTrue(gateway.sas.isEmpty, "the failed IKE_SA is forgotten")
        XCTAssertEqual(field(gateway, "refused_AUTHENTICATION_FAILED"), 1)
        XCTAssertEqual(field(gateway, "established_total"), 0)
        XCTAssertTrue(gateway.statusLine.contains("refused_AUTHENTICATION_FAILED=1"), gateway.statusLine)
    }

    func testNoProposalChosenAndTSUnacceptableAreCounted() throws {
        var gateway = try gateway()
        var badProposal = try peer(ikeProposals: "aes128-sha256-modp2048")
        converse(&badProposal, &gateway)
        XCTAssertEqual(field(gateway, "refused_NO_PROPOSAL_CHOSEN"), 1)
        var badTS = try peer(remoteTS: .ipv4([10, 9, 0, 0], [10, 9, 0, 255]))
        converse(&badTS, &gateway)
        XCTAssertEqual(field(gateway, "refused_TS_UNACCEPTABLE"), 1)
        XCTAssertEqual(field(gateway, "ike_sas"), 1, "the IKE_SA stands, without CHILD_SA")
        XCTAssertEqual(field(gateway, "child_sas"), 0)
    }

    func testReplayedRequestsAndGarbageAreCounted() throws {
        var gateway = try gateway()
        var peer = try peer()
        let sent = converse(&peer, &gateway)
        XCTAssertEqual(field(gateway, "established_total"), 1)
        XCTAssertEqual(sent.count, 2, "IKE_SA_INIT and IKE_AUTH")
        // A replayed IKE_AUTH (message ID 1) gets the cached response again (RFC 7296 2.1).
        let replies = gateway.receiveInstalling(sent[1], local: IKEGatewayTests.gatewayAddress, remote: IKEGatewayTests.peerAddress, now: 1)
        XCTAssertEqual(replies.filter { if case .send = $0 { return true }; return false }.count, 1)
        XCTAssertEqual(field(gateway, "cached_responses_resent"), 1)
        // Truncated: our SPI, cut in the middle of the payloads: dropped by the SA.
        XCTAssertTrue(gateway.receiveInstalling(Array(sent[1].prefix(40)), local: IKEGatewayTests.gatewayAddress,
                                      remote: IKEGatewayTests.peerAddress, now: 1).isEmpty)
        XCTAssertEqual(field(gateway, "malformed"), 1)
        // A flipped byte in the encrypted part of a new request: integrity failure, no answer.
        var forged = sent[1]
        forged[23] = 2   // message ID 2: a new request, not a retransmission
        forged[forged.count - 1] ^= 0x55
        XCTAssertTrue(gateway.receiveInstalling(forged, local: IKEGatewayTests.gatewayAddress, remote: IKEGatewayTests.peerAddress, now: 1).isEmpty)
        XCTAssertEqual(field(gateway, "integrity_failures"), 1)
        XCTAssertEqual(field(gateway, "ike_sas"), 1)
    }

    func testAHalfOpenIKESAIsForgottenAfterTheTimeoutAndAnEstablishedOneIsNot() throws {
        var gateway = try gateway()
        var abandoned = try peer()
        guard case .send(let first)? = abandoned.start(now: 0).first else { return XCTFail() }
        let actions = gateway.receiveInstalling(first, local: IKEGatewayTests.gatewayAddress, remote: IKEGatewayTests.peerAddress, now: 0)
        let timeouts = actions.compactMap { action -> (GatewayTimer, Double)? in
            if case .scheduleCommand(let timer, let deadline) = action, case .halfOpenTimeout = timer { return (timer, deadline) }
            return nil
        }
        XCTAssertEqual(timeouts.count, 1)
        XCTAssertEqual(timeouts.first?.1, 30, "strongSwan's default half_open_timeout")
        XCTAssertEqual(gateway.halfOpenCount, 1)
        guard let (timer, deadline) = timeouts.first else { return }
        _ = gateway.commandTimerFired(timer, now: deadline)
        XCTAssertEqual(gateway.halfOpenCount, 0)
        XCTAssertTrue(gateway.sas.isEmpty)
        XCTAssertEqual(field(gateway, "half_open_timeouts"), 1)

        var good = try peer()
        converse(&good, &gateway)
        guard let spi = gateway.sas.keys.first else { return XCTFail("not established") }
        _ = gateway.commandTimerFired(.halfOpenTimeout(sa: spi), now: 30)
        XCTAssertEqual(gateway.sas.count, 1, "an established IKE_SA stays")
        XCTAssertEqual(field(gateway, "half_open_timeouts"), 1)
    }
}
