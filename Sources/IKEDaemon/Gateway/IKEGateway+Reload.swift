// A live reload on one worker's gateway (Operator/ConfigReload.swift runs it on every
// worker): new IKE_SAs are made from the new configuration, and the IKE_SAs of removed and
// changed connections are deleted with the peer (ReloadPlan.swift). The others are not
// touched: they keep the configuration they were made with, reqids included.
import IKEv2

extension IKEGateway {
    /// Takes `config` (whose `vipsec { }` settings are this gateway's own) and deletes every
    /// IKE_SA of the connections in `deleting`: an established one with an INFORMATIONAL
    /// Delete (its CHILD_SAs leave the kernel at once), one not yet up is dropped. Returns
    /// the actions and the local SPIs of the IKE_SAs that are going.
    mutating func reload(_ config: DaemonConfig, reqids: ReqidTable, deleting names: Set<String>,
                         now: Double) -> (actions: [GatewayAction], going: [UInt64]) {
        resolver = ConnectionResolver(config: config, reqids: reqids)
        var actions: [GatewayAction] = []
        var going: [UInt64] = []
        for spi in sas.keys.sorted() {
            guard var sa = sas[spi], names.contains(sa.configuration.name) else { continue }
            going.append(spi)
            let deletion = sa.delete(now: now)
            actions.append(.log("reload: deleting IKE_SA \(sa.configuration.name) #\(hex16(spi)) with \(sa.remote)"))
            actions += store(sa, deletion, now: now)
        }
        return (actions, going)
    }
}
