// Verification of a peer's certificate AUTH as an action and an event, like installs
// (IKESA+Install.swift). Validating a certificate chain (swift-certificates' path building
// and policies) is asynchronous; the IKE core is synchronous and its shell must never wait
// on an event loop. So when `remote { auth = pubkey }`, IKE_AUTH stops after the checks
// that need no certificate: the IKE_SA emits `IKEAction.verifyPeer` with what to verify
// (AUTH, the signed octets, the identity, the CERT payloads) and keeps the message it is
// processing in `.authenticating` (`InitExchange.verifying`). The shell runs
// `PeerVerification.run()` off the event loop and reports with
// `peerVerified(_:failure:now:)`; the IKE_SA then finishes IKE_AUTH exactly as it would
// have at once. Other IKE_SAs on the same worker are served meanwhile.
//
// While the verification is pending:
// - responder: a retransmission of the IKE_AUTH request is absorbed (no second
//   verification, RFC 7296 2.1: the peer gets the response once there is one), counted in
//   `retransmitsAbsorbedWhileVerifying`; the gateway's half-open timeout bounds the wait.
// - initiator: the response was accepted (the window is free, no retransmission); a
//   duplicate of it is dropped as for any answered request.
// Reports are idempotent: a report for another message, a repeated one, or one after the
// IKE_SA closed does nothing. PSK authentication stays synchronous (no action).

/// What the shell verifies for an IKE_SA (`IKEAction.verifyPeer`), and with what.
public struct PeerVerification: Sendable, Equatable {
    /// Names the verification within its IKE_SA: the message ID of the IKE_AUTH message.
    public var token: UInt32
    public var authentication: AuthenticationPayload
    public var signedOctets: [UInt8]
    public var identity: IdentificationPayload
    /// The identity configured for the peer (nil: any).
    public var expectedIdentity: IdentificationPayload?
    public var certificates: [CertificatePayload]
    /// The configuration's authenticator (not compared: one IKE_SA has one).
    public var authenticator: any PublicKeyAuthenticator

    /// Runs the verification (chain, revocation, identity, signature); nil when it holds.
    public func run() async -> PeerAuthenticationFailure? {
        await authenticator.verify(authentication, signedOctets: signedOctets, identity: identity,
                                   expectedIdentity: expectedIdentity, certificates: certificates)
    }

    public static func == (a: PeerVerification, b: PeerVerification) -> Bool {
        a.token == b.token && a.authentication == b.authentication && a.signedOctets == b.signedOctets
            && a.identity == b.identity && a.expectedIdentity == b.expectedIdentity && a.certificates == b.certificates
    }
}

extension IKESA {
    /// The IKE_AUTH message whose peer verification is pending, kept in `.authenticating`.
    struct PendingVerification {
        var token: UInt32
        /// The message's inner payloads.
        var payloads: [IKEPayload]
        /// Responder: the request's digest, for the response cache.
        var requestDigest: [UInt8]
    }

    /// Whether a peer verification is pending (the shell ran `verifyPeer` and has not reported).
    public var verifiesPeer: Bool {
        if case .authenticating(let exchange, _) = state { return exchange.verifying != nil }
        return false
    }

    /// The shell's report on `IKEAction.verifyPeer`: `failure` nil when the peer is verified.
    /// Returns what IKE_AUTH does then (the response, the CHILD_SA's install, `.established`,
    /// or the refusal). Unknown or repeated reports: nothing.
    public mutating func peerVerified(_ token: UInt32, failure: PeerAuthenticationFailure?, now: Double) -> [IKEAction] {
        guard case .authenticating(var exchange, let negotiated) = state, let pending = exchange.verifying, pending.token == token else {
            return []
        }
        exchange.verifying = nil
        state = .authenticating(exchange, negotiated)
        if isOriginalInitiator {
            return completeAuthResponse(pending.payloads, verification: failure, now: now)
        }
        respondingToDigest = pending.requestDigest
        defer { respondingToDigest = [] }
        let actions = completeAuthRequest(pending.payloads, messageID: token, verification: failure)
        return holdResponseForInstalls(actions, messageID: token)
    }

    /// Starts the asynchronous verification of a certificate AUTH; nil when the peer
    /// authenticates otherwise (checked at once by `verifyPeer`).
    mutating func startPeerVerification(_ auth: AuthenticationPayload, payloads: [IKEPayload], keys: IKESAKeyContext,
                                        peerInitMessage: [UInt8], ownNonce: [UInt8], skP: SecretBytes,
                                        identity: IdentificationPayload, token: UInt32) -> [IKEAction]? {
        guard configuration.remoteAuthentication == .publicKey, auth.method.isSignature,
              let authenticator = configuration.publicKeyAuthenticator,
              let octets = try? PSKAuthentication.signedOctets(prf: keys.prf, message: peerInitMessage, peerNonce: ownNonce,
                                                               skP: skP, identificationPayloadBody: identity.bodyBytes),
              case .authenticating(var exchange, let current) = state else { return nil }
        let certificates = payloads.compactMap { payload -> CertificatePayload? in
            if case .certificate(let certificate) = payload { return certificate }
            return nil
        }
        exchange.verifying = PendingVerification(token: token, payloads: payloads, requestDigest: respondingToDigest)
        state = .authenticating(exchange, current)
        return [.verifyPeer(PeerVerification(token: token, authentication: auth, signedOctets: octets, identity: identity,
                                             expectedIdentity: configuration.remoteIdentity, certificates: certificates,
                                             authenticator: authenticator))]
    }
}
