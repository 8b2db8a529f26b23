// An established IKE_SA as a record, and back (docs/takeover.md section 2): the active
// routing node writes `snapshot`s to the coupling facility, a new active `restore`s them
// and carries on: same SPIs, same keys, the next message IDs, the cached response for a
// retransmitted request, the CHILD_SAs as the targets hold them.
//
// Only a quiet IKE_SA is captured: established, no response held for an install, no
// exchange of ours in flight that changes state (a CHILD_SA or IKE_SA rekey, a Delete, a
// CREATE_CHILD_SA). Such an exchange would need its secrets (nonces, KE private key) and
// its half-made CHILD_SA; the writer records the IKE_SA again once it completed. Our
// liveness check (DPD) may be in flight: it is captured as its datagrams, which a new
// active sends again unchanged (RFC 7296 2.1: the peer answers a retransmission from its
// cache), so no message ID is skipped and none carries other bytes.
// Not captured: CHILD_SAs replaced by a rekey whose inbound SA is still kept
// (`delete_rekeyed_delay`); a new active deletes them with the rest of the old node's SAs.

extension IKESA {
    /// The record of this IKE_SA; `times` are the gateway's timers of it. Throws
    /// `IKESARecordError.notRestorable` when the IKE_SA is not quiet (see above).
    public func snapshot(times: IKESARecord.Times) throws -> IKESARecord {
        guard case .established(let negotiated, let peerIdentity, _) = state else {
            throw IKESARecordError.notRestorable("not established (\(phase))")
        }
        let keys = negotiated.keys
        if let reason = unquietReason { throw IKESARecordError.notRestorable(reason) }
        var outstandingLiveness: IKEDatagrams?
        if let kind = taskManager.outstandingContext {
            guard kind == .liveness, let datagrams = taskManager.outstandingDatagrams else {
                throw IKESARecordError.notRestorable("our \(kind) exchange is in flight")
            }
            outstandingLiveness = datagrams
        }
        let cached = taskManager.cachedResponseWithDigest
        return IKESARecord(
            connection: configuration.name, isOriginalInitiator: isOriginalInitiator,
            initiatorSPI: initiatorSPI, responderSPI: responderSPI, local: local, remote: remote,
            natDetection: negotiated.natDetection, fragmentationNegotiated: negotiated.fragmentationNegotiated,
            peerSupportsRedirect: negotiated.peerSupportsRedirect, localIdentity: configuration.localIdentity,
            peerIdentity: peerIdentity, prf: keys.prf.id, suite: keys.suite,
            skD: keys.keys.skD, skAi: keys.keys.skAi, skAr: keys.keys.skAr, skEi: keys.keys.skEi, skEr: keys.keys.skEr,
            messageIDs: IKESARecord.MessageIDs(
                nextRequest: taskManager.nextRequestMessageID, expectedRequest: taskManager.expectedRequestMessageID,
                lastResponse: cached.map { IKESARecord.CachedResponse(messageID: $0.messageID, requestDigest: $0.requestDigest,
                                                                       datagrams: $0.datagrams) },
                outstandingLiveness: outstandingLiveness),
            rekeyGeneration: UInt32(clamping: rekeyGeneration), times: times, childSAs: childSAs)
    }

    /// Why a snapshot now would miss state, or nil when the IKE_SA is quiet.
    var unquietReason: String? {
        guard let inFlight else { return nil }
        if inFlight.heldResponse != nil { return "a response waits for an install" }
        if !inFlight.deleteAfterInstall.isEmpty { return "a Delete waits for an install" }
        if inFlight.pendingChildRekey != nil || inFlight.pendingChildDeletion != nil { return "a CHILD_SA exchange of ours is in flight" }
        if inFlight.pendingIKERekey != nil || inFlight.peerIKERekey != nil || !successors.isEmpty { return "an IKE_SA rekey is under way" }
        if inFlight.collidingPeerRekey != nil || !inFlight.deferredOutbound.isEmpty { return "a CHILD_SA rekey is completing" }
        return nil
    }

    /// Rebuilds an established IKE_SA from `record` with this node's `configuration` of the
    /// same connection. Returns it and what to do at once: resend the liveness check that was
    /// in flight (and schedule its retransmission). Throws `IKESARecordError.notRestorable`
    /// when the record does not fit the configuration, or the crypto provider refuses its
    /// transforms or keys. CHILD_SA reqids are registered with the configuration's allocator.
    public static func restore(_ record: IKESARecord, configuration: IKESAConfiguration, provider: any IKECryptoProvider,
                               retransmission: RetransmissionPolicy = .strongSwanDefault,
                               now: Double) throws -> (IKESA, [IKEAction]) {
        guard record.connection == configuration.name else {
            throw IKESARecordError.notRestorable("record of connection \(record.connection), configuration \(configuration.name)")
        }
        guard record.localIdentity == configuration.localIdentity else {
            throw IKESARecordError.notRestorable("local identity \(record.localIdentity) is not the configured \(configuration.localIdentity)")
        }
        for child in record.childSAs where configuration.child(named: child.name) == nil {
            throw IKESARecordError.notRestorable("CHILD_SA of child \(child.name), which connection \(configuration.name) lacks")
        }
        let keyContext: IKESAKeyContext
        do {
            let keys = IKESAKeys(skD: record.skD, skAi: record.skAi, skAr: record.skAr, skEi: record.skEi, skEr: record.skEr,
                                 skPi: SecretBytes(zeroes: 0), skPr: SecretBytes(zeroes: 0))
            keyContext = try IKESAKeyContext(prf: try provider.makePseudorandomFunction(record.prf), keys: keys, suite: record.suite,
                                             isOriginalInitiator: record.isOriginalInitiator, provider: provider)
        } catch {
            throw IKESARecordError.notRestorable("the crypto provider refused the record's transforms: \(error)")
        }
        var sa = IKESA(configuration: configuration, provider: provider, isOriginalInitiator: record.isOriginalInitiator,
                       local: record.local, remote: record.remote, initiatorSPI: record.initiatorSPI,
                       responderSPI: record.responderSPI, retransmission: retransmission)
        // The record carries neither the key exchange method nor our redirect announcement.
        let negotiated = Negotiated(keys: keyContext, natDetection: record.natDetection,
                                    fragmentationNegotiated: record.fragmentationNegotiated,
                                    peerSupportsRedirect: record.peerSupportsRedirect)
        sa.state = .established(negotiated, record.peerIdentity, InFlight())
        sa.rekeyGeneration = Int(record.rekeyGeneration)
        sa.childSAs = record.childSAs
        let ids = record.messageIDs
        sa.taskManager = TaskManager(
            policy: retransmission, nextRequestMessageID: ids.nextRequest, expectedRequestMessageID: ids.expectedRequest,
            cachedResponse: ids.lastResponse.map { ($0.messageID, $0.requestDigest, $0.datagrams) })
        for child in record.childSAs {
            _ = configuration.reqids?.acquire(local: child.localTrafficSelectors, remote: child.remoteTrafficSelectors,
                                              user: child.inbound.spi, sharing: child.reqid)
        }
        var actions: [IKEAction] = []
        if let datagrams = ids.outstandingLiveness, let timer = sa.taskManager.requestSent(datagrams, context: .liveness, now: now) {
            actions = datagrams.map(IKEAction.send) + [.schedule(timer)]
        }
        return (sa, actions)
    }
}
