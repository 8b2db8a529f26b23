// The gateway's IKE_SA rekey policy (the exchange itself is IKEv2/Exchanges/IKESARekey.swift):
// rekey our IKE_SA at the connection's `rekey_time` minus up to 10 % jitter (as CHILD_SAs,
// so that both ends rarely start together), retry while busy or refused, delete it when not
// rekeyed by `rekey_time + over_time`, and forget old IKE_SAs whose Delete never came.
// Also the end of a rekeyed CHILD_SA's kept inbound SA (`delete_rekeyed_delay`).
import IKEv2

/// Seconds an old IKE_SA may wait for the Delete that ends it after a rekey.
let rekeyedSALinger = 30.0

extension IKEGateway {
    /// The connection's IKE_SA `rekey_time` and `over_time` (nil: rekeying disabled).
    func ikeLifetimes(_ sa: IKESA) -> (rekey: Double, over: Double)? {
        guard let connection = resolver.connection(named: sa.configuration.name),
              connection.rekeyTime > 0 else { return nil }
        return (connection.rekeyTime, connection.overTime)
    }

    /// The rekey and expiry timers of a newly established (or rekeyed) IKE_SA.
    func scheduleIKERekey(_ sa: IKESA, now: Double) -> [GatewayAction] {
        guard let (rekey, over) = ikeLifetimes(sa) else { return [] }
        let jitter = Double.random(in: 0...(rekey * 0.1))
        return [.scheduleCommand(.rekeyIKESA(sa: sa.localSPI), deadline: now + rekey - jitter),
                .scheduleCommand(.expireIKESA(sa: sa.localSPI), deadline: now + rekey + over)]
    }

    /// Seconds before retrying a refused IKE_SA rekey (TEMPORARY_FAILURE: the peer is busy).
    func rekeyRetryDelay(_ sa: IKESA) -> Double {
        let rekey = ikeLifetimes(sa)?.rekey ?? 10
        return min(10, max(0.5, rekey * 0.1)) * Double.random(in: 1...1.5)
    }

    mutating func rekeyIKESATimerFired(sa spi: UInt64, now: Double) -> [GatewayAction] {
        guard var sa = sas[spi], sa.phase == .established else { return [] }
        let actions = sa.rekeyIKESA(now: now)
        if actions.isEmpty {   // another exchange in flight, or a CHILD_SA rekey half done: try again shortly
            return [.scheduleCommand(.rekeyIKESA(sa: spi), deadline: now + 0.2)]
        }
        return [.log("rekeying IKE_SA \(sa.configuration.name) (SPIs \(hex16(sa.initiatorSPI))_i \(hex16(sa.responderSPI))_r)")]
            + store(sa, actions, now: now)
    }

    mutating func expireIKESA(sa spi: UInt64, now: Double) -> [GatewayAction] {
        guard var sa = sas[spi], sa.phase == .established else { return [] }
        let actions = sa.delete(now: now)
        return [.log("IKE_SA \(sa.configuration.name) not rekeyed within rekey_time + over_time: deleting it")]
            + store(sa, actions, now: now)
    }

    mutating func forgetRekeyedIKESA(sa spi: UInt64) -> [GatewayAction] {
        guard var sa = sas[spi], sa.phase == .rekeyed else { return [] }
        counters.rekeyedSAsForgotten += 1
        let actions = sa.delete(now: 0)
        return store(sa, actions, now: 0)
    }

    /// `sa` took over from the IKE_SA `previous`: count, log, start its own timers.
    mutating func ikeSARekeyed(_ sa: IKESA, previous: UInt64, now: Double) -> [GatewayAction] {
        counters.ikeRekeys += 1
        let old = sas[previous].map { "\(hex16($0.initiatorSPI))_i \(hex16($0.responderSPI))_r" } ?? hex16(previous)
        var actions: [GatewayAction] = [.log(
            "IKE_SA \(sa.configuration.name) rekeyed: SPIs \(old) -> \(hex16(sa.initiatorSPI))_i \(hex16(sa.responderSPI))_r"
                + ", \(sa.childSAs.count) CHILD_SA(s) moved")]
        if let delay = dpdDelay(sa) { actions.append(.scheduleCommand(.liveness(sa: sa.localSPI), deadline: now + delay)) }
        return actions + scheduleIKERekey(sa, now: now)
    }

    mutating func ikeSARekeyFailed(_ sa: IKESA, reason: String, retry: Bool, now: Double) -> [GatewayAction] {
        counters.ikeRekeysFailed += 1
        var actions: [GatewayAction] = [.log("IKE_SA \(sa.configuration.name): \(reason)")]
        if retry {
            actions.append(.scheduleCommand(.rekeyIKESA(sa: sa.localSPI), deadline: now + rekeyRetryDelay(sa)))
        }
        return actions
    }

    /// `delete_rekeyed_delay` after a rekeyed CHILD_SA's Delete: its inbound SA goes. After an
    /// IKE_SA rekey it lives in the new IKE_SA; when its IKE_SA is gone, so is it.
    mutating func removeRekeyedChildSA(sa spi: UInt64, inboundSPI: UInt32, now: Double) -> [GatewayAction] {
        guard let holder = childIndex.keeper(ofRekeyed: inboundSPI), var sa = sas[holder],
              sa.keepsRekeyedChildSA(inboundSPI: inboundSPI) else { return [] }
        let actions = sa.removeRekeyedChildSA(inboundSPI: inboundSPI)
        return store(sa, actions, now: now)
    }
}
