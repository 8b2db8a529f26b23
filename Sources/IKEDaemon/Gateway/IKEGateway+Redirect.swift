// Redirecting new peers to another gateway in IKE_SA_INIT (RFC 5685 section 3):
//
//     Initiator                               Responder (this gateway)
//     HDR(SPIi, 0), SAi1, KEi, Ni,
//       N(REDIRECT_SUPPORTED)          -->
//                                      <--  HDR(SPIi, 0), N(REDIRECT, New_GW_ID, Ni)
//
// Stateless, like a COOKIE: nothing is kept, the Ni echoed ties the answer to the request.
// Only peers that announced REDIRECT_SUPPORTED are redirected (the others are served), and
// a peer that says it was redirected here already (N(REDIRECTED_FROM)) is served too, so
// two gateways draining into each other cannot bounce a peer between them. "Above N IKE_SAs"
// counts every worker's IKE_SAs (`ikeSAsOnOtherWorkers`, set by the shell), not this one's.
import IKEv2
import NIOCore

extension IKEGateway {
    /// The REDIRECT answer to an IKE_SA_INIT request when the rule (`vipsec { redirect { } }`,
    /// or `vipsec redirect`) applies; nil = go ahead and serve it.
    mutating func redirectInit(_ message: IKEMessage, local: IKEEndpoint, remote: IKEEndpoint) -> [GatewayAction]? {
        guard let rule = redirect, sas.count + ikeSAsOnOtherWorkers >= rule.aboveIKESAs,
              message.notify(.redirectSupported) != nil, message.notify(.redirectedFrom) == nil,
              case .nonce(let nonce)? = message.payloads.first(where: { $0.type == .nonce }) else { return nil }
        counters.redirectsSent += 1
        var header = message.header
        header.flags = [.response]
        header.responderSPI = 0
        let notify = NotifyPayload(messageType: .redirect,
                                   notificationData: RedirectNotification(gateway: rule.gateway, nonce: nonce.nonceData).data)
        let reply = IKEMessage(header: header, payloads: [.notify(notify)])
        return [.log("IKE_SA_INIT from \(remote) redirected to \(rule.gateway)"),
                .send(Array(reply.bytes.readableBytesView), local: local, remote: remote)]
    }
}

extension IKEGateway {
    /// Sends every established IKE_SA whose peer announced REDIRECT_SUPPORTED to `gateway`
    /// (an INFORMATIONAL N(REDIRECT), Exchanges/Redirect.swift); the peers set up again
    /// there and delete their IKE_SA here. Returns how many were asked, and the actions.
    mutating func redirectEstablished(to gateway: RedirectNotification.Gateway, now: Double) -> (count: Int, actions: [GatewayAction]) {
        var count = 0
        var actions: [GatewayAction] = []
        for spi in sas.keys.sorted() {
            guard var sa = sas[spi], sa.phase == .established, sa.peerSupportsRedirect else { continue }
            let sent = sa.redirect(to: gateway, now: now)
            guard !sent.isEmpty else { continue }
            count += 1
            counters.redirectsSent += 1
            actions += [.log("IKE_SA \(sa.configuration.name) #\(hex16(spi)) redirected to \(gateway)")] + store(sa, sent, now: now)
        }
        return (count, actions)
    }
}
