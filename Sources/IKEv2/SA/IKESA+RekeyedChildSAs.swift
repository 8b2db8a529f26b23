// CHILD_SAs replaced by a rekey and deleted with the peer, whose inbound SA is kept a while
// (strongSwan's `delete_rekeyed_delay`, 5 s by default there and in vipsec's daemon).
//
// After a rekey (RFC 7296 1.3.3) the peer moves its outbound traffic to the new SA when it
// sees fit: strongSwan as the rekey's responder when our Delete arrives, other peers a little
// later. Packets it sent on the old SA before the switch are still on their way when the
// Delete exchange is over. So a rekeyed CHILD_SA leaving `childSAs` (our Delete answered, or
// the peer's Delete received) loses its outbound SA at once (nothing more is sent on it) and
// its inbound SA only `configuration.deleteRekeyedDelay` seconds later.
//
// A CHILD_SA counts as rekeyed when one in `childSAs` names it in `rekeyOf`. One deleted for
// any other reason (a hard expire, the loser of a simultaneous rekey, the operator) goes at
// once. A kept inbound SA goes early when its IKE_SA closes or is deleted (`close`,
// `delete(now:)`); an IKE_SA rekey hands it to the new IKE_SA with the CHILD_SAs.

/// A rekeyed CHILD_SA of which only the inbound SA is left, until `removeAt`.
public struct RekeyedChildSA: Sendable, Equatable {
    public var child: ChildSAInstallation
    public var removeAt: Double
}

extension IKESA {
    /// `removed` has left `childSAs`: the actions that delete it, now or (a rekeyed one's
    /// inbound SA) after `deleteRekeyedDelay`.
    mutating func retire(_ removed: ChildSAInstallation, now: Double) -> [IKEAction] {
        let delay = configuration.deleteRekeyedDelay
        guard delay > 0, childSAs.contains(where: { $0.rekeyOf == removed.reference }) else { return [.delete(removed)] }
        let removeAt = now + delay
        rekeyedChildSAs.append(RekeyedChildSA(child: removed, removeAt: removeAt))
        return [.deleteOutbound(removed, inboundUntil: removeAt)]
    }

    /// The delay of a rekeyed CHILD_SA's inbound SA is over: delete it. Nothing when it is
    /// gone already (its IKE_SA was deleted or rekeyed meanwhile).
    public mutating func removeRekeyedChildSA(inboundSPI: UInt32) -> [IKEAction] {
        guard let index = rekeyedChildSAs.firstIndex(where: { $0.child.inbound.spi == inboundSPI }) else { return [] }
        return [.delete(rekeyedChildSAs.remove(at: index).child)]
    }

    /// Whether this IKE_SA keeps the inbound SA of a rekeyed CHILD_SA with this inbound SPI.
    public func keepsRekeyedChildSA(inboundSPI: UInt32) -> Bool {
        rekeyedChildSAs.contains { $0.child.inbound.spi == inboundSPI }
    }

    /// Deletes of every kept inbound SA, at once (the IKE_SA ends).
    mutating func removeAllRekeyedChildSAs() -> [IKEAction] {
        defer { rekeyedChildSAs = [] }
        return rekeyedChildSAs.map { .delete($0.child) }
    }
}
