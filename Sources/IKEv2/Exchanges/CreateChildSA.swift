// CREATE_CHILD_SA (RFC 7296 1.3): a new CHILD_SA, or the rekey of one (1.3.3), with or
// without PFS (a KE payload).
//
//     Initiator                                   Responder
//     HDR, SK {[N(REKEY_SA)], SA, Ni, [KEi], TSi, TSr}  -->
//                              <--  HDR, SK {SA, Nr, [KEr], TSi, TSr}
//
//     KEYMAT = prf+(SK_d, [g^ir (new)] | Ni | Nr)     (2.17, this exchange's nonces)
//
// After a rekey the initiator deletes the old CHILD_SA with an INFORMATIONAL Delete; a
// simultaneous rekey of the same CHILD_SA is resolved per 2.8.1. A request whose SA payload
// proposes protocol IKE rekeys the IKE_SA (IKESARekey.swift); while that is in progress,
// CHILD_SA requests are answered TEMPORARY_FAILURE (2.25.2).

/// Our CREATE_CHILD_SA in flight: a rekey, one more CHILD_SA like an existing one, or a
/// new CHILD_SA of a configured child.
struct PendingChildRekey {
    /// The CHILD_SA rekeyed or copied (nil: a new one from `child`).
    var old: ChildSAInstallation?
    /// The configured child the new CHILD_SA belongs to.
    var child: ChildSAConfiguration
    var mode: ChildSAMode
    var spi: UInt32
    var proposals: [Proposal]
    var nonce: [UInt8]
    var keyExchange: (any KeyExchange)?
    /// False for an additional CHILD_SA (no REKEY_SA, the template stays).
    var isRekey = true
}

extension IKESA {
    // MARK: Initiator: build_i

    /// Rekeys the CHILD_SA whose inbound SPI is `inboundSPI` (PFS when the ESP proposals
    /// name a key exchange method).
    public mutating func rekeyChildSA(inboundSPI: UInt32, now: Double) -> [IKEAction] {
        requestChildSA(like: inboundSPI, rekey: true, now: now)
    }

    /// Creates one more CHILD_SA with the traffic selectors, mode and reqid of the one whose
    /// inbound SPI is `inboundSPI` (no REKEY_SA; both stay). The cluster's per-target
    /// outbound SAs: one CHILD_SA per sender, each with its own sequence space (RFC 9611's idea).
    public mutating func createAdditionalChildSA(like inboundSPI: UInt32, now: Double) -> [IKEAction] {
        requestChildSA(like: inboundSPI, rekey: false, now: now)
    }

    /// Creates a new CHILD_SA of the configured child `name` (CREATE_CHILD_SA without
    /// REKEY_SA, its configured selectors and mode): a connection's further children after
    /// the one IKE_AUTH made. Nothing when busy or not established (the caller retries).
    public mutating func createChildSA(named name: String, now: Double) -> [IKEAction] {
        guard let child = configuration.child(named: name) else { return [] }
        return requestChildSA(child: child, old: nil, mode: child.mode, localTS: child.localTrafficSelectors,
                              remoteTS: child.remoteTrafficSelectors, rekey: false, now: now)
    }

    private mutating func requestChildSA(like inboundSPI: UInt32, rekey: Bool, now: Double) -> [IKEAction] {
        guard let old = childSAs.first(where: { $0.inbound.spi == inboundSPI }) else { return [] }
        return requestChildSA(child: configuration.child(named: old.name) ?? configuration.child, old: old, mode: old.mode,
                              localTS: old.localTrafficSelectors, remoteTS: old.remoteTrafficSelectors, rekey: rekey, now: now)
    }

    private mutating func requestChildSA(child: ChildSAConfiguration, old: ChildSAInstallation?, mode: ChildSAMode,
                                         localTS: [TrafficSelector], remoteTS: [TrafficSelector],
                                         rekey: Bool, now: Double) -> [IKEAction] {
        guard phase == .established, canSendRequest,
              let spi = try? randomChildSPI(), let nonce = try? provider.randomBytes(count: ourNonceLength) else { return [] }
        let proposals = child.espProposals.map { var p = $0; p.spi = spi.bigEndianBytes; return p }
        var keyExchange: (any KeyExchange)?
        var payloads: [IKEPayload] = []
        if rekey, let old {
            payloads.append(.notify(NotifyPayload(protocolID: .esp, messageType: .rekeySA, spi: old.inbound.spi.bigEndianBytes)))
        }
        payloads += [
            .securityAssociation(SecurityAssociationPayload(proposals: proposals)),
            .nonce(NoncePayload(nonceData: nonce)),
        ]
        if let group = proposals.compactMap(\.keyExchangeMethod).first(where: { $0 != .none }) {
            guard let exchange = try? provider.makeKeyExchange(group) else { return [] }
            keyExchange = exchange
            payloads.append(.keyExchange(KeyExchangePayload(group: group, keyExchangeData: exchange.publicValue)))
        }
        if mode == .transport { payloads.append(.notify(NotifyPayload(messageType: .useTransportMode))) }
        payloads += [
            .trafficSelectorInitiator(TrafficSelectorPayload(trafficSelectors: localTS)),
            .trafficSelectorResponder(TrafficSelectorPayload(trafficSelectors: remoteTS)),
        ]
        inFlight?.pendingChildRekey = PendingChildRekey(old: old, child: child, mode: mode, spi: spi, proposals: proposals,
                                              nonce: nonce, keyExchange: keyExchange, isRekey: rekey && old != nil)
        return sendRequest(exchange: .createChildSA, kind: .rekeyChildSA, payloads: payloads, now: now)
    }

    // MARK: Initiator: process_i

    mutating func processCreateChildSAResponse(_ payloads: [IKEPayload], now: Double) -> [IKEAction] {
        guard let pending = inFlight?.pendingChildRekey, let keys = keyContext else { return [] }
        inFlight?.pendingChildRekey = nil
        if let error = payloads.notifies.first(where: { $0.messageType.rawValue < 16384 }) {
            let failed = IKEAction.childSAFailed("CHILD_SA \(pending.isRekey ? "rekey" : "creation") refused: \(error.messageType)")
            guard error.messageType == .temporaryFailure, pending.isRekey, let old = pending.old else { return [failed] }
            return [failed, .childSARekeyDeferred(inboundSPI: old.inbound.spi)]
        }
        guard let sa = payloads.securityAssociation, sa.proposals.count == 1, let peerSPI = sa.proposals[0].spi32,
              ProposalSelection.isValidChoice(sa.proposals[0], from: pending.proposals),
              let nonce = payloads.nonce, let tsi = payloads.trafficSelectorInitiator?.trafficSelectors, let tsr = payloads.trafficSelectorResponder?.trafficSelectors else {
            counters.unexpected += 1
            return [.childSAFailed("malformed CREATE_CHILD_SA response")]
        }
        var shared: SecretBytes?
        if let exchange = pending.keyExchange {
            guard let ke = payloads.keyExchange, ke.group == exchange.method,
                  let secret = try? exchange.sharedSecret(peerPublicValue: ke.keyExchangeData) else {
                return [.childSAFailed("CREATE_CHILD_SA response without a usable KE")]
            }
            shared = secret
        }
        guard var installation = try? childSAInstallation(
            chosen: sa.proposals[0], keys: keys, ourSPI: pending.spi, peerSPI: peerSPI, initiatorTS: tsi, responderTS: tsr,
            mode: pending.mode, child: pending.child, weInitiated: true, nonces: (pending.nonce, nonce.nonceData),
            sharedSecret: shared, rekeying: pending.isRekey ? pending.old?.reference : nil)
        else { return [.childSAFailed("CHILD_SA key derivation failed")] }
        guard pending.isRekey, let old = pending.old else {
            childSAs.append(installation)
            return [.install(installation)]
        }
        installation.rekeyOf = old.reference
        childSAs.append(installation)
        // 2.8.1: if the peer rekeyed the same CHILD_SA meanwhile, the SA made with the lowest
        // of the four nonces is redundant and deleted by whoever created it; the winner
        // deletes the old one. Without a collision we simply delete the old one (1.3.3).
        var redundant = old
        if let collision = inFlight?.collidingPeerRekey, collision.old == old.reference {
            inFlight?.collidingPeerRekey = nil
            let ours = [pending.nonce, nonce.nonceData]
            let lowest = (ours + collision.nonces).min(by: Self.nonceIsLower)
            if let lowest, ours.contains(lowest) {
                redundant = installation   // we lose: delete what we created; the peer deletes the old one
            }
        }
        // The Delete goes out once the new CHILD_SA is installed (`installCompleted`): the peer
        // must not switch to it before our side holds it.
        inFlight?.deleteAfterInstall[installation.reference] = redundant
        return [.install(installation)]
    }

    /// Sends the Delete for `child` (its inbound SPI) and removes it once answered.
    mutating func deleteChildSARequest(_ child: ChildSAInstallation, now: Double) -> [IKEAction] {
        inFlight?.pendingChildDeletion = child
        return sendRequest(exchange: .informational, kind: .deleteChildSA,
                           payloads: [.delete(DeletePayload(protocolID: .esp, spis32: [child.inbound.spi]))], now: now)
    }

    /// Nonce order for 2.8.1: byte-wise, a shorter prefix first.
    static func nonceIsLower(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.lexicographicallyPrecedes(b)
    }

    /// The Delete of a CHILD_SA was answered: remove it (a rekeyed one's inbound SA after
    /// `deleteRekeyedDelay`, IKESA+RekeyedChildSAs.swift).
    mutating func childSADeletionAnswered(now: Double) -> [IKEAction] {
        guard let old = inFlight?.pendingChildDeletion else { return [] }
        inFlight?.pendingChildDeletion = nil
        childSAs.removeAll { $0.reference == old.reference }
        return retire(old, now: now)
    }

    // MARK: Responder: process_r + build_r

    mutating func processCreateChildSARequest(_ payloads: [IKEPayload], messageID: UInt32) -> [IKEAction] {
        func refuse(_ type: NotifyMessageType, data: [UInt8] = [], _ reason: String) -> [IKEAction] {
            counters.refusals[type, default: 0] += 1
            return respond(exchange: .createChildSA, messageID: messageID,
                    payloads: [.notify(NotifyPayload(messageType: type, notificationData: data))]) + [.childSAFailed(reason)]
        }
        if inFlight?.pendingIKERekey != nil || inFlight?.peerIKERekey != nil {
            // 2.25.2: "If a peer receives a request to rekey a Child SA when it is currently
            // rekeying the IKE SA, it SHOULD reply with TEMPORARY_FAILURE."
            return refuse(.temporaryFailure, "CREATE_CHILD_SA during an IKE_SA rekey")
        }
        guard let keys = keyContext, let sa = payloads.securityAssociation, let nonce = payloads.nonce,
              let tsi = payloads.trafficSelectorInitiator?.trafficSelectors, let tsr = payloads.trafficSelectorResponder?.trafficSelectors else {
            return refuse(.invalidSyntax, "malformed CREATE_CHILD_SA request")
        }
        // A rekey keeps its CHILD_SA's child; a new CHILD_SA gets the first child whose
        // selectors fit (RFC 7296 2.9).
        let rekeyedSPI = payloads.notifies.first(where: { $0.messageType == .rekeySA })?.spi
        let rekeyed = rekeyedSPI.flatMap { spi in childSAs.first { $0.outbound.spi.bigEndianBytes == spi } }
        if rekeyed == nil, childSAs.count >= configuration.maximumChildSAs {
            // 1.3: "the responder ... MAY reject the request with NO_ADDITIONAL_SAS".
            return refuse(.noAdditionalSAs, "CREATE_CHILD_SA: \(childSAs.count) CHILD_SAs already (the limit)")
        }
        let child: ChildSAConfiguration
        let chosen: Proposal
        let narrowed: (initiator: [TrafficSelector], responder: [TrafficSelector])
        do {
            if let rekeyed, let own = configuration.child(named: rekeyed.name) {
                child = own
                narrowed = try TrafficSelectorNarrowing.narrow(initiator: tsi, responder: tsr,
                                                               configuredRemote: child.remoteTrafficSelectors,
                                                               configuredLocal: child.localTrafficSelectors)
            } else {
                let fit = try configuration.child(forInitiator: tsi, responder: tsr)
                (child, narrowed) = (fit.child, (fit.initiator, fit.responder))
            }
            chosen = try ProposalSelection.select(offered: sa.proposals, configured: child.espProposals)
        } catch let error as NegotiationError {
            return refuse(error.notifyMessageType, "CREATE_CHILD_SA: \(error)")
        } catch {
            return refuse(.noProposalChosen, "CREATE_CHILD_SA: \(error)")
        }
        var response: [IKEPayload] = []
        var shared: SecretBytes?
        var ourKE: KeyExchangePayload?
        if let group = chosen.keyExchangeMethod, group != .none {
            guard let ke = payloads.keyExchange, ke.group == group else {
                return refuse(.invalidKEPayload, data: [UInt8(group.rawValue >> 8), UInt8(group.rawValue & 0xFF)],
                              "CREATE_CHILD_SA: peer must use \(group)")
            }
            guard let exchange = try? provider.makeKeyExchange(group),
                  let secret = try? exchange.sharedSecret(peerPublicValue: ke.keyExchangeData) else {
                return refuse(.invalidSyntax, "CREATE_CHILD_SA: bad KE")
            }
            shared = secret
            ourKE = KeyExchangePayload(group: group, keyExchangeData: exchange.publicValue)
        }
        let transport = child.mode == .transport && payloads.notifies.contains { $0.messageType == .useTransportMode }
        guard let peerSPI = chosen.spi32, let ourSPI = try? randomChildSPI(),
              let ourNonce = try? provider.randomBytes(count: ourNonceLength) else {
            return refuse(.noProposalChosen, "CREATE_CHILD_SA: no SPI")
        }
        var answer = chosen
        answer.spi = ourSPI.bigEndianBytes
        guard var installation = try? childSAInstallation(
            chosen: answer, keys: keys, ourSPI: ourSPI, peerSPI: peerSPI, initiatorTS: narrowed.initiator,
            responderTS: narrowed.responder, mode: transport ? .transport : .tunnel, child: child, weInitiated: false,
            nonces: (nonce.nonceData, ourNonce), sharedSecret: shared, rekeying: rekeyed?.reference) else {
            return refuse(.noProposalChosen, "CREATE_CHILD_SA key derivation failed")
        }
        response.append(.securityAssociation(SecurityAssociationPayload(proposals: [answer])))
        response.append(.nonce(NoncePayload(nonceData: ourNonce)))
        if let ourKE { response.append(.keyExchange(ourKE)) }
        if transport { response.append(.notify(NotifyPayload(messageType: .useTransportMode))) }
        response += [.trafficSelectorInitiator(TrafficSelectorPayload(trafficSelectors: narrowed.initiator)),
                     .trafficSelectorResponder(TrafficSelectorPayload(trafficSelectors: narrowed.responder))]
        if let old = rekeyed {
            // Keep sending on the old SA until the initiator deletes it (it has the new one by then).
            installation.outboundDeferred = true
            installation.rekeyOf = old.reference
            inFlight?.deferredOutbound[old.reference] = installation.reference
        }
        childSAs.append(installation)
        if let rekeyedSPI, let pending = inFlight?.pendingChildRekey, pending.isRekey, let old = pending.old,
           rekeyedSPI == old.outbound.spi.bigEndianBytes {
            inFlight?.collidingPeerRekey = (old.reference, installation, [nonce.nonceData, ourNonce])
        }
        // A rekeyed CHILD_SA stays until the initiator deletes it (1.3.3).
        return respond(exchange: .createChildSA, messageID: messageID, payloads: response) + [.install(installation)]
    }
}
