// Redirect of an established IKE_SA (RFC 5685 section 5): the gateway tells a peer that
// announced REDIRECT_SUPPORTED in its IKE_SA_INIT to set up again with another gateway.
//
//     Initiator (the peer)                  Responder (this gateway)
//                                      <--  HDR, SK {N(REDIRECT, New_GW_ID)}
//     HDR, SK {}                       -->
//
// The peer then makes a new IKE_SA with the other gateway and deletes this one. (IKE_SA_INIT
// redirects are stateless and answered by the gateway: IKEGateway+Redirect.swift.)

extension IKESA {
    /// Sends N(REDIRECT) without a nonce in an INFORMATIONAL request; nothing when the peer
    /// did not announce support (RFC 5685 5: "MUST NOT be sent" then) or another exchange
    /// holds the window. Its answer, as a liveness check's, carries nothing.
    public mutating func redirect(to gateway: RedirectNotification.Gateway, now: Double) -> [IKEAction] {
        guard phase == .established, peerSupportsRedirect, canSendRequest else { return [] }
        let notify = NotifyPayload(messageType: .redirect, notificationData: RedirectNotification(gateway: gateway).data)
        return sendRequest(exchange: .informational, kind: .liveness, payloads: [.notify(notify)], now: now)
    }
}
