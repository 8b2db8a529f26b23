import XCTest
import IKEv2
import IKECrypto
@testable import vipsec_ike_load

/// The load generator's pure parts: per-initiator plans, the initiator driver against an
/// in-memory responder (our own IKESA), retransmission and failure accounting.
final class IKELoadTests: XCTestCase {
    let peers = LoadTestPeers()
    var provider: OpenSSLCryptoProvider { peers.provider }
    static let initiatorEnd = LoadTestPeers.initiatorEnd
    static let responderEnd = LoadTestPeers.responderEnd

    func plan(proposal: String = "aes256gcm16-prfsha256-x25519", psk: String = "load secret") -> LoadPlan {
        peers.plan(proposal: proposal, psk: psk)
    }

    func initiator(_ plan: LoadPlan, index: Int) throws -> LoadInitiator { try peers.initiator(plan, index: index) }

    func converse(_ initiator: inout LoadInitiator, responderPSK: String = "load secret") throws -> IKESA {
        try peers.converse(&initiator, responderPSK: responderPSK)
    }

    func testEachInitiatorHasItsOwnIdentityAndInnerAddress() throws {
        let plan = plan()
        XCTAssertEqual(plan.innerAddress(0), [10, 128, 0, 255])
        XCTAssertEqual(plan.innerAddress(1), [10, 128, 1, 0], "carries into the next octet")
        let a = try plan.configuration(0), b = try plan.configuration(1)
        XCTAssertNotEqual(a.localIdentity, b.localIdentity)
        XCTAssertEqual(String(decoding: b.localIdentity.identificationData, as: UTF8.self), "load-1.vipsec.lab")
        XCTAssertEqual(b.child.localTrafficSelectors, [.ipv4([10, 128, 1, 0], [10, 128, 1, 0])])
        XCTAssertEqual(b.ikeProposals.first?.keyExchangeMethod, .curve25519)
        XCTAssertEqual(try self.plan(proposal: "aes256-sha256-modp2048").configuration(0).ikeProposals.first?.keyExchangeMethod, .modp2048)
        XCTAssertThrowsError(try self.plan(proposal: "aes256-nonsense").configuration(0))
    }

    func testASetupCompletesAgainstAnInMemoryResponder() throws {
        for proposal in ["aes256gcm16-prfsha256-x25519", "aes256-sha256-modp2048"] {
            var initiator = try initiator(plan(proposal: proposal), index: 3)
            let responder = try converse(&initiator)
            XCTAssertEqual(initiator.outcome, .completed, proposal)
            XCTAssertNil(initiator.timer, "nothing left to retransmit")
            XCTAssertEqual(responder.phase, .established)
            XCTAssertEqual(responder.childSAs.first?.remoteTrafficSelectors, [.ipv4([10, 128, 1, 2], [10, 128, 1, 2])])
        }
    }

    func testAWrongPSKIsAFailureNotACompletion() throws {
        var initiator = try initiator(plan(), index: 0)
        _ = try converse(&initiator, responderPSK: "another secret")
        guard case .failed(let reason) = initiator.outcome else { return XCTFail("\(initiator.outcome)") }
        XCTAssertTrue(reason.contains("AUTHENTICATION_FAILED"), reason)
    }

    func testAnUnansweredInitiatorRetransmitsThenFails() throws {
        var initiator = try initiator(plan(), index: 0)
        XCTAssertEqual(initiator.start(now: 0).count, 1)
        XCTAssertTrue(initiator.timerDue(now: 1).isEmpty, "not due yet")
        guard let first = initiator.timer?.deadline else { return XCTFail("no timer") }
        XCTAssertEqual(initiator.timerDue(now: first).count, 1, "one retransmission")
        XCTAssertEqual(initiator.retransmissions, 1)
        guard let second = initiator.timer?.deadline else { return XCTFail("no second timer") }
        XCTAssertTrue(initiator.timerDue(now: second).isEmpty)
        guard case .failed = initiator.outcome else { return XCTFail("\(initiator.outcome)") }
    }

    func testTallyPercentilesAndAddressParsing() {
        var tally = LoadTally()
        XCTAssertNil(tally.latency(percentile: 50))
        tally.latencies = [0.3, 0.1, 0.2, 0.4, 0.5]
        XCTAssertEqual(tally.latency(percentile: 50), 0.3)
        XCTAssertEqual(tally.latency(percentile: 100), 0.5)
        XCTAssertEqual(IPv4Text.parse("192.0.2.100"), [192, 0, 2, 100])
        XCTAssertNil(IPv4Text.parse("192.0.2"))
        XCTAssertNil(IPv4Text.parse("192.0.2.256"))
        XCTAssertEqual(IPv4Text.parsePrefix("10.2.0.7/24"), .ipv4([10, 2, 0, 0], [10, 2, 0, 255]))
        XCTAssertNil(IPv4Text.parsePrefix("10.2.0.0/33"))
    }
}
