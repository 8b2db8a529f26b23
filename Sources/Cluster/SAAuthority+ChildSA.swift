// The authority's own decisions about a negotiated CHILD_SA: its SA ids and, in per-target
// mode, which target sends on its outbound SA. The routing node's IKE side describes the
// CHILD_SA (ClusterNode.ClusterChildSA) with what the authority chose, in one step.

/// A CHILD_SA as the authority placed it (`SAAuthority.childSANegotiated(reqid:...)`).
public struct PlacedChildSA: Sendable {
    /// [inbound, outbound].
    public var ids: [ClusterSAID]
    /// The outbound SA's sender (per-target mode), nil in shared mode.
    public var owner: NodeID?
    /// The outbound SA when it was held back (`deferringOutbound`), to install later.
    public var heldOutbound: SADescription?
}

extension SAAuthority {
    /// A fresh SA id of this epoch.
    public mutating func makeSAID() -> ClusterSAID {
        lastSAID += 1
        return ClusterSAID(lastSAID)
    }

    /// The live target that should send on a new outbound SA of the CHILD_SA line `reqid`
    /// in per-target mode: the first (by name) that owns none yet, else the first live one.
    public func outboundOwner(reqid: UInt32) -> NodeID? {
        let live = membership.liveMembers
        let owners = perTargetOwners(reqid: reqid, excludingDeleted: false)
        return live.first { !owners.contains($0) } ?? live.first
    }

    /// The IKE daemon negotiated a CHILD_SA of the line `reqid`. The authority chooses its two
    /// SA ids and its outbound owner (per-target mode: `keepingOwner` for a rekey, else
    /// `outboundOwner(reqid:)`; shared mode: none); `describe(ids, owner, mode)` makes the
    /// two SA descriptions ([inbound, outbound]), which are distributed as by
    /// `childSANegotiated(_:response:replacing:now:)`. `deferringOutbound`: only the inbound SA
    /// goes now (it replaces `replacing.first`); the outbound one comes back in `heldOutbound`.
    public mutating func childSANegotiated(
        reqid: UInt32, keepingOwner: NodeID?, deferringOutbound: Bool,
        describe: ([ClusterSAID], NodeID?, OutboundMode) throws -> [SADescription],
        response: IKEResponseToken?, replacing: [ClusterSAID], now: ClusterInstant
    ) throws -> (placed: PlacedChildSA, actions: [AuthorityAction]) {
        var owner: NodeID?
        if configuration.outboundMode == .perTarget { owner = keepingOwner ?? outboundOwner(reqid: reqid) }
        let ids = [makeSAID(), makeSAID()]
        let sas = try describe(ids, owner, configuration.outboundMode)
        guard sas.count == 2 else { throw SAAuthorityError.notAChildSA(sas.count) }
        let installedNow = deferringOutbound ? [sas[0]] : sas
        let replaced = deferringOutbound ? Array(replacing.prefix(1)) : replacing
        let actions = childSANegotiated(installedNow, response: response, replacing: replaced, now: now)
        return (PlacedChildSA(ids: ids, owner: owner, heldOutbound: deferringOutbound ? sas[1] : nil), actions)
    }
}

/// Why the authority did not take a CHILD_SA.
public enum SAAuthorityError: Error, Equatable, CustomStringConvertible {
    case notAChildSA(Int)
    public var description: String {
        switch self {
        case .notAChildSA(let count): return "a CHILD_SA is two SAs (inbound, outbound), not \(count)"
        }
    }
}
