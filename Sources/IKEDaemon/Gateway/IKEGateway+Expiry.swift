// The gateway's side of the kernel's expire events (ChildSAExpiryPolicy.swift decides):
// the CHILD_SAs to match events against, and the Delete of one CHILD_SA after a hard expire.
import IKEv2

extension IKEGateway {
    /// The CHILD_SA one of whose two SAs `event` names, with its IKE_SA's local SPI
    /// (ChildSAIndex: O(1)); nil when none of ours.
    mutating func childSA(namedBy event: ChildSAExpireEvent) -> (ikeSA: UInt64, child: ChildSAInstallation)? {
        guard let (ikeSA, inboundSPI) = childIndex.owner(of: .init(destination: event.destination, spi: event.spi)),
              let child = sas[ikeSA]?.childSAs.first(where: { $0.inbound.spi == inboundSPI }) else { return nil }
        return (ikeSA, child)
    }

    /// Acts on one expire event: rekey (through the rekey command, which retries while the
    /// IKE_SA is busy) or delete with the peer (`retryDelete` is due when busy).
    mutating func childSAExpired(_ decision: ChildSAExpireDecision, now: Double) -> (actions: [GatewayAction], retryDelete: Bool) {
        switch decision {
        case .rekey(let ikeSA, let inboundSPI, let cause):
            return ([.log("CHILD_SA 0x\(String(inboundSPI, radix: 16)) reached its soft \(cause) limit")]
                        + commandTimerFired(.rekeyChildSA(sa: ikeSA, inboundSPI: inboundSPI), now: now), false)
        case .delete(let ikeSA, let inboundSPI):
            return deleteChildSA(ikeSA: ikeSA, inboundSPI: inboundSPI, now: now)
        case .notOurs, .duplicate:
            return ([], false)
        }
    }

    /// INFORMATIONAL Delete of the CHILD_SA (its kernel SA hit a hard limit, or the cluster
    /// asked: a per-target SA whose owner left); retry when busy.
    mutating func deleteChildSA(ikeSA: UInt64, inboundSPI: UInt32, now: Double) -> (actions: [GatewayAction], retryDelete: Bool) {
        guard var sa = sas[ikeSA], sa.hasChildSA(inboundSPI: inboundSPI) else { return ([], false) }   // already gone
        let actions = sa.deleteChildSA(inboundSPI: inboundSPI, now: now)
        if actions.isEmpty { return ([], sa.phase == .established) }
        return ([.log("CHILD_SA 0x\(String(inboundSPI, radix: 16)): deleting it with the peer")]
                    + store(sa, actions, now: now), false)
    }

    /// The SAs of a negotiated CHILD_SA could not be installed (the kernel refused them, or
    /// no cluster target holds them) after the exchange that made it was answered: the peer
    /// must not go on using it, so it is deleted with the peer, as after a hard expire.
    /// Counted (`child_sa_install_failures`); nil when its IKE_SA is already gone.
    mutating func childSAInstallFailed(_ child: ChildSAInstallation) -> ChildSAExpireDecision? {
        counters.childSAInstallFailures += 1
        return ikeSA(holdingChild: child.inbound.spi).map { .delete(ikeSA: $0, inboundSPI: child.inbound.spi) }
    }
}
