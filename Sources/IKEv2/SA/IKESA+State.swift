// What exists in which phase of an IKE_SA. As in swift-nio-ssh's state machines, the cases
// of `IKESA.State` carry the data that exists only in them, so that it cannot be read
// where it does not exist and is gone when its phase ends.
// - IKE_SA_INIT's key exchange, nonces and messages, which IKE_AUTH signs (RFC 7296 2.15)
//   and the first CHILD_SA's keys come from (2.17), and what the shell asks of IKE_SA_INIT
//   and IKE_AUTH (REDIRECTED_FROM, INITIAL_CONTACT): `InitExchange`, in `.negotiatingInit`
//   and `.authenticating` only; once IKE_AUTH established the IKE_SA (or it closed), they
//   are dropped with the case.
// - What IKE_SA_INIT settled, kept until the IKE_SA closes: the keys (SK_d, the SK
//   protections), the key exchange method, NAT detection's result, fragmentation and
//   redirect support (`Negotiated`), in `.authenticating`, `.established` and `.rekeyed`
//   (which still answers and sends the Delete). There is none before IKE_SA_INIT completed,
//   and a closed IKE_SA holds none. An IKE_SA made by a rekey inherits it, with its own keys.
// - The peer's authenticated identity, in `.established` and `.rekeyed`: none before
//   IKE_AUTH verified it; an IKE_SA made by a rekey inherits it.
// - The exchanges an established IKE_SA has in flight (CHILD_SA and IKE_SA rekeys, a Delete,
//   the outbound SAs waiting for one, a response held back for an install, a Delete waiting
//   for one): `InFlight`, in `.established` only: a rekeyed or closed IKE_SA has none, and
//   none is reachable before IKE_AUTH.
//
//     negotiatingInit(InitExchange) --IKE_SA_INIT--> authenticating(InitExchange, Negotiated)
//         --IKE_AUTH--> established(Negotiated, peer, InFlight) --IKE_SA rekey--> rekeyed(Negotiated, peer)
//         --Delete--> closed
//     (any phase --failure, Delete, INITIAL_CONTACT--> closed)
//
// The public `IKESA.Phase` is the same without the data, for the shell and the tests.

extension IKESA {
    /// Where the IKE_SA stands, with the data of that phase.
    enum State {
        /// Initiator: IKE_SA_INIT request sent. Responder: not yet answered.
        case negotiatingInit(InitExchange)
        /// Initiator: IKE_AUTH request sent. Responder: IKE_SA_INIT answered (half-open).
        case authenticating(InitExchange, Negotiated)
        /// Both AUTHs verified (the peer's identity is the one its AUTH proved); with the
        /// exchanges in flight.
        case established(Negotiated, IdentificationPayload, InFlight)
        /// Replaced by a rekey (IKESARekey.swift); its keys protect the Delete.
        case rekeyed(Negotiated, IdentificationPayload)
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
        /// Initiator: the gateway that sent us here (RFC 5685 REDIRECTED_FROM), and whether our
        /// IKE_SA_INIT announced that we follow redirects (RedirectFollowing.swift).
        var redirectedFrom: RedirectNotification.Gateway?
        var announcedRedirectSupport = false
        /// Initiator: IKE_AUTH asserts N(INITIAL_CONTACT) (IKEAuth.swift).
        var sendsInitialContact = false
        /// The IKE_AUTH message whose peer verification the shell runs (IKESA+PeerVerification.swift).
        var verifying: PendingVerification?

        init(authChild: ChildSAConfiguration) {
            self.authChild = authChild
        }

        /// The nonces as the first CHILD_SA's KEYMAT takes them (Ni, Nr).
        var nonces: (initiator: [UInt8], responder: [UInt8]) { (nonceInitiator, nonceResponder) }
    }

    /// What IKE_SA_INIT settled, from its end until the IKE_SA closes.
    struct Negotiated {
        var keys: IKESAKeyContext
        /// The key exchange method (nil in an IKE_SA restored from an HA record, which does
        /// not carry it; an IKE_SA made by a rekey has the rekey's).
        var keyExchangeMethod: KeyExchangeMethod?
        /// What NAT detection found (nil: the peer sent no NAT_DETECTION notifies).
        var natDetection: NATDetectionResult?
        /// Both ends announced IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383 2.3).
        var fragmentationNegotiated = false
        /// The peer announced REDIRECT_SUPPORTED (RFC 5685; Redirect.swift).
        var peerSupportsRedirect = false
        /// We announced REDIRECT_SUPPORTED or REDIRECTED_FROM, so we follow the gateway's
        /// N(REDIRECT) (RedirectFollowing.swift).
        var announcedRedirectSupport = false
    }

    /// What an established IKE_SA has under way besides its task manager's window: our
    /// CHILD_SA or IKE_SA exchange and the peer's that collided with it, the successors of
    /// rekeyed CHILD_SAs that may not send yet, and what waits for an install to complete
    /// (IKESA+Install.swift).
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
        /// The response held back until the CHILD_SAs it makes usable are installed.
        var heldResponse: HeldResponse?
        /// New CHILD_SA (ours, by a rekey) -> the CHILD_SA whose Delete waits for its install.
        var deleteAfterInstall: [ChildSAReference: ChildSAInstallation] = [:]

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
            if case .established(_, _, let inFlight) = state { return inFlight }
            return nil
        }
        set {
            guard let newValue, case .established(let negotiated, let peer, _) = state else { return }
            state = .established(negotiated, peer, newValue)
        }
    }

    /// What IKE_SA_INIT settled, from its end until the IKE_SA closes; nil before and after,
    /// where a write is ignored.
    var negotiated: Negotiated? {
        get {
            switch state {
            case .authenticating(_, let negotiated), .established(let negotiated, _, _), .rekeyed(let negotiated, _): return negotiated
            case .negotiatingInit, .closed: return nil
            }
        }
        set {
            guard let newValue else { return }
            switch state {
            case .authenticating(let exchange, _): state = .authenticating(exchange, newValue)
            case .established(_, let peer, let inFlight): state = .established(newValue, peer, inFlight)
            case .rekeyed(_, let peer): state = .rekeyed(newValue, peer)
            case .negotiatingInit, .closed: return
            }
        }
    }

    /// The keys and SK protections, from the end of IKE_SA_INIT until the IKE_SA closes
    /// (`package`: the fuzz harness seals the initiator's IKE_AUTH with them, IKEFuzzSupport).
    package var keyContext: IKESAKeyContext? { negotiated?.keys }

    /// Replaced by a rekey: the exchanges in flight go, the keys and the peer stay for the Delete.
    mutating func becomeRekeyed() {
        guard case .established(let negotiated, let peer, _) = state else { return }
        state = .rekeyed(negotiated, peer)
    }

    /// IKE_SA_INIT's material while IKE_SA_INIT or IKE_AUTH is under way; nil after.
    package var initExchange: InitExchange? {
        switch state {
        case .negotiatingInit(let exchange), .authenticating(let exchange, _): return exchange
        case .established, .rekeyed, .closed: return nil
        }
    }

    /// Changes what the shell asks of IKE_SA_INIT and IKE_AUTH; only until IKE_SA_INIT is done.
    mutating func updateInitRequest(_ update: (inout InitExchange) -> Void) {
        guard case .negotiatingInit(var exchange) = state else { return }
        update(&exchange)
        state = .negotiatingInit(exchange)
    }
}

// MARK: The public view of the phases' data

extension IKESA {
    /// The peer's identity as authenticated in IKE_AUTH (nil before, and once closed).
    public var peerIdentity: IdentificationPayload? {
        switch state {
        case .established(_, let peer, _), .rekeyed(_, let peer): return peer
        case .negotiatingInit, .authenticating, .closed: return nil
        }
    }

    // What IKE_SA_INIT settled (`Negotiated`); before IKE_SA_INIT completed and once closed,
    // nil or false, and a write (tests only) is ignored.
    /// What NAT detection found in IKE_SA_INIT (nil: not yet, or the peer sent no
    /// NAT_DETECTION notifies).
    public internal(set) var natDetection: NATDetectionResult? {
        get { negotiated?.natDetection }
        set { negotiated?.natDetection = newValue }
    }
    /// Both ends announced IKEV2_FRAGMENTATION_SUPPORTED in IKE_SA_INIT (RFC 7383 2.3).
    public internal(set) var fragmentationNegotiated: Bool {
        get { negotiated?.fragmentationNegotiated ?? false }
        set { negotiated?.fragmentationNegotiated = newValue }
    }
    /// The peer announced REDIRECT_SUPPORTED in its IKE_SA_INIT (RFC 5685; Redirect.swift).
    public internal(set) var peerSupportsRedirect: Bool {
        get { negotiated?.peerSupportsRedirect ?? false }
        set { negotiated?.peerSupportsRedirect = newValue }
    }
    /// We announced REDIRECT_SUPPORTED (or REDIRECTED_FROM) in our IKE_SA_INIT, so we follow
    /// the gateway's N(REDIRECT) (RedirectFollowing.swift).
    public internal(set) var announcedRedirectSupport: Bool {
        get { negotiated?.announcedRedirectSupport ?? initExchange?.announcedRedirectSupport ?? false }
        set { negotiated?.announcedRedirectSupport = newValue }
    }
    /// The key exchange method: offered (initiator, in IKE_SA_INIT), then negotiated.
    var keyExchangeMethod: KeyExchangeMethod? {
        negotiated?.keyExchangeMethod ?? initExchange?.keyExchange?.method
    }

    /// Initiator: the gateway that sent us here (RFC 5685 N(REDIRECTED_FROM)); set by the
    /// shell before `start(now:)`; nil once IKE_AUTH is done, a write after IKE_SA_INIT ignored.
    public var redirectedFrom: RedirectNotification.Gateway? {
        get { initExchange?.redirectedFrom }
        set { updateInitRequest { $0.redirectedFrom = newValue } }
    }

    /// Initiator: IKE_AUTH asserts N(INITIAL_CONTACT) (RFC 7296 2.4). The shell sets it before
    /// `start(now:)` when it holds no IKE_SA with the same identities (IKEAuth.swift); false
    /// once IKE_AUTH is done, and a write once IKE_SA_INIT is done is ignored.
    public var sendsInitialContact: Bool {
        get { initExchange?.sendsInitialContact ?? false }
        set { updateInitRequest { $0.sendsInitialContact = newValue } }
    }
}
