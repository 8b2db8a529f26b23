// What one IKE_SA needs to know, already resolved from the config file by the daemon:
// parsed proposals, identities as ID payloads, the PSK, concrete traffic selectors.

/// One end of the IKE conversation: address (4 or 16 octets) and UDP port.
public struct IKEEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// UDP port of IKE (RFC 7296 2).
    public static let ikePort: UInt16 = 500
    /// UDP port of IKE and ESP once a NAT is detected (RFC 3948, RFC 7296 2.23).
    public static let natTraversalPort: UInt16 = 4500
    public var address: [UInt8]
    public var port: UInt16
    public init(address: [UInt8], port: UInt16) {
        self.address = address
        self.port = port
    }
    /// The address alone: dotted quad, or the eight groups of IPv6.
    public var host: String {
        address.count == 4 ? address.map(String.init).joined(separator: ".")
            : stride(from: 0, to: address.count, by: 2).map { String(UInt16(address[$0]) << 8 | UInt16(address[$0 + 1]), radix: 16) }.joined(separator: ":")
    }
    public var description: String { address.count == 4 ? "\(host):\(port)" : "[\(host)]:\(port)" }
}

/// The configured child (CHILD_SA template) of a connection.
public struct ChildSAConfiguration: Sendable {
    public var name: String
    /// The reqid its CHILD_SAs get (the kernel links SAs and policies by it) when the IKE_SA
    /// has no `IKESAConfiguration.reqids` (tests, the load generator); set by
    /// `IKESAConfiguration` when not given.
    public var reqid: UInt32 = 0
    /// ESP proposals (SPI left empty; filled per negotiation).
    public var espProposals: [Proposal]
    public var localTrafficSelectors: [TrafficSelector]
    public var remoteTrafficSelectors: [TrafficSelector]
    public var mode: ChildSAMode
    public var lifetime: ChildSALifetime
    public var replayWindow: UInt32

    public init(name: String, espProposals: [Proposal], localTrafficSelectors: [TrafficSelector],
                remoteTrafficSelectors: [TrafficSelector], mode: ChildSAMode = .tunnel,
                lifetime: ChildSALifetime = ChildSALifetime(), replayWindow: UInt32 = 32) {
        self.name = name
        self.espProposals = espProposals
        self.localTrafficSelectors = localTrafficSelectors
        self.remoteTrafficSelectors = remoteTrafficSelectors
        self.mode = mode
        self.lifetime = lifetime
        self.replayWindow = replayWindow
    }
}

/// The configuration of one IKE_SA.
public struct IKESAConfiguration: Sendable {
    /// The connection's name (for logs and status).
    public var name: String
    /// IKE proposals (SPI left empty).
    public var ikeProposals: [Proposal]
    /// Our identity, as sent in IDi/IDr.
    public var localIdentity: IdentificationPayload
    /// The identity the peer must present; nil accepts any.
    public var remoteIdentity: IdentificationPayload?
    /// The pre-shared key (empty when neither side uses one).
    public var presharedKey: SecretBytes
    /// How we authenticate (`local { auth }`) and how the peer must (`remote { auth }`).
    public var localAuthentication: IKEAuthenticationKind = .psk
    public var remoteAuthentication: IKEAuthenticationKind = .psk
    /// Signatures and certificates, required when either side uses `publicKey`.
    public var publicKeyAuthenticator: (any PublicKeyAuthenticator)?
    /// Send CERTREQ when the peer must present a certificate (strongSwan's `send_certreq`).
    public var sendCertificateRequest = true
    /// Send our certificates always, not only when the peer sent a CERTREQ (`send_cert = always`).
    public var sendCertificateAlways = false

    /// Whether either side authenticates with signatures (SIGNATURE_HASH_ALGORITHMS is then announced).
    public var usesPublicKeys: Bool { localAuthentication == .publicKey || remoteAuthentication == .publicKey }
    /// The connection's children (CHILD_SA templates), in configuration order, never empty.
    /// An initiator creates the first (or the one it is told) with IKE_AUTH; a responder
    /// picks, for each request, the first whose selectors the request's can be narrowed to.
    public private(set) var children: [ChildSAConfiguration]
    /// CHILD_SAs this IKE_SA may hold; a CREATE_CHILD_SA request for a new one beyond is
    /// answered NO_ADDITIONAL_SAS (rekeys always pass: they replace one).
    public var maximumChildSAs = 1000
    /// IKE fragmentation (RFC 7383): offered, and used for our large messages.
    public var fragmentation = FragmentationPolicy.default
    /// Seconds the inbound SA of a CHILD_SA replaced by a rekey stays installed after the
    /// CHILD_SA was deleted with the peer (strongSwan's `delete_rekeyed_delay`): packets the
    /// peer still sends on it are decrypted, not dropped. 0: both SAs go at once.
    public var deleteRekeyedDelay: Double = 0
    /// RFC 5685 as a client: announce N(REDIRECT_SUPPORTED) in our IKE_SA_INIT and report the
    /// gateway's N(REDIRECT) to the shell (`IKEAction.redirect`; RedirectFollowing.swift).
    /// strongSwan's `charon.follow_redirects`; off here, the daemon's default is on.
    public var followRedirects = false
    /// Where each CHILD_SA's reqid comes from: one per pair of negotiated selector lists,
    /// shared by every IKE_SA of the daemon (ReqidAllocator.swift). nil: each child's
    /// configured `reqid`.
    public var reqids: ReqidAllocator?

    /// The first child, and its reqid.
    public var child: ChildSAConfiguration { children[0] }
    public var reqid: UInt32 { children[0].reqid }

    /// One child with `reqid`.
    public init(name: String, ikeProposals: [Proposal], localIdentity: IdentificationPayload,
                remoteIdentity: IdentificationPayload?, presharedKey: SecretBytes,
                child: ChildSAConfiguration, reqid: UInt32) {
        var child = child
        child.reqid = reqid
        self.init(name: name, ikeProposals: ikeProposals, localIdentity: localIdentity, remoteIdentity: remoteIdentity,
                  presharedKey: presharedKey, children: [child])
    }

    /// Several children, each with its own reqid (`children` must not be empty).
    public init(name: String, ikeProposals: [Proposal], localIdentity: IdentificationPayload,
                remoteIdentity: IdentificationPayload?, presharedKey: SecretBytes,
                children: [ChildSAConfiguration]) {
        precondition(!children.isEmpty, "a connection needs a child")
        self.name = name
        self.ikeProposals = ikeProposals
        self.localIdentity = localIdentity
        self.remoteIdentity = remoteIdentity
        self.presharedKey = presharedKey
        self.children = children
    }

    /// The child named `name`.
    public func child(named name: String) -> ChildSAConfiguration? {
        children.first { $0.name == name }
    }

    /// The responder's choice for a request's TSi/TSr (RFC 7296 2.9): the first child whose
    /// configured selectors the proposed ones narrow to, with the narrowed selectors.
    /// Throws TS_UNACCEPTABLE when none fits.
    func child(forInitiator initiator: [TrafficSelector], responder: [TrafficSelector]) throws
        -> (child: ChildSAConfiguration, initiator: [TrafficSelector], responder: [TrafficSelector]) {
        var firstError: Error?
        for child in children {
            do {
                let narrowed = try TrafficSelectorNarrowing.narrow(
                    initiator: initiator, responder: responder,
                    configuredRemote: child.remoteTrafficSelectors, configuredLocal: child.localTrafficSelectors)
                return (child, narrowed.initiator, narrowed.responder)
            } catch {
                firstError = firstError ?? error
            }
        }
        throw firstError ?? NegotiationError.tsUnacceptable("TSi")
    }
}

/// What the IKE_SA asks its shell to do. The shell performs them in order.
public enum IKEAction: Sendable, Equatable {
    /// Send this datagram to the peer.
    case send([UInt8])
    /// Schedule a retransmission timer (see `TaskManager`).
    case schedule(RetransmissionTimer)
    /// Install a negotiated CHILD_SA (through the `ChildSAInstaller`).
    case install(ChildSAInstallation)
    /// Install the deferred outbound SA of a CHILD_SA (see `outboundDeferred`).
    case activateOutbound(ChildSAInstallation)
    /// Delete an installed CHILD_SA (both SAs; one already gone is no error).
    case delete(ChildSAInstallation)
    /// Delete the outbound SA of a CHILD_SA replaced by a rekey; its inbound SA stays until
    /// `inboundUntil`, when the shell calls `removeRekeyedChildSA(inboundSPI:)`
    /// (IKESA+RekeyedChildSAs.swift).
    case deleteOutbound(ChildSAInstallation, inboundUntil: Double)
    /// The CHILD_SA could not be made (the IKE_SA may still be up). The reason is for the log.
    case childSAFailed(String)
    /// Verify the peer's certificate AUTH off the event loop (`PeerVerification.run()`) and
    /// report with `IKESA.peerVerified(_:failure:now:)` (IKESA+PeerVerification.swift).
    case verifyPeer(PeerVerification)
    /// The IKE_SA is established (both AUTHs verified).
    case established
    /// The peer sent N(INITIAL_CONTACT) in IKE_AUTH (RFC 7296 2.4): this is its only IKE_SA
    /// with us, so any other between the same identities (`peerIdentity` and our local one)
    /// is a leftover of a peer that restarted; the shell ends those at once (IKEAuth.swift).
    case initialContact
    /// This IKE_SA replaces the one with local SPI `previousLocalSPI` (an IKE_SA rekey) and
    /// holds its CHILD_SAs now. Emitted by the new SA (see `IKESA.takeSuccessors()`).
    case rekeyed(previousLocalSPI: UInt64)
    /// An IKE_SA rekey failed or was refused; `retry`: the peer asked to try again later
    /// (TEMPORARY_FAILURE) or the answer was unusable. The reason is for the log.
    case ikeSARekeyFailed(String, retry: Bool)
    /// Our rekey of the CHILD_SA with this inbound SPI was refused with TEMPORARY_FAILURE
    /// (e.g. the peer is rekeying the IKE_SA): try again later.
    case childSARekeyDeferred(inboundSPI: UInt32)
    /// The gateway sent us elsewhere (RFC 5685; RedirectFollowing.swift): set up again with
    /// `gateway`. In IKE_SA_INIT this IKE_SA closes too; an established one stays until the
    /// shell deletes it (it may refuse to follow, e.g. on a redirect loop).
    case redirect(to: RedirectNotification.Gateway)
    /// The IKE_SA is gone; the shell forgets it. The reason is for the log.
    case closed(String)
}

/// Counters of one IKE_SA's dropped input.
public struct IKESACounters: Sendable, Equatable {
    /// Datagrams that did not parse.
    public var malformed = 0
    /// Protected messages whose ICV did not verify (or that failed to decrypt).
    public var integrityFailures = 0
    /// Messages that parsed but did not fit the exchange or the state.
    public var unexpected = 0
    /// Requests we refused with an error notify (NO_PROPOSAL_CHOSEN, AUTHENTICATION_FAILED,
    /// TS_UNACCEPTABLE, INVALID_KE_PAYLOAD, ...), by notify type.
    public var refusals: [NotifyMessageType: Int] = [:]
    /// Times the IKE_SA followed the peer to a new address/port (behind a NAT).
    public var endpointUpdates = 0
    /// Retransmitted requests whose response was held back while its CHILD_SA was being
    /// installed: dropped (the response goes out once the install completes).
    public var retransmitsAbsorbedWhileInstalling = 0
    /// Retransmitted IKE_AUTH requests that arrived while the peer's certificate AUTH was
    /// being verified: dropped (answered once the verification is done).
    public var retransmitsAbsorbedWhileVerifying = 0
    /// IKE_SA rekeys completed from this SA (either side initiating), and simultaneous
    /// rekeys (2.8.2) in which our new SA survived or was the redundant one.
    public var ikeRekeys = 0
    public var ikeRekeyCollisionsWon = 0
    public var ikeRekeyCollisionsLost = 0
    /// RFC 7383: authentic SKF fragments received, messages put back together from them,
    /// fragments dropped by a bound (by reason), and messages we sent as fragments.
    public var fragmentsReceived = 0
    public var fragmentedMessagesReassembled = 0
    public var fragmentsDropped: [FragmentDropReason: Int] = [:]
    public var fragmentedMessagesSent = 0
    /// Peer authentications refused (each also counted as an AUTHENTICATION_FAILED refusal
    /// when we were the responder), by reason.
    public var authenticationFailures: [PeerAuthenticationFailure: Int] = [:]
    /// N(REDIRECT)s not followed by the IKE core: a nonce that is not our Ni, data that does
    /// not parse, a redirect we did not announce support for (RFC 5685; RedirectFollowing.swift).
    public var redirectsIgnored = 0
    public init() {}
}
