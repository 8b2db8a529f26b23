// A live reload on one worker's gateway (Operator/ConfigReload.swift runs it on every
// worker): new IKE_SAs are made from the new configuration, and the IKE_SAs of removed and
// changed connections are deleted with the peer (ReloadPlan.swift). The others are not
// touched: they keep the configuration they were made with. Reqids follow the CHILD_SAs'
// selectors, not the file (ReqidAllocator.swift): a reload neither keeps nor renumbers them.
import IKEv2

extension IKEGateway {
    /// New IKE_SAs (either side initiating) are made from `config` from now on; `config`'s
    /// `vipsec { }` settings are this gateway's own (a reload never changes them).
    mutating func reload(_ config: DaemonConfig) {
        resolver = ConnectionResolver(config: config, reqids: resolver.reqids)
    }

    /// Deletes every IKE_SA of the connections in `names`: an established one with an
    /// INFORMATIONAL Delete (its CHILD_SAs leave the kernel at once), one not yet up is
    /// dropped. An established one busy with an exchange of ours is left for
    /// `deleteBusy`, so that its Delete can still reach the peer. Returns the actions, the
    /// local SPIs of every IKE_SA that is going, and those of the busy ones.
    mutating func deleteIKESAs(of names: Set<String>, now: Double) -> (actions: [GatewayAction], going: [UInt64], busy: [UInt64]) {
        var actions: [GatewayAction] = []
        var going: [UInt64] = [], busy: [UInt64] = []
        for spi in sas.keys.sorted() {
            guard let sa = sas[spi], names.contains(sa.configuration.name) else { continue }
            going.append(spi)
            if sa.phase == .established && !sa.canSendDelete {
                busy.append(spi)
                continue
            }
            actions += deleteIKESA(spi, by: "reload", now: now)
        }
        return (actions, going, busy)
    }

    /// The busy IKE_SAs of `deleteIKESAs` (those of `spis` still established): each is
    /// deleted with the peer once idle, or at once when `force` (without a Delete if still
    /// busy). Returns the actions and the SPIs still busy, which alone go to the next call
    /// (an IKE_SA whose Delete went out is established, and busy, until the peer answers).
    mutating func deleteBusy(_ spis: [UInt64], force: Bool, now: Double) -> (actions: [GatewayAction], busy: [UInt64]) {
        var actions: [GatewayAction] = []
        var busy: [UInt64] = []
        for spi in spis {
            guard let sa = sas[spi], sa.phase == .established else { continue }
            if !sa.canSendDelete && !force {
                busy.append(spi)
                continue
            }
            actions += deleteIKESA(spi, by: "reload", now: now)
        }
        return (actions, busy)
    }
}
