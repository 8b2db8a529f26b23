// What exists in which phase of an IKE_SA. As in swift-nio-ssh's state machines, the cases
// of `IKESA.State` carry the data that exists only in them, so that it cannot be read
// where it does not exist and is gone when its phase ends. The IKE_SA's keys (SK_d, the
// SK protections), derived at the end of IKE_SA_INIT, live in `.authenticating`,
// `.established` and `.rekeyed` (which still answers and sends the Delete): there are none
// before IKE_SA_INIT completed, and a closed IKE_SA holds none. IKE_SA_INIT's key exchange,
// nonces and messages, which IKE_AUTH signs (RFC 7296 2.15) and the first CHILD_SA's keys
// come from (2.17), live in `.negotiatingInit` and `.authenticating` only; once IKE_AUTH
// established the IKE_SA (or it closed), they are dropped with the case. Likewise the
// exchanges an established IKE_SA has in flight (CHILD_SA and IKE_SA rekeys, a Delete, the
// outbound SAs waiting for one) live in `.established` only: a rekeyed or closed IKE_SA has
// none, and none is reachable before IKE_AUTH.
//
//     negotiatingInit(InitExchange) --IKE_SA_INIT--> authenticating(InitExchange, keys)
//         --IKE_AUTH--> established(keys, InFlight) --IKE_SA rekey--> rekeyed(keys) --Delete--> closed
//     (any phase --failure, Delete, INITIAL_CONTACT--> closed)
//
// The public `IKESA.Phase` is the same without the data, for the shell and the tests.

extension IKESA {
    /// Where the IKE_SA stands, with the data of that phase.
    enum State {
        /// Initiator: IKE_SA_INIT request sent. Responder: not yet answered.
        case negotiatingInit(InitExchange)
        /// Initiator: IKE_AUTH request sent. Responder: IKE_SA_INIT answered (half-open).
        case authenticating(InitExchange, IKESAKeyContext)
        /// Both AUTHs verified; with the exchanges in flight.
        case established(IKESAKeyContext, InFlight)
        /// Replaced by a rekey (IKESARekey.swift); its keys protect the Delete.
        case rekeyed(IKESAKeyContext)
        /// Deleted or failed.
        case closed

        var phase: Phase {
            switch self {
            case .negotiatingInit: return .negotiatingInit
            case .authenticating: return .authenticating
            case .established: return .established
            case .rekeyed: return .rekeyed
            case .closed: return .closed
            }
        }
    }

    /// IKE_SA_INIT's material, kept until IKE_AUTH is done; and the first CHILD_SA as the
    /// initiator offers it in IKE_AUTH. (`package`: the fuzz harness, IKEFuzzSupport,
    /// computes the initiator's AUTH from it.)
    package struct InitExchange {
        /// Our key exchange, until SKEYSEED is derived (its private value is dropped then).
        var keyExchange: (any KeyExchange)?
        package var nonceInitiator: [UInt8] = []
        package var nonceResponder: [UInt8] = []
        /// Initiator: the COOKIE the responder asked us to repeat (RFC 7296 2.6).
        var cookie: [UInt8]?
        /// Both IKE_SA_INIT messages as sent: each side's AUTH signs its own (2.15).
        package var initiatorInitMessage: [UInt8] = []
        package var responderInitMessage: [UInt8] = []
        /// The peer's SIGNATURE_HASH_ALGORITHMS (RFC 7427 4; nil: it sent none), and whether
        /// it sent a CERTREQ (then we send our certificates).
        package var peerSignatureHashAlgorithms: [SignatureHashAlgorithm]?
        package var peerRequestedCertificates = false
        /// Initiator: the child to create with IKE_AUTH, and the SPI and proposals offered.
        var authChild: ChildSAConfiguration
        var offeredChildSPI: UInt32 = 0
        var offeredChildProposals: [Proposal] = []
        /// The IKE_AUTH message whose peer verification the shell runs (IKESA+PeerVerification.swift).
        var verifying: PendingVerification?

        init(authChild: ChildSAConfiguration) {
            self.authChild = authChild
        }

        /// The nonces as the first CHILD_SA's KEYMAT takes them (Ni, Nr).
        var nonces: (initiator: [UInt8], responder: [UInt8]) { (nonceInitiator, nonceResponder) }
    }

    /// What an established IKE_SA has under way besides its task manager's window: our
    /// CHILD_SA or IKE_SA exchange and the peer's that collided with it, and the successors
    /// of rekeyed CHILD_SAs that may not send yet.
    struct InFlight {
        /// Our CREATE_CHILD_SA (a rekey or a new CHILD_SA) in flight.
        var pendingChildRekey: PendingChildRekey?
        /// The old CHILD_SA whose Delete of ours is in flight.
        var pendingChildDeletion: ChildSAInstallation?
        /// Rekeyed CHILD_SA (old) -> its successor whose outbound SA waits for the old one's Delete.
        var deferredOutbound: [ChildSAReference: ChildSAReference] = [:]
        /// A peer rekey of the same CHILD_SA answered while ours was in flight (RFC 7296 2.8.1).
        var collidingPeerRekey: (old: ChildSAReference, created: ChildSAInstallation, nonces: [[UInt8]])?
        /// Our IKE_SA rekey in flight, and the peer's answered while ours was (2.8.2).
        var pendingIKERekey: PendingIKERekey?
        var peerIKERekey: RekeyedIKESAMaterial?

        /// Nothing under way that a rekey of the IKE_SA would have to carry over mid-flight.
        var isIdle: Bool {
            pendingChildRekey == nil && pendingChildDeletion == nil && deferredOutbound.isEmpty && collidingPeerRekey == nil
                && pendingIKERekey == nil && peerIKERekey == nil
        }
    }

    /// The exchanges in flight of an established IKE_SA; nil in any other phase, where a
    /// write is ignored (nothing can be in flight there).
    var inFlight: InFlight? {
        get {
            if case .established(_, let inFlight) = state { return inFlight }
            return nil
        }
        set {
            guard let newValue, case .established(let keys, _) = state else { return }
            state = .established(keys, newValue)
        }
    }

    /// The keys and SK protections, from the end of IKE_SA_INIT until the IKE_SA closes
    /// (`package`: the fuzz harness seals the initiator's IKE_AUTH with them, IKEFuzzSupport).
    package var keyContext: IKESAKeyContext? {
        switch state {
        case .authenticating(_, let keys), .established(let keys, _), .rekeyed(let keys): return keys
        case .negotiatingInit, .closed: return nil
        }
    }

    /// Replaced by a rekey: the exchanges in flight go, the keys stay for the Delete.
    mutating func becomeRekeyed() {
        guard let keys = keyContext else { return }
        state = .rekeyed(keys)
    }

    /// IKE_SA_INIT's material while IKE_SA_INIT or IKE_AUTH is under way; nil after.
    package var initExchange: InitExchange? {
        switch state {
        case .negotiatingInit(let exchange), .authenticating(let exchange, _): return exchange
        case .established, .rekeyed, .closed: return nil
        }
    }
}
