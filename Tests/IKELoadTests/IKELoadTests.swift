import XCTest
import IKEv2
import IKECrypto
@testable import vipsec_ike_load

/// The load generator's pure parts: per-initiator plans, the initiator driver against an
/// in-memory responder (our own IKESA), retransmission and failure accounting.
final class IKELoadTests: XCTestCase {
    let provider = OpenSSLCryptoProvider()
    static let initiatorEnd = IKEEndpoint(address: [192, 0, 2, 1], port: 40000)
    static let responderEnd = IKEEndpoint(address: [192, 0, 2, 100], port: 500)

    func plan(proposal: String = "aes256gcm16-prfsha256-x25519", psk: String = "load secret") -> LoadPlan {
        LoadPlan(count: 10, concurrency: 2, ikeProposal: proposal, espProposal: "aes256gcm16", psk: psk,
                 responderIdentity: [192, 0, 2, 100], responderSubnet: .ipv4([10, 2, 0, 0], [10, 2, 0, 255]),
                 initiatorSubnetBase: [10, 128, 0, 255], retransmission: RetransmissionPolicy(timeout: 2, base: 1.5, tries: 1))
    }

    /// A responder that accepts any initiator identity and any /32 in 10.128.0.0/9.
    func responder(psk: String = "load secret", initiatorSPI: UInt64) throws -> IKESA {
        let child = ChildSAConfiguration(name: "load", espProposals: try ProposalSyntax.parse("aes256gcm16", protocolID: .esp),
                                         localTrafficSelectors: [.ipv4([10, 2, 0, 0], [10, 2, 0, 255])],
                                         remoteTrafficSelectors: [.ipv4([10, 128, 0, 0], [10, 255, 255, 255])])
        let configuration = IKESAConfiguration(
            name: "gw", ikeProposals: try ProposalSyntax.parse("aes256gcm16-prfsha256-x25519, aes256-sha256-modp2048", protocolID: .ike),
            localIdentity: IdentificationPayload(idType: .ipv4Address, identificationData: [192, 0, 2, 100]),
            remoteIdentity: nil, presharedKey: SecretBytes(Array(psk.utf8)), child: child, reqid: 1)
        return try IKESA.responder(configuration: configuration, provider: provider, local: Self.responderEnd,
                                   remote: Self.initiatorEnd, initiatorSPI: initiatorSPI)
    }

    func initiator(_ plan: LoadPlan, index: Int) throws -> LoadInitiator {
        try LoadInitiator(index: index, configuration: plan.configuration(index), provider: provider,
                          local: Self.initiatorEnd, remote: Self.responderEnd, retransmission: plan.retransmission, now: 0)
    }

    /// initiator <-> responder until quiet.
    func converse(_ initiator: inout LoadInitiator, responderPSK: String = "load secret") throws -> IKESA {
        var toResponder = initiator.start(now: 0)
        XCTAssertEqual(toResponder.count, 1, "IKE_SA_INIT")
        var responder = try responder(psk: responderPSK, initiatorSPI: initiator.sa.initiatorSPI)
        while let datagram = toResponder.first {
            toResponder.removeFirst()
            var actions = responder.receive(datagram, now: 0)
            // The responder's shell: each install reported done at once (the held response goes out).
            for case .install(let child) in actions { actions += responder.installCompleted(child.reference, succeeded: true, now: 0) }
            for case .send(let bytes) in actions {
                toResponder += initiator.receive(bytes, now: 0)
            }
        }
        return responder
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
