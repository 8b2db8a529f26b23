import IKECrypto
import IKEv2
import VipsecTestSupport
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
        let configuration = try LabPeerConfiguration.make(secret: secret, ikeProposals: ikeProposals, remoteTS: remoteTS)
        return try IKESA.initiator(configuration: configuration, provider: provider,
                                   local: IKEGatewayTests.peerAddress, remote: IKEGatewayTests.gatewayAddress)
    }
}
