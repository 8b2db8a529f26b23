import XCTest
import IKEv2
import IKECrypto
@testable import vipsec_ike_load

/// A load initiator and an in-memory responder (our own IKESA) for the load generator's
/// tests: plans, and a setup run between the two until quiet.
struct LoadTestPeers {
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
}
