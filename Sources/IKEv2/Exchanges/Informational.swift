// INFORMATIONAL (RFC 7296 1.4): DELETE of the IKE_SA or of CHILD_SAs, and the empty
// message that checks liveness (dead peer detection, 2.4).
//
//     HDR, SK {[N,] [D,] ...}  -->
//                         <--  HDR, SK {[N,] [D,] ...}
//
// "If an IKE SA is deleted, all its CHILD_SAs are deleted with it" (1.4.1); a CHILD_SA
// delete is answered with the Delete of the SAs in the other direction.

extension IKESA {
    // MARK: Initiator: build_i

    /// Whether `delete(now:)` would send D(IKE) now: false while a request of ours waits
    /// for its answer (then `delete` closes the IKE_SA without telling the peer).
    public var canSendDelete: Bool { phase == .established && taskManager.canSendRequest }

    /// Deletes the IKE_SA (and with it every CHILD_SA): sends D(IKE); the SA closes when
    /// answered or when the retransmissions run out.
    public mutating func delete(now: Double) -> [IKEAction] {
        guard phase == .established else { return close(phase == .rekeyed ? "rekeyed" : "deleted before establishment") }
        // Another request (e.g. an IKE_SA rekey) holds the window: no Delete can go out now.
        guard taskManager.canSendRequest else { return close("deleted (exchange in flight, no Delete sent)") }
        // D(IKE) ends every CHILD_SA: no Delete of one waits any more, and no response that
        // would make one usable goes out after it.
        inFlight?.deleteAfterInstall = [:]
        inFlight?.heldResponse = nil
        let actions = sendRequest(exchange: .informational, kind: .deleteIKESA, payloads: [.delete(.ikeSA)], now: now)
        // Our CHILD_SAs go at once: the peer stops using them on receipt.
        let deletions = childSAs.map { IKEAction.delete($0) } + removeAllRekeyedChildSAs()
        childSAs = []
        return deletions + actions
    }

    /// Sends an empty INFORMATIONAL to check that the peer is alive; an unanswered one
    /// closes the IKE_SA after the retransmissions.
    public mutating func checkLiveness(now: Double) -> [IKEAction] {
        guard phase == .established, canSendRequest else { return [] }
        return sendRequest(exchange: .informational, kind: .liveness, payloads: [], now: now)
    }

    // MARK: Responder: process_r + build_r

    mutating func processInformationalRequest(_ payloads: [IKEPayload], messageID: UInt32, now: Double) -> [IKEAction] {
        let deletes = payloads.compactMap { if case .delete(let d) = $0 { return d }; return nil }
        if deletes.contains(where: { $0.protocolID == .ike }) {
            // 2.8.2: the peer deletes the old SA while we saw a simultaneous rekey: it did not
            // see it, its new SA (which we answered) wins and we forget our own attempt.
            var adopted: [IKEAction] = []
            if let peer = inFlight?.peerIKERekey { adopted = adoptPeerIKERekey(peer, now: now) }
            if phase == .rekeyed { _ = taskManager.abandonOutstanding() }
            let response = respond(exchange: .informational, messageID: messageID, payloads: [])
            return adopted + response + close(phase == .rekeyed ? "rekeyed, deleted by peer" : "deleted by peer")
        }
        if let redirect = payloads.notify(.redirect) {   // RFC 5685 5 (RedirectFollowing.swift)
            return processEstablishedRedirect(redirect, messageID: messageID)
        }
        if phase == .rekeyed {   // the CHILD_SAs moved to the new IKE_SA: nothing to delete here
            return respond(exchange: .informational, messageID: messageID, payloads: [])
        }
        var removed: [ChildSAInstallation] = []
        for delete in deletes where delete.protocolID == .esp {
            for spi in delete.spis32 {
                // The peer names the SPI of its inbound SA: our outbound one.
                if let index = childSAs.firstIndex(where: { $0.outbound.spi == spi }) {
                    removed.append(childSAs.remove(at: index))
                }
            }
        }
        // Successors of the deleted CHILD_SAs may now send (see `outboundDeferred`).
        var activations: [IKEAction] = []
        for old in removed {
            guard let successor = inFlight?.deferredOutbound.removeValue(forKey: old.reference),
                  let index = childSAs.firstIndex(where: { $0.reference == successor }) else { continue }
            childSAs[index].outboundDeferred = false
            activations.append(.activateOutbound(childSAs[index]))
        }
        var response: [IKEPayload] = []
        if !removed.isEmpty {
            response.append(.delete(DeletePayload(protocolID: .esp, spis32: removed.map(\.inbound.spi))))
        }
        // A rekeyed CHILD_SA's inbound SA stays a while (IKESA+RekeyedChildSAs.swift).
        return respond(exchange: .informational, messageID: messageID, payloads: response)
            + activations + removed.flatMap { retire($0, now: now) }
    }
}
