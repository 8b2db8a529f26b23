// IKE_SA_INIT (RFC 7296 1.2): negotiate the IKE SA's algorithms, exchange nonces and
// key exchange values, derive SKEYSEED and SK_*.
//
//     Initiator                         Responder
//     HDR, [N(COOKIE),] SAi1, KEi, Ni  -->
//                                  <--  HDR, SAr1, KEr, Nr
//
// The initiator retries with the group the responder asks for (INVALID_KE_PAYLOAD, 1.2)
// and with the COOKIE the responder hands out under load (2.6), both under message ID 0.
import NIOCore

/// Length of the nonces we send (RFC 7296 2.10: at least half the PRF key size, >= 16).
let ourNonceLength = 32

extension IKESA {
    // MARK: Initiator: build_i

    /// Sends the first IKE_SA_INIT request (initiator only).
    public mutating func start(now: Double) -> [IKEAction] {
        guard isOriginalInitiator, case .negotiatingInit(var exchange) = state, taskManager.canSendRequest else { return [] }
        guard let group = configuration.ikeProposals.compactMap(\.keyExchangeMethod).first,
              let bytes = try? buildInitRequest(group: group, &exchange),
              let timer = taskManager.requestSent([bytes], context: .ikeSAInit, now: now) else {
            return close("cannot build IKE_SA_INIT (no usable proposal)")
        }
        state = .negotiatingInit(exchange)
        return [.send(bytes), .schedule(timer)]
    }

    mutating func buildInitRequest(group: KeyExchangeMethod, _ exchange: inout InitExchange) throws -> [UInt8] {
        let keyExchange = try provider.makeKeyExchange(group)
        exchange.keyExchange = keyExchange
        if exchange.nonceInitiator.isEmpty { exchange.nonceInitiator = try provider.randomBytes(count: ourNonceLength) }
        var payloads: [IKEPayload] = []
        if let cookie = exchange.cookie { payloads.append(.notify(NotifyPayload(messageType: .cookie, notificationData: cookie))) }
        payloads += [
            .securityAssociation(SecurityAssociationPayload(proposals: configuration.ikeProposals)),
            .keyExchange(KeyExchangePayload(group: group, keyExchangeData: keyExchange.publicValue)),
            .nonce(NoncePayload(nonceData: exchange.nonceInitiator)),
        ]
        if configuration.usesPublicKeys { payloads.append(signatureHashAlgorithmsNotify) }
        // 2.23: SPIr is zero in the request. A provider without SHA-1 sends no NAT notifies.
        if let nat = try? NATDetection.notifies(provider: provider, initiatorSPI: initiatorSPI, responderSPI: 0,
                                                local: local, remote: remote) {
            payloads += nat.map(IKEPayload.notify)
        }
        if configuration.fragmentation.supported {   // RFC 7383 2.3
            payloads.append(.notify(NotifyPayload(messageType: .ikev2FragmentationSupported)))
        }
        payloads += redirectAnnouncement(&exchange)   // RFC 5685 (RedirectFollowing.swift)
        let message = IKEMessage(header: header(exchange: .ikeSAInit, messageID: 0, response: false), payloads: payloads)
        let bytes = Array(message.bytes.readableBytesView)
        exchange.initiatorInitMessage = bytes
        return bytes
    }

    // MARK: Initiator: process_i

    mutating func processInitResponse(_ message: IKEMessage, now: Double) -> [IKEAction] {
        if let invalidKE = message.notify(.invalidKEPayload) {
            // 1.2: retry with the group the responder wants, if we offered it.
            let data = invalidKE.notificationData
            guard data.count == 2 else { counters.unexpected += 1; return [] }
            let wanted = KeyExchangeMethod(rawValue: UInt16(data[0]) << 8 | UInt16(data[1]))
            let offered = configuration.ikeProposals.flatMap { $0.transforms(ofType: .keyExchangeMethod) }
            guard wanted != initExchange?.keyExchange?.method, offered.contains(where: { $0.id == wanted.rawValue }) else {
                _ = taskManager.abandonOutstanding()
                return close("peer wants key exchange \(wanted), which we do not offer")
            }
            return retryInit(group: wanted, now: now)
        }
        if let cookieNotify = message.notify(.cookie) {
            // 2.6: repeat the request with the cookie as the first payload.
            guard case .negotiatingInit(var exchange) = state, exchange.cookie != cookieNotify.notificationData,
                  (1...64).contains(cookieNotify.notificationData.count), let group = exchange.keyExchange?.method else {
                counters.unexpected += 1
                return []
            }
            exchange.cookie = cookieNotify.notificationData
            state = .negotiatingInit(exchange)
            return retryInit(group: group, now: now)
        }
        if let redirect = message.notify(.redirect) {   // RFC 5685 4.2 (RedirectFollowing.swift)
            return processInitRedirect(redirect)
        }
        if let error = message.notifies.first(where: { $0.messageType.rawValue < 16384 }) {
            _ = taskManager.abandonOutstanding()
            return close("IKE_SA_INIT refused: \(error.messageType)")
        }
        guard case .negotiatingInit(var exchange) = state, message.header.responderSPI != 0,
              case .securityAssociation(let sa)? = message.payloads.first(where: { $0.type == .securityAssociation }),
              sa.proposals.count == 1,
              ProposalSelection.isValidChoice(sa.proposals[0], from: configuration.ikeProposals),
              case .keyExchange(let ke)? = message.payloads.first(where: { $0.type == .keyExchange }),
              ke.group == exchange.keyExchange?.method,
              case .nonce(let nonce)? = message.payloads.first(where: { $0.type == .nonce }),
              let received = message.receivedBytes else {
            counters.unexpected += 1
            return []
        }
        _ = taskManager.responseReceived(messageID: 0)
        notePeerAuthenticationHints(message.payloads, &exchange)
        responderSPI = message.header.responderSPI
        exchange.nonceResponder = nonce.nonceData
        exchange.responderInitMessage = Array(received.readableBytesView)
        let keys: IKESAKeyContext
        do {
            keys = try deriveIKESAKeys(chosen: sa.proposals[0], peerPublicValue: ke.keyExchangeData, &exchange)
        } catch {
            return close("IKE_SA_INIT key derivation failed: \(error)")
        }
        let negotiated = Negotiated(
            keys: keys, keyExchangeMethod: ke.group,
            natDetection: detectNAT(message.notifies, responderSPI: message.header.responderSPI),
            fragmentationNegotiated: configuration.fragmentation.supported && message.notify(.ikev2FragmentationSupported) != nil,
            announcedRedirectSupport: exchange.announcedRedirectSupport)
        state = .authenticating(exchange, negotiated)
        return startAuth(now: now)
    }

    mutating func retryInit(group: KeyExchangeMethod, now: Double) -> [IKEAction] {
        guard case .negotiatingInit(var exchange) = state, let bytes = try? buildInitRequest(group: group, &exchange),
              let timer = taskManager.requestReplaced([bytes], context: .ikeSAInit, now: now) else {
            return close("cannot rebuild IKE_SA_INIT")
        }
        state = .negotiatingInit(exchange)
        return [.send(bytes), .schedule(timer)]
    }

    // MARK: Responder: process_r + build_r

    mutating func processInitRequest(_ message: IKEMessage) -> [IKEAction] {
        guard case .negotiatingInit(var exchange) = state,
              case .securityAssociation(let sa)? = message.payloads.first(where: { $0.type == .securityAssociation }),
              case .keyExchange(let ke)? = message.payloads.first(where: { $0.type == .keyExchange }),
              case .nonce(let nonce)? = message.payloads.first(where: { $0.type == .nonce }),
              let received = message.receivedBytes else {
            counters.unexpected += 1
            return closeUnanswered("IKE_SA_INIT request without SA, KE or Nonce")
        }
        let chosen: Proposal
        do {
            chosen = try ProposalSelection.select(offered: sa.proposals, configured: configuration.ikeProposals)
        } catch {
            return refuseInit(NotifyPayload(messageType: .noProposalChosen), reason: "no IKE proposal chosen")
        }
        guard let group = chosen.keyExchangeMethod else {
            return refuseInit(NotifyPayload(messageType: .noProposalChosen), reason: "chosen proposal has no KE")
        }
        guard ke.group == group else {
            // 1.2: tell the initiator which group we want; keep no state.
            let data = [UInt8(group.rawValue >> 8), UInt8(group.rawValue & 0xFF)]
            return refuseInit(NotifyPayload(messageType: .invalidKEPayload, notificationData: data),
                              reason: "initiator sent KE \(ke.group), asked for \(group)")
        }
        do {
            let keyExchange = try provider.makeKeyExchange(group)
            exchange.keyExchange = keyExchange
            exchange.nonceInitiator = nonce.nonceData
            exchange.nonceResponder = try provider.randomBytes(count: ourNonceLength)
            exchange.initiatorInitMessage = Array(received.readableBytesView)
            var answer = chosen
            answer.spi = []
            var payloads: [IKEPayload] = [
                .securityAssociation(SecurityAssociationPayload(proposals: [answer])),
                .keyExchange(KeyExchangePayload(group: group, keyExchangeData: keyExchange.publicValue)),
                .nonce(NoncePayload(nonceData: exchange.nonceResponder)),
            ]
            // RFC 7296 1.2: HDR, SAr1, KEr, Nr, [CERTREQ]; RFC 7427 4: hashes only if asked.
            notePeerAuthenticationHints(message.payloads, &exchange)
            if configuration.remoteAuthentication == .publicKey, configuration.sendCertificateRequest,
               let request = configuration.publicKeyAuthenticator?.certificateRequest {
                payloads.append(.certificateRequest(request))
            }
            if configuration.usesPublicKeys, exchange.peerSignatureHashAlgorithms != nil { payloads.append(signatureHashAlgorithmsNotify) }
            // 2.23: answer NAT detection only when the initiator asked for it.
            let natDetection = detectNAT(message.notifies, responderSPI: 0)
            if natDetection != nil,
               let nat = try? NATDetection.notifies(provider: provider, initiatorSPI: initiatorSPI,
                                                    responderSPI: responderSPI, local: local, remote: remote) {
                payloads += nat.map(IKEPayload.notify)
            }
            let peerSupportsRedirect = message.notify(.redirectSupported) != nil   // RFC 5685 5
            // RFC 7383 2.3: answer the announcement only when we support it too.
            let fragmentationNegotiated = configuration.fragmentation.supported && message.notify(.ikev2FragmentationSupported) != nil
            if fragmentationNegotiated {
                payloads.append(.notify(NotifyPayload(messageType: .ikev2FragmentationSupported)))
            }
            let response = IKEMessage(header: header(exchange: .ikeSAInit, messageID: 0, response: true), payloads: payloads)
            let bytes = Array(response.bytes.readableBytesView)
            exchange.responderInitMessage = bytes
            let keys = try deriveIKESAKeys(chosen: chosen, peerPublicValue: ke.keyExchangeData, &exchange)
            taskManager.responseSent([bytes], messageID: 0, requestDigest: respondingToDigest)
            state = .authenticating(exchange, Negotiated(keys: keys, keyExchangeMethod: group, natDetection: natDetection,
                                                         fragmentationNegotiated: fragmentationNegotiated,
                                                         peerSupportsRedirect: peerSupportsRedirect))
            return [.send(bytes)]
        } catch {
            // A bad public value (wrong length, off the curve) ends the attempt.
            return refuseInit(NotifyPayload(messageType: .invalidSyntax), reason: "IKE_SA_INIT failed: \(error)")
        }
    }

    /// SIGNATURE_HASH_ALGORITHMS with what we accept (RFC 7427 4).
    var signatureHashAlgorithmsNotify: IKEPayload {
        .notify(NotifyPayload(messageType: .signatureHashAlgorithms,
                              notificationData: SignatureHashAlgorithm.notificationData(SignatureHashAlgorithm.supported)))
    }

    /// Remembers the peer's SIGNATURE_HASH_ALGORITHMS and whether it asked for certificates (CERTREQ).
    func notePeerAuthenticationHints(_ payloads: [IKEPayload], _ exchange: inout InitExchange) {
        if let hashes = payloads.notify(.signatureHashAlgorithms) {
            exchange.peerSignatureHashAlgorithms = SignatureHashAlgorithm.parse(hashes.notificationData)
        }
        if payloads.contains(where: { $0.type == .certificateRequest }) { exchange.peerRequestedCertificates = true }
    }

    /// NAT detection on the peer's IKE_SA_INIT (2.23): what it found (nil: the peer sent no
    /// NAT_DETECTION notifies). The initiator then floats to UDP 4500 for IKE_AUTH and
    /// everything after; the responder answers where requests come from.
    mutating func detectNAT(_ notifies: [NotifyPayload], responderSPI spiR: UInt64) -> NATDetectionResult? {
        let (at, from) = receivedEndpoints ?? (local, remote)
        guard let result = try? NATDetection.evaluate(provider: provider, notifies: notifies, initiatorSPI: initiatorSPI,
                                                      responderSPI: spiR, local: at, remote: from) else { return nil }
        if result.natDetected, isOriginalInitiator {
            local.port = IKEEndpoint.natTraversalPort
            if remote.port == IKEEndpoint.ikePort { remote.port = IKEEndpoint.natTraversalPort }
        }
        return result
    }

    /// Answers IKE_SA_INIT with an error notify (unencrypted, responder SPI zero) and ends.
    mutating func refuseInit(_ notify: NotifyPayload, reason: String) -> [IKEAction] {
        counters.refusals[notify.messageType, default: 0] += 1
        var header = header(exchange: .ikeSAInit, messageID: 0, response: true)
        header.responderSPI = 0
        let bytes = Array(IKEMessage(header: header, payloads: [.notify(notify)]).bytes.readableBytesView)
        return [.send(bytes)] + closeUnanswered(reason)
    }

    mutating func closeUnanswered(_ reason: String) -> [IKEAction] {
        state = .closed   // IKE_SA_INIT's material (our key exchange's private value) goes with it
        return [.closed(reason)]
    }

    /// SKEYSEED and SK_* from the chosen proposal (RFC 7296 2.14); our key exchange's
    /// private value is dropped.
    func deriveIKESAKeys(chosen: Proposal, peerPublicValue: [UInt8], _ exchange: inout InitExchange) throws -> IKESAKeyContext {
        guard let keyExchange = exchange.keyExchange, let prfID = chosen.pseudorandomFunction,
              let encryption = chosen.encryptionAlgorithm else {
            throw IKECryptoError.invalidLength(what: "chosen IKE proposal", requested: 0)
        }
        let suite = EncryptionSuite(encryption: encryption, keyLengthBits: chosen.encryptionKeyLength.map(Int.init),
                                    integrity: chosen.integrityAlgorithm ?? .none)
        let prf = try provider.makePseudorandomFunction(prfID)
        let shared = try keyExchange.sharedSecret(peerPublicValue: peerPublicValue)
        let skeyseed = try IKEKeyDerivation.skeyseed(prf: prf, nonceInitiator: exchange.nonceInitiator,
                                                     nonceResponder: exchange.nonceResponder, sharedSecret: shared)
        let keys = try IKEKeyDerivation.ikeSAKeys(prf: prf, skeyseed: skeyseed, nonceInitiator: exchange.nonceInitiator,
                                                  nonceResponder: exchange.nonceResponder,
                                                  initiatorSPI: initiatorSPI.bigEndianBytes,
                                                  responderSPI: responderSPI.bigEndianBytes, suite: suite)
        let context = try IKESAKeyContext(prf: prf, keys: keys, suite: suite,
                                          isOriginalInitiator: isOriginalInitiator, provider: provider)
        exchange.keyExchange = nil
        return context
    }
}

extension UInt64 {
    /// The eight octets in network order.
    var bigEndianBytes: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: self >> (56 - 8 * $0)) } }
}
