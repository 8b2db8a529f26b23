// HA takeover (docs/takeover.md section 4): a new active routing node adopts the IKE_SAs
// the previous active recorded (IKESARecord, IKESA+Snapshot.swift) and carries on with
// them: same SPIs, keys and message IDs, its own DPD and rekey timers.
import IKEv2

extension IKEGateway {
    /// Adopts the IKE_SA of `record`, resolved against this node's configuration of the same
    /// connection. `wallOffset` turns the record's wall-clock times into this clock
    /// (`now + wallOffset` is the wall clock). Throws when the record does not fit (the
    /// caller counts and logs it; the IKE_SA is then not continued).
    /// Timers: DPD from now (`dpd_delay`); the IKE_SA rekey and expiry at the recorded
    /// times when recorded, else from now; each CHILD_SA with a time lifetime is rekeyed
    /// within the first 10 % of its soft lifetime from now, because its age was not recorded
    /// (early, never late: the targets' kernels expire it on their own clock).
    mutating func adopt(_ record: IKESARecord, wallOffset: Double, now: Double) throws -> [GatewayAction] {
        guard let index = resolver.config.connections.firstIndex(where: { $0.name == record.connection }) else {
            throw IKESARecordError.notRestorable("no connection \(record.connection) in this configuration")
        }
        let configuration = try resolver.resolve(index: index, local: record.local.address, remote: record.remote.address)
        let (sa, resend) = try IKESA.restore(record, configuration: configuration, provider: provider,
                                             retransmission: retransmission, now: now)
        let spi = sa.localSPI
        if let old = sas[spi] {   // a stale copy from an earlier term of this node: replaced
            childIndex.update(ikeSA: spi, from: old, to: nil)
            identities.update(ikeSA: spi, to: nil)
            forgetStored(spi)
        }
        var actions = store(sa, resend, now: now)
        if let delay = dpdDelay(sa) { actions.append(.scheduleCommand(.liveness(sa: spi), deadline: now + delay)) }
        if let rekeyDue = record.times.rekeyDue, let expiry = record.times.expiry {
            actions.append(.scheduleCommand(.rekeyIKESA(sa: spi), deadline: max(now, rekeyDue - wallOffset)))
            actions.append(.scheduleCommand(.expireIKESA(sa: spi), deadline: max(now + 1, expiry - wallOffset)))
        } else {
            actions += scheduleIKERekey(sa, now: now)
        }
        for child in sa.childSAs where child.lifetime.softSeconds > 0 {
            let soft = Double(child.lifetime.softSeconds)
            actions.append(.scheduleCommand(.rekeyChildSA(sa: spi, inboundSPI: child.inbound.spi),
                                            deadline: now + Double.random(in: (soft * 0.05)...(soft * 0.1))))
        }
        times.record(sa, [], actions, now: now)
        actions.append(.log("IKE_SA \(sa.configuration.name) with \(sa.remote) adopted (SPIs \(hex16(sa.initiatorSPI))_i \(hex16(sa.responderSPI))_r, "
                            + "\(sa.childSAs.count) CHILD_SA(s), next message IDs \(record.messageIDs.nextRequest)/\(record.messageIDs.expectedRequest))"))
        return actions
    }

    /// Forgets every IKE_SA without a word to its peers or the installer (a standby's stale
    /// copies before it adopts the cluster's current ones).
    mutating func forgetAllSilently() {
        for (spi, sa) in sas {
            childIndex.update(ikeSA: spi, from: sa, to: nil)
            identities.update(ikeSA: spi, to: nil)
            forgetStored(spi)
        }
        halfOpen = HalfOpenTable()
    }

    /// The record times of the IKE_SA with our SPI `spi` (wall clock: this clock + `wallOffset`).
    func recordTimes(_ spi: UInt64, wallOffset: Double) -> IKESARecord.Times {
        IKESARecord.Times(established: (times.established[spi] ?? 0) + wallOffset,
                          rekeyDue: times.ikeRekeyAt[spi].map { $0 + wallOffset },
                          expiry: times.ikeExpireAt[spi].map { $0 + wallOffset })
    }
}
