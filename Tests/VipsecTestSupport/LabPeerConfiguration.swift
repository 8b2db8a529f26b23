// The peer side of the in-memory IKE conversations: the mirror image of LabGatewayConfig's
// `lab` connection (192.0.2.1 talking to vipsec on 192.0.2.100, PSK "lab secret", one child
// 10.1.0.0/24 <-> 10.2.0.0/24). The arguments make a peer the gateway should refuse.
import IKEv2

public enum LabPeerConfiguration {
    /// The one-child peer.
    public static func make(secret: String = "lab secret", ikeProposals: String = "aes256gcm16-prfsha256-x25519",
                            remoteTS: TrafficSelector = .ipv4([10, 2, 0, 0], [10, 2, 0, 255])) throws -> IKESAConfiguration {
        var child = ChildSAConfiguration(name: "lab", espProposals: try ProposalSyntax.parse("aes256gcm16", protocolID: .esp),
                                         localTrafficSelectors: [.ipv4([10, 1, 0, 0], [10, 1, 0, 255])],
                                         remoteTrafficSelectors: [remoteTS])
        child.reqid = 1
        return try make(children: [child], secret: secret, ikeProposals: ikeProposals)
    }

    /// A peer with these children.
    public static func make(children: [ChildSAConfiguration], secret: String = "lab secret",
                            ikeProposals: String = "aes256gcm16-prfsha256-x25519") throws -> IKESAConfiguration {
        IKESAConfiguration(
            name: "peer", ikeProposals: try ProposalSyntax.parse(ikeProposals, protocolID: .ike),
            localIdentity: IdentificationPayload(idType: .ipv4Address, identificationData: [192, 0, 2, 1]),
            remoteIdentity: IdentificationPayload(idType: .ipv4Address, identificationData: [192, 0, 2, 100]),
            presharedKey: SecretBytes(Array(secret.utf8)), children: children)
    }
}
