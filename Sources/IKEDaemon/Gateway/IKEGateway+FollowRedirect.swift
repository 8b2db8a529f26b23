// Following a gateway's redirect as the client (RFC 5685; the IKE core's part, checking the
// nonce and answering, is IKEv2/Exchanges/RedirectFollowing.swift). With
// `vipsec { follow_redirects = yes }` (the default, as strongSwan's charon.follow_redirects)
// our IKE_SA_INIT announces REDIRECT_SUPPORTED; when the gateway sends us elsewhere:
//
// - the connection is initiated again to the new gateway, from the same local address,
//   with N(REDIRECTED_FROM, the old gateway's address) in its IKE_SA_INIT; an established
//   IKE_SA that was redirected is deleted (D(IKE)), its CHILD_SAs with it; the new IKE_SA
//   makes them again (the first by IKE_AUTH, the others with start_action = start after);
// - a connection follows at most `RedirectHistory.defaultMaximum` redirects within
//   `defaultWindow` seconds (5 in 300 s, as strongSwan): one more is refused with a log
//   line and `redirect_loops`, and an established IKE_SA then stays where it is;
// - the new gateway must be an IP address of the family of our local address: a host name
//   is not resolved (the daemon resolves nothing; `redirects_refused`).
import IKEv2

extension IKEGateway {
    /// Sets up `sa`'s connection again with `gateway` and deletes `sa` if it is still here.
    mutating func followRedirect(of sa: IKESA, to gateway: RedirectNotification.Gateway, now: Double) -> [GatewayAction] {
        let name = sa.configuration.name
        func refuse(_ why: String) -> [GatewayAction] {
            counters.redirectsRefused += 1
            return [.log("IKE_SA \(name) with \(sa.remote): redirect to \(gateway) not followed: \(why)")]
        }
        guard let address = gateway.address else { return refuse("host names are not resolved (give an IP address)") }
        guard address.count == sa.local.address.count else { return refuse("our address \(sa.local.host) is of the other family") }
        guard let index = resolver.config.connections.firstIndex(where: { $0.name == name }) else {
            return refuse("the connection is no longer configured")
        }
        guard redirectHistory[name, default: RedirectHistory()].admit(now: now) else {
            counters.redirectLoops += 1
            return [.log("IKE_SA \(name) with \(sa.remote): redirect to \(gateway) refused: "
                         + "\(RedirectHistory.defaultMaximum) redirects within \(Int(RedirectHistory.defaultWindow)) s (a loop?)")]
        }
        counters.redirectsFollowed += 1
        var result: [GatewayAction] = [.log("IKE_SA \(name) redirected from \(sa.remote.host) to \(gateway)")]
        if var old = sas[sa.localSPI], old.phase == .established {
            let deletion = old.delete(now: now)
            result += store(old, deletion, now: now)
        }
        let port = UInt16(settings.ikePort)
        return result + initiate(index: index, local: IKEEndpoint(address: sa.local.address, port: port),
                                 remote: IKEEndpoint(address: address, port: port),
                                 redirectedFrom: RedirectNotification.Gateway(address: sa.remote.address), now: now)
    }
}
