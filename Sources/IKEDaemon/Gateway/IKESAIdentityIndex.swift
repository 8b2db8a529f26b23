// The gateway's IKE_SAs by their identities (our ID, the peer's), for INITIAL_CONTACT
// (IKEGateway+InitialContact.swift): a new IKE_SA with INITIAL_CONTACT ends the others
// between the same identities, and we send it only when there is none. Both looked at
// every IKE_SA, once per new IKE_SA: quadratic over a wave of N setups. Here a lookup costs
// O(1) plus the IKE_SAs of those identities.
//
// The peer's identity is the authenticated one once known, else the connection's `remote.id`
// (an IKE_SA with neither is not indexed: neither rule can match it). `IKEGateway.store`
// keeps it right. Pure: no I/O. `probes` counts the entries each operation looks at.
import IKEv2

struct IKESAIdentityIndex {
    struct Identities: Hashable {
        var local: IdentificationPayload
        var peer: IdentificationPayload
    }

    private var byIdentities: [Identities: Set<UInt64>] = [:]
    private var identities: [UInt64: Identities] = [:]
    /// Table entries looked at so far (hash probes and the IKE_SAs returned).
    private(set) var probes = 0

    /// The identities `sa` is indexed under (nil: none known).
    static func identities(of sa: IKESA) -> Identities? {
        (sa.peerIdentity ?? sa.configuration.remoteIdentity).map { Identities(local: sa.configuration.localIdentity, peer: $0) }
    }

    /// The IKE_SAs (local SPIs) indexed under `key`, in SPI order.
    mutating func ikeSAs(_ key: Identities) -> [UInt64] {
        let found = byIdentities[key] ?? []
        probes += 1 + found.count
        return found.sorted()
    }

    /// The IKE_SA `ikeSA` is now `sa` (nil: gone).
    mutating func update(ikeSA: UInt64, to sa: IKESA?) {
        update(ikeSA: ikeSA, identities: sa.flatMap(Self.identities))
    }

    /// The IKE_SA `ikeSA` is now indexed under `new` (nil: not at all).
    mutating func update(ikeSA: UInt64, identities new: Identities?) {
        probes += 1
        let old = identities[ikeSA]
        guard new != old else { return }
        if let old {
            byIdentities[old]?.remove(ikeSA)
            if byIdentities[old]?.isEmpty == true { byIdentities[old] = nil }
        }
        if let new { byIdentities[new, default: []].insert(ikeSA) }
        identities[ikeSA] = new
    }
}
