// CREATE_CHILD_SA rekeying the IKE_SA (RFC 7296 1.3.2, 2.18, 2.8, 2.8.2, 2.25.2).
//
//     Initiator                         Responder
//     HDR, SK {SA, Ni, KEi}  -->
//                       <--  HDR, SK {SA, Nr, KEr}
//
//     SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)            (old PRF)
//     {SK_d | SK_ai | ... | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)   (new PRF, new SPIs)
//
// The proposal has protocol IKE and carries its sender's new 8-octet SPI. Both ends move
// every CHILD_SA to the new IKE_SA, whose message IDs start at 0 and whose original
// initiator is the initiator of the rekey (3.1, I flag). The initiator then deletes the old
// IKE_SA with INFORMATIONAL {D(IKE)} on the old SA; the responder waits for that Delete.
//
// Collisions: both ends rekeying at once (2.8.2) makes two new IKE_SAs; the one made with
// the lowest of the four nonces is deleted by whoever initiated it, the other inherits the
// CHILD_SAs and its initiator deletes the old SA. If our request is refused with
// TEMPORARY_FAILURE (the peer finished first) or the old SA is deleted by the peer, the
// peer's new SA wins. CHILD_SA requests during an IKE rekey get TEMPORARY_FAILURE (2.25.2).
//
// New IKE_SAs leave the old one through `takeSuccessors()`; the shell files them under
// their own SPIs in the same step in which it stores the old one.

/// Our IKE_SA rekey in flight.
struct PendingIKERekey {
    var spi: UInt64
    var proposals: [Proposal]
    var nonce: [UInt8]
    var keyExchange: any KeyExchange
}

/// A new IKE_SA made by a rekey exchange, not yet an `IKESA`.
struct RekeyedIKESAMaterial {
    var initiatorSPI: UInt64
    var responderSPI: UInt64
    /// Whether we initiated the exchange (then we are the new SA's original initiator).
    var weInitiated: Bool
    /// The old IKE_SA's, with the new keys and key exchange method (2.18).
    var negotiated: IKESA.Negotiated
    /// The old IKE_SA's: the rekey happens inside the authenticated IKE_SA.
    var peerIdentity: IdentificationPayload
    /// Ni and Nr of the exchange (for the collision rule).
    var nonces: [[UInt8]]
}

/// A new IKE_SA handed to the shell with the actions it produced when it was made.
public struct IKESASuccessor {
    public var sa: IKESA
    public var actions: [IKEAction]
}

extension IKESA {
    // MARK: Initiator: build_i

    /// Whether an IKE_SA rekey may start now: established, window free, no CHILD_SA rekey
    /// half done (a successor would inherit it mid-flight).
    public var canRekeyIKESA: Bool {
        inFlight?.isIdle == true && canSendRequest
    }

    /// Rekeys this IKE_SA (CREATE_CHILD_SA with an IKE proposal). Returns no actions when it
    /// cannot start now (see `canRekeyIKESA`): try again later.
    public mutating func rekeyIKESA(now: Double) -> [IKEAction] {
        guard canRekeyIKESA, let group = configuration.ikeProposals.compactMap(\.keyExchangeMethod).first else { return [] }
        return requestIKERekey(group: group, now: now)
    }

    mutating func requestIKERekey(group: KeyExchangeMethod, now: Double) -> [IKEAction] {
        guard let spi = try? Self.randomSPI(provider), let nonce = try? provider.randomBytes(count: ourNonceLength),
              let exchange = try? provider.makeKeyExchange(group) else { return [] }
        let proposals = configuration.ikeProposals.map { var p = $0; p.spi = spi.bigEndianBytes; return p }
        inFlight?.pendingIKERekey = PendingIKERekey(spi: spi, proposals: proposals, nonce: nonce, keyExchange: exchange)
        let payloads: [IKEPayload] = [
            .securityAssociation(SecurityAssociationPayload(proposals: proposals)),
            .nonce(NoncePayload(nonceData: nonce)),
            .keyExchange(KeyExchangePayload(group: group, keyExchangeData: exchange.publicValue)),
        ]
        let actions = sendRequest(exchange: .createChildSA, kind: .rekeyIKESA, payloads: payloads, now: now)
        if actions.isEmpty { inFlight?.pendingIKERekey = nil }
        return actions
    }

    // MARK: Initiator: process_i

    mutating func processIKERekeyResponse(_ payloads: [IKEPayload], now: Double) -> [IKEAction] {
        guard let pending = inFlight?.pendingIKERekey else { return [] }
        inFlight?.pendingIKERekey = nil
        if let error = payloads.notifies.first(where: { $0.messageType.rawValue < 16384 }) {
            if error.messageType == .invalidKEPayload, error.notificationData.count == 2 {
                // 1.3.2 / 1.2: retry with the group the responder wants, if we offered it.
                let wanted = KeyExchangeMethod(rawValue: UInt16(error.notificationData[0]) << 8 | UInt16(error.notificationData[1]))
                let offered = pending.proposals.flatMap { $0.transforms(ofType: .keyExchangeMethod) }
                if wanted != pending.keyExchange.method, offered.contains(where: { $0.id == wanted.rawValue }) {
                    let retry = requestIKERekey(group: wanted, now: now)
                    if !retry.isEmpty { return retry }
                }
            }
            // 2.8.2: refused because the peer finished its own rekey first: its SA wins.
            if let peer = inFlight?.peerIKERekey { return adoptPeerIKERekey(peer, now: now) }
            return [.ikeSARekeyFailed("IKE_SA rekey refused: \(error.messageType)", retry: error.messageType == .temporaryFailure)]
        }
        guard let sa = payloads.securityAssociation, sa.proposals.count == 1, sa.proposals[0].protocolID == .ike,
              sa.proposals[0].spi.count == 8, ProposalSelection.isValidChoice(sa.proposals[0], from: pending.proposals),
              let peerSPI = Optional(sa.proposals[0].spi.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }), peerSPI != 0,
              let nonce = payloads.nonce, let ke = payloads.keyExchange, ke.group == pending.keyExchange.method,
              let shared = try? pending.keyExchange.sharedSecret(peerPublicValue: ke.keyExchangeData),
              let ours = try? rekeyedMaterial(chosen: sa.proposals[0], group: ke.group, sharedSecret: shared,
                                              nonces: (pending.nonce, nonce.nonceData), spis: (pending.spi, peerSPI), weInitiated: true)
        else {
            counters.unexpected += 1
            if let peer = inFlight?.peerIKERekey { return adoptPeerIKERekey(peer, now: now) }
            return [.ikeSARekeyFailed("malformed IKE_SA rekey response", retry: true)]
        }
        guard let peer = inFlight?.peerIKERekey else {
            // No collision: the new SA takes the CHILD_SAs, we delete the old one (1.3.2).
            return promote(ours) + deleteRekeyedIKESA(now: now)
        }
        // 2.8.2: "The new IKE SA containing the lowest nonce SHOULD be deleted by the node
        // that created it, and the other surviving new IKE SA MUST inherit all the Child SAs."
        inFlight?.peerIKERekey = nil
        let lowest = (ours.nonces + peer.nonces).min(by: Self.nonceIsLower)
        if let lowest, ours.nonces.contains(lowest) {
            // We lose: delete what we created; the peer deletes the old SA.
            counters.ikeRekeyCollisionsLost += 1
            var redundant = makeSuccessor(ours)
            redundant.becomeRekeyed()
            let deletion = redundant.sendRequest(exchange: .informational, kind: .deleteIKESA,
                                                 payloads: [.delete(.ikeSA)], now: now)
            successors.append(IKESASuccessor(sa: redundant, actions: deletion))
            return promote(peer) + waitForPeerDelete()
        }
        // We win: the peer deletes the SA it created (which we keep until then).
        counters.ikeRekeyCollisionsWon += 1
        var redundant = makeSuccessor(peer)
        redundant.becomeRekeyed()
        successors.append(IKESASuccessor(sa: redundant, actions: []))
        return promote(ours) + deleteRekeyedIKESA(now: now)
    }

    // MARK: Responder: process_r + build_r

    mutating func processIKERekeyRequest(_ payloads: [IKEPayload], messageID: UInt32) -> [IKEAction] {
        func refuse(_ type: NotifyMessageType, data: [UInt8] = [], _ reason: String) -> [IKEAction] {
            counters.refusals[type, default: 0] += 1
            return respond(exchange: .createChildSA, messageID: messageID,
                           payloads: [.notify(NotifyPayload(messageType: type, notificationData: data))])
                + [.ikeSARekeyFailed("peer's IKE_SA rekey refused: \(reason)", retry: false)]
        }
        // 2.25.2: busy with something the new SA cannot inherit mid-flight, or closing.
        let ownRequest = taskManager.outstandingContext
        guard ownRequest == nil || ownRequest == .rekeyIKESA, let inFlight, inFlight.peerIKERekey == nil,
              inFlight.pendingChildDeletion == nil, inFlight.deferredOutbound.isEmpty, inFlight.collidingPeerRekey == nil,
              inFlight.deleteAfterInstall.isEmpty else {   // our Delete waits for an install: it must go out on this IKE_SA
            return refuse(.temporaryFailure, "busy (another exchange in progress)")
        }
        guard let sa = payloads.securityAssociation, let nonce = payloads.nonce, (16...256).contains(nonce.nonceData.count) else {
            return refuse(.invalidSyntax, "IKE_SA rekey request without SA or Nonce")
        }
        let offered = sa.proposals.filter { $0.protocolID == .ike && $0.spi.count == 8 && $0.spi != [UInt8](repeating: 0, count: 8) }
        guard let chosen = try? ProposalSelection.select(offered: offered, configured: configuration.ikeProposals),
              let group = chosen.keyExchangeMethod, group != .none else {
            return refuse(.noProposalChosen, "no acceptable IKE proposal")
        }
        guard let ke = payloads.keyExchange, ke.group == group else {
            return refuse(.invalidKEPayload, data: [UInt8(group.rawValue >> 8), UInt8(group.rawValue & 0xFF)],
                          "peer must use \(group)")
        }
        let peerSPI = chosen.spi.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard let ourSPI = try? Self.randomSPI(provider), let ourNonce = try? provider.randomBytes(count: ourNonceLength),
              let exchange = try? provider.makeKeyExchange(group),
              let shared = try? exchange.sharedSecret(peerPublicValue: ke.keyExchangeData),
              let created = try? rekeyedMaterial(chosen: chosen, group: group, sharedSecret: shared, nonces: (nonce.nonceData, ourNonce),
                                                 spis: (peerSPI, ourSPI), weInitiated: false) else {
            return refuse(.invalidSyntax, "bad KE or key derivation failed")
        }
        var answer = chosen
        answer.spi = ourSPI.bigEndianBytes
        let response = respond(exchange: .createChildSA, messageID: messageID, payloads: [
            .securityAssociation(SecurityAssociationPayload(proposals: [answer])),
            .nonce(NoncePayload(nonceData: ourNonce)),
            .keyExchange(KeyExchangePayload(group: group, keyExchangeData: exchange.publicValue)),
        ])
        if inFlight.pendingIKERekey != nil {
            // 2.8.2: our own rekey is in flight; its response decides which new SA survives.
            self.inFlight?.peerIKERekey = created
            return response
        }
        return response + promote(created) + waitForPeerDelete()
    }

    // MARK: Shared

    /// The peer's new SA wins (our rekey was refused, or the peer deleted the old SA).
    mutating func adoptPeerIKERekey(_ peer: RekeyedIKESAMaterial, now: Double) -> [IKEAction] {
        inFlight?.peerIKERekey = nil
        inFlight?.pendingIKERekey = nil
        counters.ikeRekeyCollisionsLost += 1
        return promote(peer) + waitForPeerDelete()
    }

    /// Makes `material` the live IKE_SA: it inherits every CHILD_SA (and the rekeyed ones'
    /// kept inbound SAs); this one keeps none.
    mutating func promote(_ material: RekeyedIKESAMaterial) -> [IKEAction] {
        var successor = makeSuccessor(material)
        successor.childSAs = childSAs
        successor.rekeyedChildSAs = rekeyedChildSAs
        successor.inFlight?.deferredOutbound = inFlight?.deferredOutbound ?? [:]
        successor.rekeyGeneration = rekeyGeneration + 1
        childSAs = []
        rekeyedChildSAs = []
        inFlight?.deferredOutbound = [:]
        counters.ikeRekeys += 1
        successors.append(IKESASuccessor(sa: successor, actions: [.rekeyed(previousLocalSPI: localSPI)]))
        return []
    }

    /// The old SA after a rekey: closed by the peer's Delete (or by the shell's timeout).
    mutating func waitForPeerDelete() -> [IKEAction] {
        becomeRekeyed()
        return []
    }

    /// The initiator of the winning rekey deletes the old IKE_SA (on the old SA).
    mutating func deleteRekeyedIKESA(now: Double) -> [IKEAction] {
        becomeRekeyed()
        let actions = sendRequest(exchange: .informational, kind: .deleteIKESA, payloads: [.delete(.ikeSA)], now: now)
        return actions.isEmpty ? close("rekeyed") : actions
    }

    /// A new IKE_SA with this one's configuration and endpoints, what `material` carries
    /// (keys, NAT state, the peer's identity), message IDs at 0.
    func makeSuccessor(_ material: RekeyedIKESAMaterial) -> IKESA {
        var sa = IKESA(configuration: configuration, provider: provider, isOriginalInitiator: material.weInitiated,
                       local: local, remote: remote, initiatorSPI: material.initiatorSPI,
                       responderSPI: material.responderSPI, retransmission: taskManager.policy)
        sa.state = .established(material.negotiated, material.peerIdentity, InFlight())
        return sa
    }

    /// The new SA (2.18): SKEYSEED from the old SK_d with the old PRF, SK_* with the new one;
    /// what IKE_SA_INIT settled and the peer's identity carried over. Throws unless this
    /// IKE_SA is established.
    func rekeyedMaterial(chosen: Proposal, group: KeyExchangeMethod, sharedSecret: SecretBytes,
                         nonces: (initiator: [UInt8], responder: [UInt8]),
                         spis: (initiator: UInt64, responder: UInt64), weInitiated: Bool) throws -> RekeyedIKESAMaterial {
        guard case .established(var negotiated, let peerIdentity, _) = state,
              let prfID = chosen.pseudorandomFunction, let encryption = chosen.encryptionAlgorithm else {
            throw IKECryptoError.invalidLength(what: "chosen IKE proposal", requested: 0)
        }
        let old = negotiated.keys
        let suite = EncryptionSuite(encryption: encryption, keyLengthBits: chosen.encryptionKeyLength.map(Int.init),
                                    integrity: chosen.integrityAlgorithm ?? .none)
        let prf = try provider.makePseudorandomFunction(prfID)
        let skeyseed = try IKEKeyDerivation.rekeyedSKEYSEED(prf: old.prf, oldSKd: old.keys.skD, sharedSecret: sharedSecret,
                                                            nonceInitiator: nonces.initiator, nonceResponder: nonces.responder)
        let keys = try IKEKeyDerivation.ikeSAKeys(prf: prf, skeyseed: skeyseed, nonceInitiator: nonces.initiator,
                                                  nonceResponder: nonces.responder, initiatorSPI: spis.initiator.bigEndianBytes,
                                                  responderSPI: spis.responder.bigEndianBytes, suite: suite)
        negotiated.keys = try IKESAKeyContext(prf: prf, keys: keys, suite: suite, isOriginalInitiator: weInitiated, provider: provider)
        negotiated.keyExchangeMethod = group
        return RekeyedIKESAMaterial(initiatorSPI: spis.initiator, responderSPI: spis.responder, weInitiated: weInitiated,
                                    negotiated: negotiated, peerIdentity: peerIdentity, nonces: [nonces.initiator, nonces.responder])
    }

    /// The IKE_SAs this one made by rekeying since the last call (the shell files them).
    public mutating func takeSuccessors() -> [IKESASuccessor] {
        defer { successors = [] }
        return successors
    }
}
