// RFC 3948 2.3: an IKE_SA whose local end is behind a NAT sends a one-octet 0xFF to the
// peer's port every `natKeepaliveInterval` seconds, so that the NAT keeps the mapping. The
// gateway says which are due (a heap, NATKeepaliveSchedule.swift); the worker sends them
// (DaemonCore.sendNATKeepalives). An IKE_SA rekey moves the keepalives to the new IKE_SA
// (it is stored under its own SPI with the old one's NAT detection); a deleted or rekeyed
// IKE_SA sends none.
import IKEv2

extension IKEGateway {
    /// Whether `sa` sends NAT keepalives: established, and our end behind a NAT.
    static func wantsNATKeepalives(_ sa: IKESA) -> Bool {
        sa.phase == .established && sa.natDetection?.localBehindNAT == true
    }

    /// The keepalives due at `now`, from where to where (each IKE_SA's current addresses).
    mutating func natKeepalivesDue(now: Double) -> [(local: IKEEndpoint, remote: IKEEndpoint)] {
        natKeepalives.takeDue(now: now).compactMap { spi in
            guard let sa = sas[spi], Self.wantsNATKeepalives(sa) else {   // kept in step by `store`: not expected
                natKeepalives.update(ikeSA: spi, wanted: false, now: now)
                return nil
            }
            return (sa.local, sa.remote)
        }
    }
}
