import IKECrypto
import IKEv2
@testable import IKEDaemon

/// A test case that talks to the gateway of `IKEGatewayTests.config()` as its peer.
protocol GatewayPeerTesting {
    var provider: OpenSSLCryptoProvider { get }
}

extension GatewayPeerTesting {
    /// The peer: one of our IKE_SAs configured as the mirror image of the gateway's `lab`
    /// connection (PSK "lab secret", 10.1.0.0/24 <-> 10.2.0.0/24). The arguments make a peer
    /// the gateway should refuse.
    func peer(secret: String = "lab secret", ikeProposals: String = "aes256gcm16-prfsha256-x25519",
              remoteTS: TrafficSelector = .ipv4([10, 2, 0, 0], [10, 2, 0, 255])) throws -> IKESA {
        let child = ChildSAConfiguration(name: "lab", espProposals: try ProposalSyntax.parse("aes256gcm16", protocolID: .esp),
                                         localTrafficSelectors: [.ipv4([10, 1, 0, 0], [10, 1, 0, 255])],
                                         remoteTrafficSelectors: [remoteTS])
        let configuration = IKESAConfiguration(
            name: "peer", ikeProposals: try ProposalSyntax.parse(ikeProposals, protocolID: .ike),
            localIdentity: IdentificationPayload(idType: .ipv4Address, identificationData: [192, 0, 2, 1]),
            remoteIdentity: IdentificationPayload(idType: .ipv4Address, identificationData: [192, 0, 2, 100]),
            presharedKey: SecretBytes(Array(secret.utf8)), child: child, reqid: 1)
        return try IKESA.initiator(configuration: configuration, provider: provider,
                                   local: IKEGatewayTests.peerAddress, remote: IKEGatewayTests.gatewayAddress)
    }
}
