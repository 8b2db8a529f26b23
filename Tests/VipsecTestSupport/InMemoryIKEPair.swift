// Both ends of an IKE_SA run in memory (no sockets) by the cluster's IKE-setup bench and
// its tests: the peer 192.0.2.1 ("peer") and the DVIPA ("dvipa"), PSK, AES-GCM-256 with
// X25519, one child 10.1.0.0/24 <-> 10.2.0.0/24.
import IKEv2

public enum InMemoryIKEPair {
    public static let dvipa = IKEEndpoint(address: [192, 0, 2, 100], port: 500)
    public static let peer = IKEEndpoint(address: [192, 0, 2, 1], port: 500)

    /// The initiator's (the peer's) or the responder's (the DVIPA's) configuration; `reqid`
    /// names the child's CHILD_SA line.
    public static func configuration(initiator: Bool, reqid: UInt32 = 1, secret: String = "vipsec bench key") throws -> IKESAConfiguration {
        let near: TrafficSelector = .ipv4([10, 1, 0, 0], [10, 1, 0, 255]), far: TrafficSelector = .ipv4([10, 2, 0, 0], [10, 2, 0, 255])
        let child = ChildSAConfiguration(name: "bench", espProposals: try ProposalSyntax.parse("aes256gcm16", protocolID: .esp),
                                         localTrafficSelectors: [initiator ? near : far], remoteTrafficSelectors: [initiator ? far : near])
        func id(_ name: String) -> IdentificationPayload { IdentificationPayload(idType: .fqdn, identificationData: Array(name.utf8)) }
        return IKESAConfiguration(name: "bench", ikeProposals: try ProposalSyntax.parse("aes256gcm16-prfsha256-x25519", protocolID: .ike),
                                  localIdentity: id(initiator ? "peer" : "dvipa"), remoteIdentity: id(initiator ? "dvipa" : "peer"),
                                  presharedKey: SecretBytes(Array(secret.utf8)), child: child, reqid: reqid)
    }
}
