// IKE_AUTH (RFC 7296 1.2) with pre-shared keys or signatures (2.15, RFC 7427), creating
// the first CHILD_SA.
//
//     Initiator                         Responder
//     HDR, SK {IDi, [CERT,] [CERTREQ,] [IDr,] AUTH, [N(USE_TRANSPORT_MODE),] SAi2, TSi, TSr}  -->
//                  <--  HDR, SK {IDr, [CERT,] AUTH, [N(USE_TRANSPORT_MODE),] SAr2, TSi, TSr}
//
// A wrong AUTH is answered with AUTHENTICATION_FAILED and ends the IKE_SA; an initiator
// that refuses the responder says so in an INFORMATIONAL (2.21.2). Each refusal is counted
// by reason (`IKESACounters.authenticationFailures`). A CHILD_SA that
// cannot be made (NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE) is reported in the response, and the
// IKE_SA is still established (RFC 7296 1.2, last paragraph).
//
// INITIAL_CONTACT (2.4): "asserts that this IKE SA is the only IKE SA currently active
// between the authenticated identities." The initiator adds N(INITIAL_CONTACT) to its request
// when `sendsInitialContact` (the shell's decision: it holds no IKE_SA with those
// identities), as strongSwan does; the responder never sends it. Received in an
// authenticated IKE_AUTH message (either direction), it yields `.initialContact` once the
// IKE_SA is established: the shell ends the older IKE_SAs of the same identities.

extension IKESA {
    // MARK: Initiator: build_i

    mutating func startAuth(now: Double) -> [IKEAction] {
        guard case .authenticating(var exchange, let negotiated) = state, let childSPI = try? randomChildSPI() else {
            return close("cannot build IKE_AUTH")
        }
        let keys = negotiated.keys
        let child = exchange.authChild
        exchange.offeredChildSPI = childSPI
        exchange.offeredChildProposals = child.espProposals.map { var p = $0; p.spi = childSPI.bigEndianBytes; return p }
        state = .authenticating(exchange, negotiated)
        let identity = configuration.localIdentity
        guard let own = try? ownAuthentication(keys: keys, ownInitMessage: exchange.initiatorInitMessage,
                                               peerNonce: exchange.nonceResponder, skP: keys.keys.skPi, identity: identity,
                                               hints: exchange) else {
            return close("cannot compute AUTH")
        }
        // RFC 7296 1.2: IDi, [CERT,] [CERTREQ,] [IDr,] AUTH, ...
        var payloads: [IKEPayload] = [.identificationInitiator(identity)] + own.certificates
        if configuration.remoteAuthentication == .publicKey, configuration.sendCertificateRequest,
           let request = configuration.publicKeyAuthenticator?.certificateRequest {
            payloads.append(.certificateRequest(request))
        }
        if let remote = configuration.remoteIdentity { payloads.append(.identificationResponder(remote)) }
        payloads.append(.authentication(own.auth))
        if exchange.sendsInitialContact { payloads.append(.notify(NotifyPayload(messageType: .initialContact))) }
        if child.mode == .transport { payloads.append(.notify(NotifyPayload(messageType: .useTransportMode))) }
        payloads += [
            .securityAssociation(SecurityAssociationPayload(proposals: exchange.offeredChildProposals)),
            .trafficSelectorInitiator(TrafficSelectorPayload(trafficSelectors: child.localTrafficSelectors)),
            .trafficSelectorResponder(TrafficSelectorPayload(trafficSelectors: child.remoteTrafficSelectors)),
        ]
        return sendRequest(exchange: .ikeAuth, kind: .ikeAuth, payloads: payloads, now: now)
    }

    // MARK: Responder: process_r + build_r

    mutating func processAuthRequest(_ payloads: [IKEPayload], messageID: UInt32) -> [IKEAction] {
        guard case .authenticating(var exchange, let negotiated) = state,
              case .identificationInitiator(let peerIdentity)? = payloads.first(where: { $0.type == .identificationInitiator }),
              case .authentication(let auth)? = payloads.first(where: { $0.type == .authentication }) else {
            counters.unexpected += 1
            return []
        }
        let keys = negotiated.keys
        if payloads.contains(where: { $0.type == .certificateRequest }) {
            exchange.peerRequestedCertificates = true
            state = .authenticating(exchange, negotiated)
        }
        switch checkPeer(auth, payloads: payloads, keys: keys, peerInitMessage: exchange.initiatorInitMessage,
                         ownNonce: exchange.nonceResponder, skP: keys.keys.skPi, identity: peerIdentity, token: messageID) {
        case .started(let verifying): return verifying
        case .checked(let failure): return completeAuthRequest(payloads, messageID: messageID, verification: failure)
        }
    }

    /// The responder's IKE_AUTH once the peer's AUTH was checked (`verification`: nil when it holds).
    mutating func completeAuthRequest(_ payloads: [IKEPayload], messageID: UInt32,
                                      verification: PeerAuthenticationFailure?) -> [IKEAction] {
        guard case .authenticating(let exchange, let negotiated) = state,
              case .identificationInitiator(let peerIdentity)? = payloads.first(where: { $0.type == .identificationInitiator }) else {
            return []
        }
        let keys = negotiated.keys
        if let failure = verification {
            counters.refusals[.authenticationFailed, default: 0] += 1
            counters.authenticationFailures[failure, default: 0] += 1
            let actions = respond(exchange: .ikeAuth, messageID: messageID,
                                  payloads: [.notify(NotifyPayload(messageType: .authenticationFailed))])
            return actions + close("peer authentication failed: \(failure.rawValue)")
        }
        let identity = configuration.localIdentity
        guard let own = try? ownAuthentication(keys: keys, ownInitMessage: exchange.responderInitMessage,
                                               peerNonce: exchange.nonceInitiator, skP: keys.keys.skPr, identity: identity,
                                               hints: exchange) else {
            return close("cannot compute AUTH")
        }
        // RFC 7296 1.2: IDr, [CERT,] AUTH, ...
        var response: [IKEPayload] = [.identificationResponder(identity)] + own.certificates + [.authentication(own.auth)]
        var actions: [IKEAction] = []
        switch negotiateChildAsResponder(payloads, keys: keys, nonces: exchange.nonces) {
        case .success(let (installation, answer)):
            if installation.mode == .transport { response.append(.notify(NotifyPayload(messageType: .useTransportMode))) }
            response += answer
            childSAs.append(installation)
            actions.append(.install(installation))
        case .failure(let error):
            counters.refusals[error.notifyMessageType, default: 0] += 1
            response.append(.notify(NotifyPayload(messageType: error.notifyMessageType)))
            actions.append(.childSAFailed("CHILD_SA refused: \(error)"))
        }
        state = .established(negotiated, peerIdentity, InFlight())
        return respond(exchange: .ikeAuth, messageID: messageID, payloads: response) + actions + [.established]
            + initialContact(payloads)
    }

    /// `.initialContact` when the (authenticated) IKE_AUTH message carried N(INITIAL_CONTACT).
    func initialContact(_ payloads: [IKEPayload]) -> [IKEAction] {
        payloads.notifies.contains { $0.messageType == .initialContact } ? [.initialContact] : []
    }

    /// The responder's CHILD_SA: proposal, selectors, mode, SPI and keys.
    func negotiateChildAsResponder(_ payloads: [IKEPayload], keys: IKESAKeyContext, nonces: (initiator: [UInt8], responder: [UInt8]))
        -> Result<(ChildSAInstallation, [IKEPayload]), NegotiationError> {
        guard case .securityAssociation(let sa)? = payloads.first(where: { $0.type == .securityAssociation }),
              case .trafficSelectorInitiator(let tsi)? = payloads.first(where: { $0.type == .trafficSelectorInitiator }),
              case .trafficSelectorResponder(let tsr)? = payloads.first(where: { $0.type == .trafficSelectorResponder }) else {
            return .failure(.noProposalChosen)
        }
        do {
            // The child is the first whose selectors fit the request's (RFC 7296 2.9).
            let narrowed = try configuration.child(forInitiator: tsi.trafficSelectors, responder: tsr.trafficSelectors)
            let child = narrowed.child
            var chosen = try ProposalSelection.select(offered: sa.proposals, configured: child.espProposals,
                                                      ignoringKeyExchange: true)
            guard let peerSPI = chosen.spi32 else { return .failure(.noProposalChosen) }
            let requestedTransport = payloads.contains { if case .notify(let n) = $0 { return n.messageType == .useTransportMode }; return false }
            let mode: ChildSAMode = (requestedTransport && child.mode == .transport) ? .transport : .tunnel
            if child.mode == .transport && !requestedTransport { return .failure(.noProposalChosen) }
            let ourSPI = try randomChildSPI()
            chosen.spi = ourSPI.bigEndianBytes
            let installation = try childSAInstallation(chosen: chosen, keys: keys, ourSPI: ourSPI, peerSPI: peerSPI,
                                                       initiatorTS: narrowed.initiator, responderTS: narrowed.responder,
                                                       mode: mode, child: child, nonces: nonces)
            return .success((installation, [
                .securityAssociation(SecurityAssociationPayload(proposals: [chosen])),
                .trafficSelectorInitiator(TrafficSelectorPayload(trafficSelectors: narrowed.initiator)),
                .trafficSelectorResponder(TrafficSelectorPayload(trafficSelectors: narrowed.responder)),
            ]))
        } catch let error as NegotiationError {
            return .failure(error)
        } catch {
            return .failure(.noProposalChosen)
        }
    }

    // MARK: Initiator: process_i

    mutating func processAuthResponse(_ payloads: [IKEPayload], messageID: UInt32, now: Double) -> [IKEAction] {
        guard case .authenticating(let exchange, let negotiated) = state else { return [] }
        let keys = negotiated.keys
        let notifies = payloads.compactMap { if case .notify(let n) = $0 { return n }; return nil }
        if notifies.contains(where: { $0.messageType == .authenticationFailed }) {
            return close("peer refused our authentication (AUTHENTICATION_FAILED)")
        }
        guard case .identificationResponder(let peerIdentity)? = payloads.first(where: { $0.type == .identificationResponder }),
              case .authentication(let auth)? = payloads.first(where: { $0.type == .authentication }) else {
            return close("responder authentication failed: no IDr or AUTH")
        }
        switch checkPeer(auth, payloads: payloads, keys: keys, peerInitMessage: exchange.responderInitMessage,
                         ownNonce: exchange.nonceInitiator, skP: keys.keys.skPr, identity: peerIdentity, token: messageID) {
        case .started(let verifying): return verifying
        case .checked(let failure): return completeAuthResponse(payloads, verification: failure, now: now)
        }
    }

    /// The initiator's IKE_AUTH once the responder's AUTH was checked (`verification`: nil when it holds).
    mutating func completeAuthResponse(_ payloads: [IKEPayload], verification: PeerAuthenticationFailure?, now: Double) -> [IKEAction] {
        guard case .authenticating(let exchange, let negotiated) = state,
              case .identificationResponder(let peerIdentity)? = payloads.first(where: { $0.type == .identificationResponder }) else {
            return []
        }
        let keys = negotiated.keys
        let notifies = payloads.compactMap { if case .notify(let n) = $0 { return n }; return nil }
        if let failure = verification {
            counters.authenticationFailures[failure, default: 0] += 1
            return refuseResponder(failure, now: now)
        }
        state = .established(negotiated, peerIdentity, InFlight())   // IKE_SA_INIT's material: only `exchange` (this copy) still has it
        let established: [IKEAction] = [.established] + initialContact(payloads)
        if let error = notifies.first(where: { $0.messageType.rawValue < 16384 }) {
            return established + [.childSAFailed("CHILD_SA refused: \(error.messageType)")]
        }
        guard case .securityAssociation(let sa)? = payloads.first(where: { $0.type == .securityAssociation }),
              sa.proposals.count == 1, let peerSPI = sa.proposals[0].spi32,
              ProposalSelection.isValidChoice(sa.proposals[0], from: exchange.offeredChildProposals, ignoringKeyExchange: true),
              case .trafficSelectorInitiator(let tsi)? = payloads.first(where: { $0.type == .trafficSelectorInitiator }),
              case .trafficSelectorResponder(let tsr)? = payloads.first(where: { $0.type == .trafficSelectorResponder }),
              TrafficSelectorNarrowing.narrow(proposed: tsi.trafficSelectors, configured: exchange.authChild.localTrafficSelectors)
                == tsi.trafficSelectors,
              TrafficSelectorNarrowing.narrow(proposed: tsr.trafficSelectors, configured: exchange.authChild.remoteTrafficSelectors)
                == tsr.trafficSelectors
        else {
            counters.unexpected += 1
            return established
        }
        let transport = exchange.authChild.mode == .transport && notifies.contains { $0.messageType == .useTransportMode }
        guard let installation = try? childSAInstallation(
            chosen: sa.proposals[0], keys: keys, ourSPI: exchange.offeredChildSPI, peerSPI: peerSPI,
            initiatorTS: tsi.trafficSelectors, responderTS: tsr.trafficSelectors, mode: transport ? .transport : .tunnel,
            child: exchange.authChild, nonces: exchange.nonces)
        else { return established }
        childSAs.append(installation)
        return established + [.install(installation)]
    }

    // MARK: Shared

    func identityAcceptable(_ identity: IdentificationPayload) -> Bool {
        guard let expected = configuration.remoteIdentity else { return true }
        return expected.idType == identity.idType && expected.identificationData == identity.identificationData
    }

    /// Our CERT payloads (when we sign and the peer asked, or always is configured) and AUTH;
    /// `hints`: what the peer said in IKE_SA_INIT (its hash algorithms, its CERTREQ).
    package func ownAuthentication(keys: IKESAKeyContext, ownInitMessage: [UInt8], peerNonce: [UInt8], skP: SecretBytes,
                                   identity: IdentificationPayload, hints: InitExchange)
        throws -> (certificates: [IKEPayload], auth: AuthenticationPayload) {
        let octets = try PSKAuthentication.signedOctets(prf: keys.prf, message: ownInitMessage, peerNonce: peerNonce,
                                                        skP: skP, identificationPayloadBody: identity.bodyBytes)
        switch configuration.localAuthentication {
        case .psk:
            let data = try PSKAuthentication.authenticationData(prf: keys.prf, sharedSecret: configuration.presharedKey,
                                                                signedOctets: octets)
            return ([], AuthenticationPayload(method: .sharedKeyMessageIntegrityCode, authenticationData: data))
        case .publicKey:
            guard let authenticator = configuration.publicKeyAuthenticator, authenticator.canSign else {
                throw IKECryptoError.backend(operation: "AUTH", detail: "no private key")
            }
            let auth = try authenticator.sign(octets, peerHashAlgorithms: hints.peerSignatureHashAlgorithms)
            let send = hints.peerRequestedCertificates || configuration.sendCertificateAlways
            return (send ? authenticator.certificatePayloads.map(IKEPayload.certificate) : [], auth)
        }
    }

    /// The peer's AUTH checked: a certificate's chain off the event loop (`.started`: the
    /// `.verifyPeer` action; IKE_AUTH goes on in `peerVerified`), anything else at once.
    enum PeerCheck {
        case started([IKEAction])
        case checked(PeerAuthenticationFailure?)
    }

    mutating func checkPeer(_ auth: AuthenticationPayload, payloads: [IKEPayload], keys: IKESAKeyContext, peerInitMessage: [UInt8],
                            ownNonce: [UInt8], skP: SecretBytes, identity: IdentificationPayload, token: UInt32) -> PeerCheck {
        if let verifying = startPeerVerification(auth, payloads: payloads, keys: keys, peerInitMessage: peerInitMessage,
                                                 ownNonce: ownNonce, skP: skP, identity: identity, token: token) {
            return .started(verifying)
        }
        return .checked(verifyPeer(auth, payloads: payloads, keys: keys, peerInitMessage: peerInitMessage,
                                   ownNonce: ownNonce, skP: skP, identity: identity))
    }

    /// Checks the peer's AUTH (RFC 7296 2.15) the way `remote { auth }` says, where that needs
    /// no certificate (PSK, refusals); nil when it holds.
    func verifyPeer(_ auth: AuthenticationPayload, payloads: [IKEPayload], keys: IKESAKeyContext, peerInitMessage: [UInt8],
                    ownNonce: [UInt8], skP: SecretBytes, identity: IdentificationPayload) -> PeerAuthenticationFailure? {
        guard let octets = try? PSKAuthentication.signedOctets(prf: keys.prf, message: peerInitMessage, peerNonce: ownNonce,
                                                               skP: skP, identificationPayloadBody: identity.bodyBytes) else {
            return .badSignature
        }
        switch configuration.remoteAuthentication {
        case .psk:
            guard auth.method == .sharedKeyMessageIntegrityCode else { return .unsupportedMethod }
            guard identityAcceptable(identity) else { return .identityMismatch }
            let verified = (try? PSKAuthentication.verify(prf: keys.prf, sharedSecret: configuration.presharedKey,
                                                          signedOctets: octets, received: auth.authenticationData)) == true
            return verified ? nil : .pskMismatch
        case .publicKey:
            // Only what needs no certificate: a signature AUTH with an authenticator is
            // verified asynchronously (`startPeerVerification`, IKESA+PeerVerification.swift).
            guard auth.method.isSignature else { return .unsupportedMethod }
            return .untrusted   // no authenticator: nothing to verify the peer with
        }
    }

    /// The initiator could not authenticate the responder: tell it in an INFORMATIONAL with
    /// AUTHENTICATION_FAILED (RFC 7296 2.21.2 allows this one new exchange) and end the IKE_SA.
    mutating func refuseResponder(_ failure: PeerAuthenticationFailure, now: Double) -> [IKEAction] {
        counters.refusals[.authenticationFailed, default: 0] += 1
        let notice = sendRequest(exchange: .informational, kind: .liveness,
                                 payloads: [.notify(NotifyPayload(messageType: .authenticationFailed))], now: now)
        return notice.filter { if case .send = $0 { return true }; return false }
            + close("responder authentication failed: \(failure.rawValue)")
    }

    func randomChildSPI() throws -> UInt32 {
        let bytes = try provider.randomBytes(count: 4)
        return 0xC000_0000 | (bytes.reduce(0) { $0 << 8 | UInt32($1) } & 0x3FFF_FFFF)
    }

    /// KEYMAT (RFC 7296 2.17) and the two SAs of a CHILD_SA.
    ///
    /// `weInitiated`: whether we initiated the exchange creating it (IKE_AUTH: the original
    /// initiator; CREATE_CHILD_SA: whoever sent the request); its nonces come first, its
    /// selectors are TSi, and it sends with the "initiator to responder" keys.
    func childSAInstallation(chosen: Proposal, keys: IKESAKeyContext, ourSPI: UInt32, peerSPI: UInt32,
                             initiatorTS: [TrafficSelector], responderTS: [TrafficSelector], mode: ChildSAMode,
                             child: ChildSAConfiguration, weInitiated: Bool? = nil, nonces: (initiator: [UInt8], responder: [UInt8]),
                             sharedSecret: SecretBytes? = nil, rekeying old: ChildSAReference? = nil) throws -> ChildSAInstallation {
        let weInitiated = weInitiated ?? isOriginalInitiator
        guard let encryption = chosen.encryptionAlgorithm else { throw NegotiationError.noProposalChosen }
        let suite = EncryptionSuite(encryption: encryption, keyLengthBits: chosen.encryptionKeyLength.map(Int.init),
                                    integrity: chosen.integrityAlgorithm ?? .none)
        let keymat = try IKEKeyDerivation.childSAKeys(prf: keys.prf, skD: keys.keys.skD, sharedSecret: sharedSecret,
                                                      nonceInitiator: nonces.initiator, nonceResponder: nonces.responder, suite: suite)
        let inboundKeys = weInitiated
            ? (keymat.responderToInitiatorEncryption, keymat.responderToInitiatorIntegrity)
            : (keymat.initiatorToResponderEncryption, keymat.initiatorToResponderIntegrity)
        let outboundKeys = weInitiated
            ? (keymat.initiatorToResponderEncryption, keymat.initiatorToResponderIntegrity)
            : (keymat.responderToInitiatorEncryption, keymat.responderToInitiatorIntegrity)
        func sa(_ spi: UInt32, from: [UInt8], to: [UInt8], _ k: (SecretBytes, SecretBytes)) -> ChildSAParameters {
            ChildSAParameters(spi: spi, source: from, destination: to, encryption: encryption,
                              encryptionKeyLengthBits: suite.keyLengthBits, integrity: suite.integrity,
                              encryptionKey: k.0, integrityKey: k.1)
        }
        let localTS = weInitiated ? initiatorTS : responderTS, remoteTS = weInitiated ? responderTS : initiatorTS
        // Acquired last: nothing below can fail, and every caller installs what it gets.
        let reqid = configuration.reqids?.acquire(local: localTS, remote: remoteTS, user: ourSPI, sharing: old?.reqid)
            ?? old?.reqid ?? child.reqid
        return ChildSAInstallation(
            name: child.name, reqid: reqid, mode: mode,
            inbound: sa(ourSPI, from: remote.address, to: local.address, inboundKeys),
            outbound: sa(peerSPI, from: local.address, to: remote.address, outboundKeys),
            localTrafficSelectors: localTS, remoteTrafficSelectors: remoteTS,
            extendedSequenceNumbers: chosen.extendedSequenceNumbers == .yes,
            replayWindow: child.replayWindow, lifetime: child.lifetime,
            // RFC 3948: ESP in UDP between the IKE_SA's ports when a NAT was detected.
            udpEncapsulation: natDetection?.natDetected == true
                ? UDPEncapsulation(sourcePort: local.port, destinationPort: remote.port) : nil)
    }
}

extension UInt32 {
    /// The four octets in network order.
    var bigEndianBytes: [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: self >> (24 - 8 * $0)) } }
}
