// Commands from outside the IKE core (the cluster's SA authority): create one more CHILD_SA
// like an existing one, rekey a CHILD_SA now. Each finds the IKE_SA holding the CHILD_SA;
// when another exchange of that IKE_SA is in flight it retries shortly (one window).
import IKEv2

extension IKEGateway {
    /// The established IKE_SA (local SPI) holding the CHILD_SA with this inbound SPI
    /// (ChildSAIndex: O(1)).
    mutating func ikeSA(holdingChild inboundSPI: UInt32) -> UInt64? {
        guard let spi = childIndex.holder(ofChild: inboundSPI), sas[spi]?.phase == .established else { return nil }
        return spi
    }

    /// An established CHILD_SA of reqid `reqid` (its IKE_SA's local SPI and its inbound SPI).
    func childSA(reqid: UInt32) -> (sa: UInt64, inboundSPI: UInt32)? {
        for (spi, sa) in sas.sorted(by: { $0.key < $1.key }) where sa.phase == .established {
            if let child = sa.childSAs.first(where: { $0.reqid == reqid }) { return (spi, child.inbound.spi) }
        }
        return nil
    }

    /// Asks for one more CHILD_SA with the selectors of the CHILD_SA `reqid` (none: logged).
    mutating func createChildSA(reqid: UInt32, now: Double) -> [GatewayAction] {
        guard let (spi, inboundSPI) = childSA(reqid: reqid) else {
            return [.log("no established CHILD_SA with reqid \(reqid) to create another like it")]
        }
        return commandTimerFired(.createChildSA(sa: spi, likeInboundSPI: inboundSPI), now: now)
    }

    /// Rekeys the CHILD_SA with this inbound SPI now (retries while its IKE_SA is busy).
    mutating func rekeyChildSA(inboundSPI: UInt32, now: Double) -> [GatewayAction] {
        guard let spi = ikeSA(holdingChild: inboundSPI) else {
            return [.log("no CHILD_SA with inbound SPI 0x\(String(inboundSPI, radix: 16)) to rekey")]
        }
        return commandTimerFired(.rekeyChildSA(sa: spi, inboundSPI: inboundSPI), now: now)
    }

    mutating func createAdditionalChildSA(_ timer: GatewayTimer, sa spi: UInt64, like inboundSPI: UInt32,
                                          now: Double) -> [GatewayAction] {
        guard var sa = sas[spi], sa.childSAs.contains(where: { $0.inbound.spi == inboundSPI }) else { return [] }
        let actions = sa.createAdditionalChildSA(like: inboundSPI, now: now)
        if actions.isEmpty {   // another exchange in flight: try again shortly
            return [.scheduleCommand(timer, deadline: now + 0.2)]
        }
        return [.log("creating one more CHILD_SA like 0x\(String(inboundSPI, radix: 16))")] + store(sa, actions, now: now)
    }

    /// After IKE_AUTH of an IKE_SA we initiated: CREATE_CHILD_SA for each further child of
    /// the connection with `start_action = start`, one after the other (window of one).
    func startOtherChildren(_ sa: IKESA, now: Double) -> [GatewayAction] {
        guard sa.isOriginalInitiator,
              let connection = resolver.connection(named: sa.configuration.name) else { return [] }
        // IKE_AUTH made the first one to start (IKEGateway.initiate), or the first of all.
        let starting = connection.children.filter { $0.startAction == .start }
        let fromAuth = starting.first?.name ?? connection.children.first?.name
        return starting.filter { $0.name != fromAuth }.map {
            .scheduleCommand(.createConfiguredChildSA(sa: sa.localSPI, child: $0.name), deadline: now)
        }
    }

    mutating func createConfiguredChildSA(_ timer: GatewayTimer, sa spi: UInt64, child name: String,
                                          now: Double) -> [GatewayAction] {
        guard var sa = sas[spi], sa.phase == .established, !sa.childSAs.contains(where: { $0.name == name }) else { return [] }
        let actions = sa.createChildSA(named: name, now: now)
        if actions.isEmpty {   // another exchange in flight: try again shortly
            return [.scheduleCommand(timer, deadline: now + 0.2)]
        }
        return [.log("creating CHILD_SA \(name) of connection \(sa.configuration.name)")] + store(sa, actions, now: now)
    }
}
