// What an operator may see of an IKE_SA beyond its public state: the negotiated IKE
// proposal, named as strongSwan's `swanctl --list-sas` names transforms. Never keys.

extension IKESA {
    /// "AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519" once IKE_SA_INIT is done; nil before.
    public var negotiatedProposal: String? {
        guard let keys = keyContext else { return nil }
        var parts = [keys.suite.description, keys.prf.id.description]
        if let group = keyExchangeMethod { parts.append(group.description) }
        return parts.joined(separator: "/")
    }
}
