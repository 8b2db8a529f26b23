// Installs as actions and events. A negotiated CHILD_SA leaves the IKE_SA as
// `IKEAction.install`; the shell installs it (the local kernel, or the cluster's targets)
// without waiting for it, and reports the outcome with `installCompleted(_:succeeded:now:)`.
// The CHILD_SA is identified by its `ChildSAReference` (reqid and both SPIs), which is
// unique within the IKE_SA: that is the install's token.
//
// Until the outcome arrives:
// - responder (IKE_AUTH, CREATE_CHILD_SA new or rekey): the response that makes the CHILD_SA
//   usable is held back. It is in the response cache already (the request was processed
//   once), but a retransmission of the request is absorbed instead of answered (RFC 7296
//   2.1: no second install, and the peer gets the response once it means something); once
//   sent, retransmissions are answered from the cache as usual.
// - initiator of a CHILD_SA rekey: the Delete of the old (or redundant) CHILD_SA waits, and
//   so do our other requests (`canSendRequest`), so that the Delete is the next one.
// - any held response also holds our own requests (DPD, a rekey, an operator's command):
//   the peer has not yet got what makes the IKE_SA or CHILD_SA usable.
// Both waits live in the established IKE_SA's `InFlight` (IKESA+State.swift): a Delete of
// the IKE_SA or its closing drops them with it, and no other phase can hold one.
// Reports are idempotent through `heldResponse` and `deleteAfterInstall` themselves.
// When the install failed, the response still goes out (the peer needs it to go on) and
// the shell deletes the CHILD_SA with the peer, as after a hard expire.
extension IKESA {
    /// A response held back until the CHILD_SAs it makes usable are installed.
    struct HeldResponse {
        var messageID: UInt32
        var datagrams: IKEDatagrams
        var waitingFor: Set<ChildSAReference>
    }

    /// Whether a response is held back for an install (a retransmitted request is absorbed).
    public var holdsResponse: Bool { inFlight?.heldResponse != nil }

    /// The shell installed (or failed to install) the CHILD_SA `child`. Returns what to do
    /// now: the held response, the Delete that waited. Unknown or repeated reports, and
    /// reports for an IKE_SA no longer established: nothing.
    public mutating func installCompleted(_ child: ChildSAReference, succeeded: Bool, now: Double) -> [IKEAction] {
        guard var inFlight else { return [] }
        var actions: [IKEAction] = []
        if var held = inFlight.heldResponse, held.waitingFor.remove(child) != nil {
            if held.waitingFor.isEmpty {
                inFlight.heldResponse = nil
                actions += held.datagrams.map(IKEAction.send)
            } else {
                inFlight.heldResponse = held
            }
        }
        let redundant = inFlight.deleteAfterInstall.removeValue(forKey: child)
        self.inFlight = inFlight
        if let redundant, succeeded {
            // Failed: the shell deletes the new CHILD_SA with the peer; the old one stays in use.
            actions += deleteChildSARequest(redundant, now: now)
        }
        return actions
    }

    /// After a request was processed: the response to it (the one the task manager cached)
    /// is held back until the installs it started complete. Only an established IKE_SA
    /// installs CHILD_SAs (IKE_AUTH establishes it before it answers).
    mutating func holdResponseForInstalls(_ actions: [IKEAction], messageID: UInt32) -> [IKEAction] {
        let installs = Set(actions.compactMap { action -> ChildSAReference? in
            if case .install(let child) = action { return child.reference }
            return nil
        })
        guard !installs.isEmpty, inFlight != nil else { return actions }
        guard let response = taskManager.lastResponse, response.messageID == messageID else { return actions }
        inFlight?.heldResponse = HeldResponse(messageID: messageID, datagrams: response.datagrams, waitingFor: installs)
        var unsent = response.datagrams
        return actions.filter { action in
            guard case .send(let bytes) = action, let index = unsent.firstIndex(of: bytes) else { return true }
            unsent.remove(at: index)
            return false
        }
    }
}
