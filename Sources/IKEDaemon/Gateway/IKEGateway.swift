// The gateway's IKE_SA table: dispatch of datagrams to IKE_SAs by SPI, creation of
// responder IKE_SAs for new IKE_SA_INIT requests (with the half-open limit and COOKIEs,
// RFC 7296 2.6), initiation of configured connections. No I/O: it returns what to do.
import IKEv2
import NIOCore

/// What the shell must do for the gateway.
enum GatewayAction {
    /// Send `bytes` (an IKE message) to `remote` from `local`.
    case send([UInt8], local: IKEEndpoint, remote: IKEEndpoint)
    /// Call `timerFired(sa:timer:now:)` at the timer's deadline.
    case schedule(sa: UInt64, RetransmissionTimer)
    /// Start installing the CHILD_SA; report the outcome with `installCompleted(_:succeeded:now:)`
    /// (the IKE_SA holds back the response that makes it usable until then).
    case install(ChildSAInstallation, token: ChildSAInstallToken)
    /// Verify the peer of IKE_SA `ikeSA` off the event loop; report the outcome with
    /// `peerVerified(ikeSA:_:failure:now:)` (IKESA+PeerVerification.swift).
    case verifyPeer(PeerVerification, ikeSA: UInt64)
    case activateOutbound(ChildSAInstallation)
    case delete(ChildSAInstallation)
    /// Delete only the outbound SA of a rekeyed CHILD_SA; its inbound SA goes with a later
    /// `.delete` (the timer `removeRekeyedChildSA`, after `delete_rekeyed_delay`).
    case deleteOutbound(ChildSAInstallation)
    /// Call `commandTimerFired(_:now:)` at `deadline`.
    case scheduleCommand(GatewayTimer, deadline: Double)
    /// The peer of one of this gateway's IKE_SAs sent INITIAL_CONTACT: the other workers
    /// end their IKE_SAs of the same identities too (`initialContactReceived`).
    case initialContact(InitialContact)
    /// A line for the log (never key material).
    case log(String)
}

/// Names one install the shell started: the IKE_SA that asked for it and the CHILD_SA.
struct ChildSAInstallToken: Hashable, Sendable {
    var ikeSA: UInt64
    var child: ChildSAReference
}

/// Timers of the gateway's own policy (rekey by time, dead peer detection).
enum GatewayTimer {
    /// Rekey the CHILD_SA with this inbound SPI (its soft lifetime is reached).
    case rekeyChildSA(sa: UInt64, inboundSPI: UInt32)
    /// Check that the peer is alive (dpd_delay).
    case liveness(sa: UInt64)
    /// Forget this responder IKE_SA if it is still half-open (`half_open_timeout`).
    case halfOpenTimeout(sa: UInt64)
    /// Create one more CHILD_SA like the one with this inbound SPI (IKEGateway+Commands.swift).
    case createChildSA(sa: UInt64, likeInboundSPI: UInt32)
    /// Create a CHILD_SA of the connection's child `child` (start_action = start children
    /// after the one IKE_AUTH made; IKEGateway+Commands.swift).
    case createConfiguredChildSA(sa: UInt64, child: String)
    /// Rekey this IKE_SA (the connection's `rekey_time` minus jitter; IKEGateway+Rekey.swift).
    case rekeyIKESA(sa: UInt64)
    /// The IKE_SA was not rekeyed within `rekey_time + over_time`: delete it.
    case expireIKESA(sa: UInt64)
    /// Forget this IKE_SA if it still waits for the Delete that ends it after a rekey.
    case forgetRekeyedIKESA(sa: UInt64)
    /// Remove the kept inbound SA of this rekeyed CHILD_SA (`delete_rekeyed_delay` is over).
    case removeRekeyedChildSA(sa: UInt64, inboundSPI: UInt32)
}

/// Counters of the gateway (for status and tests).
struct GatewayCounters {
    var malformed = 0
    var unknownSPI = 0
    var halfOpenLimitDrops = 0
    /// IKE_SA_INIT requests dropped because their address held `half_open_per_peer` already.
    var halfOpenPerPeerDrops = 0
    var cookiesSent = 0
    var badCookies = 0
    /// IKE_SA_INIT requests dropped because no COOKIE could be computed (the PRF failed).
    var cookieFailures = 0
    var noConnection = 0
    var halfOpenTimeouts = 0
    /// IKE_SA rekeys completed (either side initiating), and rekeys that failed.
    var ikeRekeys = 0
    var ikeRekeysFailed = 0
    /// Old IKE_SAs forgotten because the peer never deleted them after a rekey.
    var rekeyedSAsForgotten = 0
    /// CHILD_SAs whose installation failed (deleted with the peer).
    var childSAInstallFailures = 0
    /// IKE_SA_INIT requests answered with N(REDIRECT) (IKEGateway+Redirect.swift).
    var redirectsSent = 0
    /// IKE_SAs ended because their peer sent INITIAL_CONTACT on a new IKE_SA (it restarted).
    var initialContactDeletes = 0
    /// As a client (IKEGateway+FollowRedirect.swift): redirects followed; redirects not
    /// followed because the gateway was a host name (not resolved: IP only), of the other
    /// address family, or the connection is gone; redirects refused as a loop (too many
    /// within `RedirectHistory.window`).
    var redirectsFollowed = 0
    var redirectsRefused = 0
    var redirectLoops = 0
}

struct IKEGateway {
    let settings: DaemonSettings
    var resolver: ConnectionResolver
    let provider: any IKECryptoProvider
    var retransmission: RetransmissionPolicy
    private(set) var sas: [UInt64: IKESA] = [:]
    /// Responder IKE_SAs by (peer, initiator SPI), for retransmitted IKE_SA_INIT requests,
    /// by our SPI and counted by peer address (HalfOpenTable.swift).
    var halfOpen = HalfOpenTable()
    /// Which IKE_SA holds each CHILD_SA, by SPI (ChildSAIndex.swift). These three tables
    /// change only in `store` (and the half-open timeout); elsewhere they are only read.
    var childIndex = ChildSAIndex()
    /// IKE_SAs by their identities, for INITIAL_CONTACT (IKESAIdentityIndex.swift).
    var identities = IKESAIdentityIndex()
    /// The established IKE_SAs behind a NAT, by when their next NAT keepalive is due
    /// (NATKeepaliveSchedule.swift; sent by `natKeepalivesDue`).
    var natKeepalives = NATKeepaliveSchedule()
    var counters = GatewayCounters()
    /// Counters of IKE_SAs already closed (GatewayStatus.swift adds the live ones).
    private(set) var closedSATotals = IKESATotals()
    /// IKE_SAs established since start.
    private(set) var establishedTotal = 0
    /// When SAs were set up and their timers fire, for `vipsec list-sas` (IKEGateway+Operator.swift).
    var times = SATimes()
    /// Where new peers are sent, if anywhere (RFC 5685; from `vipsec { redirect { } }`).
    var redirect: RedirectSettings?
    /// The IKE_SAs the daemon's other workers hold, as the shell last read them: the
    /// redirect rule's "above N" counts the whole daemon (IKEWorkerSet.ikeSAs(except:)).
    var ikeSAsOnOtherWorkers = 0
    /// Whether this gateway holds every IKE_SA of the daemon (one worker). Only then can it
    /// tell that none with a peer's identities exists, and send INITIAL_CONTACT.
    var soleWorker = true
    /// The redirects each connection followed lately, to stop loops (IKEGateway+FollowRedirect.swift).
    var redirectHistory: [String: RedirectHistory] = [:]
    private let cookieSecret: [UInt8]

    /// `reqids`: the daemon's, shared by all its workers' gateways.
    init(config: DaemonConfig, provider: any IKECryptoProvider, reqids: ReqidAllocator = ReqidAllocator()) throws {
        settings = config.settings
        redirect = config.settings.redirect
        resolver = ConnectionResolver(config: config, reqids: reqids)
        self.provider = provider
        retransmission = RetransmissionPolicy(timeout: config.settings.retransmitTimeout,
                                              base: config.settings.retransmitBase, tries: config.settings.retransmitTries)
        cookieSecret = try provider.randomBytes(count: 32)
    }

    /// IKE_SAs not yet established (responder side).
    var halfOpenCount: Int { halfOpen.count }

    // MARK: Input

    mutating func receive(_ bytes: [UInt8], local: IKEEndpoint, remote: IKEEndpoint, now: Double) -> [GatewayAction] {
        guard bytes.count >= IKEHeader.length else { counters.malformed += 1; return [] }
        var buffer = ByteBuffer(bytes: bytes.prefix(IKEHeader.length))
        guard let header = try? IKEHeader(parsing: &buffer) else { counters.malformed += 1; return [] }
        // Our SPI is the responder SPI in messages from the original initiator, else the initiator SPI.
        let ours = header.isFromInitiator ? header.responderSPI : header.initiatorSPI
        if ours != 0, var sa = sas[ours] {
            let actions = sa.receive(bytes, local: local, remote: remote, now: now)
            return store(sa, actions, now: now)
        }
        guard header.isFromInitiator, header.responderSPI == 0, header.exchangeType == .ikeSAInit,
              !header.isResponse, header.messageID == 0 else {
            counters.unknownSPI += 1
            return []
        }
        let key = HalfOpenTable.Key(remote: remote, initiatorSPI: header.initiatorSPI)
        if let spi = halfOpen.spi(for: key), var sa = sas[spi] {
            let actions = sa.receive(bytes, local: local, remote: remote, now: now)   // a retransmitted IKE_SA_INIT
            return store(sa, actions, now: now)
        }
        guard halfOpen.count < settings.halfOpenLimit else {
            counters.halfOpenLimitDrops += 1
            return []
        }
        guard halfOpen.peerCount(remote.address) < settings.halfOpenPerPeer else {
            counters.halfOpenPerPeerDrops += 1
            return []
        }
        guard let message = try? IKEMessage(datagram: ByteBuffer(bytes: bytes)) else { counters.malformed += 1; return [] }
        if halfOpen.count >= settings.cookieThreshold, let answer = checkCookie(message, remote: remote, local: local) {
            return answer
        }
        guard let (index, connection) = resolver.connection(local: local.address, remote: remote.address) else {
            counters.noConnection += 1
            return [.log("IKE_SA_INIT from \(remote): no connection matches")]
        }
        if let answer = redirectInit(message, local: local, remote: remote) { return answer }
        do {
            let configuration = try resolver.resolve(index: index, local: local.address, remote: remote.address)
            var sa = try IKESA.responder(configuration: configuration, provider: provider, local: local, remote: remote,
                                         initiatorSPI: header.initiatorSPI, retransmission: retransmission)
            halfOpen.insert(key, spi: sa.localSPI)
            let actions = sa.receive(parsed: message, local: local, remote: remote, now: now)
            return [.log("IKE_SA_INIT from \(remote) for connection \(connection.name)"),
                    .scheduleCommand(.halfOpenTimeout(sa: sa.localSPI), deadline: now + settings.halfOpenTimeout)]
                + store(sa, actions, now: now)
        } catch {
            return [.log("IKE_SA_INIT from \(remote): \(error)")]
        }
    }

    /// RFC 7296 2.6: under load, a request must echo a cookie we computed from its own
    /// contents; without one it gets N(COOKIE) and no state is kept. Nil = go ahead.
    mutating func checkCookie(_ message: IKEMessage, remote: IKEEndpoint, local: IKEEndpoint) -> [GatewayAction]? {
        guard case .nonce(let nonce)? = message.payloads.first(where: { $0.type == .nonce }) else { return [] }
        guard let expected = cookie(nonce: nonce.nonceData, remote: remote, spi: message.header.initiatorSPI) else {
            counters.cookieFailures += 1   // fail closed: no state, no answer
            return []
        }
        if let echoed = message.notify(.cookie) {
            if echoed.notificationData == expected { return nil }
            counters.badCookies += 1
            return []
        }
        counters.cookiesSent += 1
        var header = message.header
        header.flags = [.response]
        header.responderSPI = 0
        let reply = IKEMessage(header: header, payloads: [.notify(NotifyPayload(messageType: .cookie, notificationData: expected))])
        return [.send(Array(reply.bytes.readableBytesView), local: local, remote: remote)]
    }

    /// Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>), with HMAC-SHA-256 keyed
    /// by the secret. Nil when the PRF fails: the request is then dropped, never let through
    /// on a cookie everyone could guess.
    func cookie(nonce: [UInt8], remote: IKEEndpoint, spi: UInt64) -> [UInt8]? {
        let data = nonce + remote.address + (0..<8).map { UInt8(truncatingIfNeeded: spi >> (56 - 8 * $0)) }
        guard let prf = try? provider.makePseudorandomFunction(.hmacSHA2_256),
              let mac = try? prf.compute(key: cookieSecret, data: data) else { return nil }
        return [0] + mac.unprotectedCopy().prefix(16)
    }

    /// The shell's report on an install it started (`GatewayAction.install`): the IKE_SA sends
    /// the response it held back, or the Delete that waited. A failed install is then
    /// deleted with the peer (`childSAInstallFailed`). After an IKE_SA rekey the CHILD_SA
    /// lives in the new IKE_SA, which never waited for it: nothing to do there.
    mutating func installCompleted(_ token: ChildSAInstallToken, succeeded: Bool, now: Double) -> [GatewayAction] {
        guard var sa = sas[token.ikeSA] else { return [] }
        let actions = sa.installCompleted(token.child, succeeded: succeeded, now: now)
        return store(sa, actions, now: now)
    }

    /// The shell's report on a peer verification it ran (`GatewayAction.verifyPeer`): the
    /// IKE_SA finishes IKE_AUTH. An IKE_SA gone meanwhile (half-open timeout): nothing.
    mutating func peerVerified(ikeSA spi: UInt64, _ token: UInt32, failure: PeerAuthenticationFailure?, now: Double) -> [GatewayAction] {
        guard var sa = sas[spi] else { return [] }
        let actions = sa.peerVerified(token, failure: failure, now: now)
        return store(sa, actions, now: now)
    }

    mutating func timerFired(sa spi: UInt64, timer: RetransmissionTimer, now: Double) -> [GatewayAction] {
        guard var sa = sas[spi] else { return [] }
        let actions = sa.retransmissionTimerFired(timer, now: now)
        return store(sa, actions, now: now)
    }

    mutating func commandTimerFired(_ timer: GatewayTimer, now: Double) -> [GatewayAction] {
        switch timer {
        case .rekeyChildSA(let oldSPI, let inboundSPI):
            // After an IKE_SA rekey the CHILD_SA lives in the new IKE_SA: find it by its SPI.
            guard let spi = childIndex.holder(ofChild: inboundSPI), var sa = sas[spi],
                  spi == oldSPI || sa.phase == .established else { return [] }
            let actions = sa.rekeyChildSA(inboundSPI: inboundSPI, now: now)
            if actions.isEmpty {   // another exchange in flight (e.g. a sibling's rekey): try again shortly
                return [.scheduleCommand(.rekeyChildSA(sa: spi, inboundSPI: inboundSPI), deadline: now + 0.2)]
            }
            return [.log("rekeying CHILD_SA 0x\(String(inboundSPI, radix: 16))")] + store(sa, actions, now: now)
        case .liveness(let spi):
            guard var sa = sas[spi], sa.phase == .established, let delay = dpdDelay(sa) else { return [] }
            let actions = sa.checkLiveness(now: now)
            if !actions.isEmpty { times.livenessChecks += 1 }
            return store(sa, actions, now: now) + [.scheduleCommand(timer, deadline: now + delay)]
        case .halfOpenTimeout(let spi):
            // Replayed or abandoned IKE_SA_INITs must not hold half-open slots forever.
            guard let sa = sas[spi], sa.phase == .negotiatingInit || sa.phase == .authenticating else { return [] }
            counters.halfOpenTimeouts += 1
            halfOpen.remove(spi: spi)
            closedSATotals.add(sa.counters, sa.sequencerCounters)
            sas[spi] = nil
            natKeepalives.update(ikeSA: spi, wanted: false, now: now)
            childIndex.update(ikeSA: spi, from: sa, to: nil)
            identities.update(ikeSA: spi, to: nil)
            return [.log("IKE_SA_INIT from \(sa.remote): no IKE_AUTH within \(settings.halfOpenTimeout) s, forgotten")]
        case .createChildSA(let spi, let inboundSPI):
            return createAdditionalChildSA(timer, sa: spi, like: inboundSPI, now: now)
        case .createConfiguredChildSA(let spi, let child):
            return createConfiguredChildSA(timer, sa: spi, child: child, now: now)
        case .rekeyIKESA(let spi):
            return rekeyIKESATimerFired(sa: spi, now: now)
        case .expireIKESA(let spi):
            return expireIKESA(sa: spi, now: now)
        case .forgetRekeyedIKESA(let spi):
            return forgetRekeyedIKESA(sa: spi)
        case .removeRekeyedChildSA(let spi, let inboundSPI):
            return removeRekeyedChildSA(sa: spi, inboundSPI: inboundSPI, now: now)
        }
    }

    func dpdDelay(_ sa: IKESA) -> Double? {
        guard let connection = resolver.connection(named: sa.configuration.name),
              connection.dpdDelay > 0 else { return nil }
        return connection.dpdDelay
    }

    // MARK: Commands

    /// Initiates connection number `index` from `local` to `remote`.
    /// `redirectedFrom`: the gateway that sent us to `remote` (RFC 5685 REDIRECTED_FROM).
    mutating func initiate(index: Int, local: IKEEndpoint, remote: IKEEndpoint,
                           redirectedFrom: RedirectNotification.Gateway? = nil, now: Double) -> [GatewayAction] {
        do {
            let configuration = try resolver.resolve(index: index, local: local.address, remote: remote.address)
            // IKE_AUTH makes the first child to start; the others follow once established.
            let first = resolver.config.connections[index].children.first { $0.startAction == .start }
            var sa = try IKESA.initiator(configuration: configuration, provider: provider, local: local, remote: remote,
                                         child: first?.name, retransmission: retransmission)
            sa.sendsInitialContact = sendsInitialContact(configuration)
            sa.redirectedFrom = redirectedFrom
            let actions = sa.start(now: now)
            return [.log("initiating connection \(configuration.name) to \(remote)")] + store(sa, actions, now: now)
        } catch {
            return [.log("cannot initiate connection \(index): \(error)")]
        }
    }

    /// Deletes every IKE_SA (on shutdown): sends the Deletes, removes the CHILD_SAs.
    mutating func deleteAll(now: Double) -> [GatewayAction] {
        var actions: [GatewayAction] = []
        for (_, sa) in sas {
            var sa = sa
            let deletion = sa.delete(now: now)
            actions += store(sa, deletion, now: now)
        }
        return actions
    }

    // MARK: Bookkeeping

    /// Drops the IKE_SA with our SPI `spi` from the table alone (HA: a stale copy replaced or
    /// forgotten, IKEGateway+Adopt.swift); the caller updated the indexes.
    mutating func forgetStored(_ spi: UInt64) {
        sas[spi] = nil
        natKeepalives.update(ikeSA: spi, wanted: false, now: 0)
        for table in [\SATimes.established, \.ikeRekeyAt, \.ikeExpireAt] { times[keyPath: table][spi] = nil }
    }

    /// Keeps the SA's new state and turns its actions into gateway actions. Call it with the
    /// SA *after* the call that produced `actions` (never `store(sa, sa.f())`: the first
    /// argument would be the copy from before the mutation).
    mutating func store(_ sa: IKESA, _ actions: [IKEAction], now: Double) -> [GatewayAction] {
        var sa = sa
        let successors = sa.takeSuccessors()
        let spi = sa.localSPI
        var result: [GatewayAction] = []
        if sa.phase == .rekeyed, sas[spi]?.phase != .rekeyed {
            result.append(.scheduleCommand(.forgetRekeyedIKESA(sa: spi), deadline: now + rekeyedSALinger))
        }
        var closed = false
        var redirects: [RedirectNotification.Gateway] = []
        for action in actions {
            switch action {
            case .send(let bytes): result.append(.send(bytes, local: sa.local, remote: sa.remote))
            case .schedule(let timer): result.append(.schedule(sa: spi, timer))
            case .install(let child):
                result.append(.install(child, token: ChildSAInstallToken(ikeSA: spi, child: child.reference)))
                if child.lifetime.softSeconds > 0 {
                    // strongSwan-like jitter: up to 10 % earlier, so both ends rarely collide.
                    let soft = Double(child.lifetime.softSeconds)
                    let jitter = Double.random(in: 0...(soft * 0.1))
                    result.append(.scheduleCommand(.rekeyChildSA(sa: spi, inboundSPI: child.inbound.spi), deadline: now + soft - jitter))
                }
            case .verifyPeer(let verification): result.append(.verifyPeer(verification, ikeSA: spi))
            case .activateOutbound(let child): result.append(.activateOutbound(child))
            case .delete(let child):
                sa.configuration.reqids?.release(child.reqid, user: child.inbound.spi)
                result.append(.delete(child))
            case .deleteOutbound(let child, let until):
                result.append(.deleteOutbound(child))
                result.append(.scheduleCommand(.removeRekeyedChildSA(sa: spi, inboundSPI: child.inbound.spi), deadline: until))
            case .established:
                establishedTotal += 1
                if let delay = dpdDelay(sa) { result.append(.scheduleCommand(.liveness(sa: spi), deadline: now + delay)) }
                result += scheduleIKERekey(sa, now: now)
                result += startOtherChildren(sa, now: now)
                result.append(.log("IKE_SA \(sa.configuration.name) established with \(sa.remote) (SPIs \(hex16(sa.initiatorSPI))_i \(hex16(sa.responderSPI))_r)\(natNote(sa))"))
            case .initialContact:
                let contact = InitialContact(sa)
                result += initialContactReceived(contact, now: now)
                result.append(.initialContact(contact))
            case .childSAFailed(let reason): result.append(.log("IKE_SA \(sa.configuration.name): \(reason)"))
            case .rekeyed(let previous):
                result += ikeSARekeyed(sa, previous: previous, now: now)
            case .ikeSARekeyFailed(let reason, let retry):
                result += ikeSARekeyFailed(sa, reason: reason, retry: retry, now: now)
            case .childSARekeyDeferred(let inboundSPI):
                result.append(.scheduleCommand(.rekeyChildSA(sa: spi, inboundSPI: inboundSPI),
                                               deadline: now + Double.random(in: 1...2)))
            case .redirect(let gateway):
                redirects.append(gateway)
            case .closed(let reason):
                closed = true
                result.append(.log("IKE_SA \(sa.configuration.name) with \(sa.remote) closed: \(reason)"))
            }
        }
        if sa.phase != .negotiatingInit && sa.phase != .authenticating || closed {
            halfOpen.remove(spi: spi)
        }
        if closed { closedSATotals.add(sa.counters, sa.sequencerCounters) }
        let stored: IKESA? = closed ? nil : sa
        childIndex.update(ikeSA: spi, from: sas[spi], to: stored)
        identities.update(ikeSA: spi, to: stored)
        natKeepalives.update(ikeSA: spi, wanted: stored.map(Self.wantsNATKeepalives) ?? false, now: now)
        sas[spi] = stored
        // An IKE_SA rekey: the new SAs go in under their own SPIs in this same step, so that
        // no datagram or timer finds the CHILD_SAs between two tables.
        times.record(sa, actions, result, now: now)
        for successor in successors { result += store(successor.sa, successor.actions, now: now) }
        for gateway in redirects { result += followRedirect(of: sa, to: gateway, now: now) }
        return result
    }
}

/// ", NAT: ..." for the established log line when NAT detection found one.
func natNote(_ sa: IKESA) -> String {
    guard let nat = sa.natDetection, nat.natDetected else { return "" }
    let sides = [nat.localBehindNAT ? "we are behind a NAT" : nil, nat.remoteBehindNAT ? "peer behind a NAT" : nil]
    return ", NAT: " + sides.compactMap { $0 }.joined(separator: ", ") + ", UDP encapsulation from \(sa.local)"
}
