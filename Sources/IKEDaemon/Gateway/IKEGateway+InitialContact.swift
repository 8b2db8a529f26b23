// INITIAL_CONTACT (RFC 7296 2.4), the gateway's rules (the notify itself: IKEv2/Exchanges/IKEAuth.swift):
//
// - Sent: in our IKE_AUTH request when this gateway holds no other IKE_SA (established or
//   being set up) between the same identities, and the connection names the peer's identity
//   (with `remote.id` unset "the same identities" cannot be told before IKE_AUTH, so none is
//   sent). With several IKE workers a worker cannot see the others' IKE_SAs: none is sent.
// - Received (from an authenticated peer, on a newly established IKE_SA): every other IKE_SA
//   between the same identities (the peer's authenticated ID, our local ID) is ended at once,
//   without a Delete (the peer restarted and no longer knows it: strongSwan does the same),
//   and with it its CHILD_SAs, on every cluster target (the installer's deletes), its
//   rekeyed CHILD_SAs' kept inbound SAs too. On every worker.
import IKEv2

/// Who asserted INITIAL_CONTACT, for the IKE_SAs to end.
struct InitialContact: Sendable, Equatable {
    /// The new IKE_SA's local SPI (it stays).
    var ikeSA: UInt64
    var peerIdentity: IdentificationPayload
    var localIdentity: IdentificationPayload
}

extension InitialContact {
    /// The established IKE_SA `sa` got INITIAL_CONTACT (its peer identity is authenticated).
    init(_ sa: IKESA) {
        self.init(ikeSA: sa.localSPI, peerIdentity: sa.peerIdentity ?? IdentificationPayload(idType: .keyID, identificationData: []),
                  localIdentity: sa.configuration.localIdentity)
    }

    /// Whether `sa` is another IKE_SA between the same identities.
    func supersedes(_ sa: IKESA) -> Bool {
        sa.localSPI != ikeSA && sa.phase != .closed && sa.configuration.localIdentity == localIdentity
            && sa.peerIdentity == peerIdentity
    }
}

extension IKEGateway {
    /// Whether our IKE_AUTH for a new IKE_SA of `configuration` asserts INITIAL_CONTACT.
    mutating func sendsInitialContact(_ configuration: IKESAConfiguration) -> Bool {
        guard soleWorker, let remote = configuration.remoteIdentity else { return false }
        let key = IKESAIdentityIndex.Identities(local: configuration.localIdentity, peer: remote)
        return !identities.ikeSAs(key).contains { sas[$0].map { $0.phase != .closed } ?? false }
    }

    /// Ends this gateway's IKE_SAs that `contact` supersedes (no Delete: the peer lost them).
    mutating func initialContactReceived(_ contact: InitialContact, now: Double) -> [GatewayAction] {
        var result: [GatewayAction] = []
        let key = IKESAIdentityIndex.Identities(local: contact.localIdentity, peer: contact.peerIdentity)
        for spi in identities.ikeSAs(key) {
            guard var sa = sas[spi], contact.supersedes(sa) else { continue }
            counters.initialContactDeletes += 1
            let actions = sa.forget("peer \(contact.peerIdentity) restarted (INITIAL_CONTACT on IKE_SA \(hex16(contact.ikeSA)))")
            result += store(sa, actions, now: now)
        }
        return result
    }
}
