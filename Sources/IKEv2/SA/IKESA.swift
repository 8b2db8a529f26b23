// One IKE_SA (RFC 7296): its state, its task manager, and the dispatch of received
// messages to the exchanges (Sources/IKEv2/Exchanges, one file each, with strongSwan's
// build_i / process_r / build_r / process_i split). Pure: input is datagrams, timer
// firings and commands, output is `IKEAction`s for the shell.
import NIOCore

/// The exchange a request of ours belongs to, kept with it in the task manager.
public enum IKEExchangeKind: Sendable, Equatable {
    case ikeSAInit
    case ikeAuth
    case deleteIKESA
    case deleteChildSA
    case rekeyChildSA
    case rekeyIKESA
    case liveness
}

/// One IKE_SA, as original initiator or responder.
public struct IKESA {
    /// Where the IKE_SA stands.
    public enum Phase: Sendable, Equatable {
        /// Initiator: IKE_SA_INIT request sent. Responder: not yet answered.
        case negotiatingInit
        /// Initiator: IKE_AUTH request sent. Responder: IKE_SA_INIT answered (half-open).
        case authenticating
        /// Both AUTHs verified.
        case established
        /// Replaced by a rekey (IKESARekey.swift): no CHILD_SAs left, its Delete in flight
        /// or awaited; answers nothing but that Delete.
        case rekeyed
        /// Deleted or failed; the shell forgets the SA.
        case closed
    }

    public let configuration: IKESAConfiguration
    public let provider: any IKECryptoProvider
    public let isOriginalInitiator: Bool
    /// Our end; its port moves to 4500 when NAT detection finds a NAT (RFC 7296 2.23).
    public internal(set) var local: IKEEndpoint
    /// The peer's end; follows the address/port authenticated messages come from, if NATed.
    public internal(set) var remote: IKEEndpoint
    /// The fragments of the peer's request and of the response to ours being gathered
    /// (IKESA+Fragmentation.swift).
    var requestFragments = FragmentReassembly()
    var responseFragments = FragmentReassembly()
    /// The endpoints of the datagram being processed (set by `receive(_:local:remote:now:)`).
    var receivedEndpoints: (local: IKEEndpoint, remote: IKEEndpoint)?
    public internal(set) var initiatorSPI: UInt64
    public internal(set) var responderSPI: UInt64
    /// Where the IKE_SA stands, with what exists only there (IKESA+State.swift).
    var state: State
    public var phase: Phase { state.phase }
    public internal(set) var counters = IKESACounters()
    /// The CHILD_SAs installed by this IKE_SA.
    public internal(set) var childSAs: [ChildSAInstallation] = []
    /// CHILD_SAs replaced by a rekey whose inbound SA is kept a while (IKESA+RekeyedChildSAs.swift).
    public internal(set) var rekeyedChildSAs: [RekeyedChildSA] = []
    var taskManager: TaskManager<IKEExchangeKind>

    /// New IKE_SAs made by rekeying, until the shell takes them (`takeSuccessors()`). Not in a
    /// phase: an outbox the shell empties after every input, filled as this IKE_SA becomes
    /// rekeyed and possibly closed in the same step (IKESARekey.swift).
    var successors: [IKESASuccessor] = []
    /// The digest of the request being answered (for the response cache).
    var respondingToDigest: [UInt8] = []
    /// How many rekeys led from the first IKE_SA to this one.
    public internal(set) var rekeyGeneration = 0

    init(configuration: IKESAConfiguration, provider: any IKECryptoProvider, isOriginalInitiator: Bool,
         local: IKEEndpoint, remote: IKEEndpoint, initiatorSPI: UInt64, responderSPI: UInt64,
         retransmission: RetransmissionPolicy) {
        self.configuration = configuration
        self.provider = provider
        self.isOriginalInitiator = isOriginalInitiator
        self.local = local
        self.remote = remote
        self.initiatorSPI = initiatorSPI
        self.responderSPI = responderSPI
        self.taskManager = TaskManager(policy: retransmission)
        self.state = .negotiatingInit(InitExchange(authChild: configuration.child))
    }

    /// A new IKE_SA we initiate; call `start(now:)` to send IKE_SA_INIT. IKE_AUTH creates
    /// the child named `child` (default: the configuration's first).
    public static func initiator(configuration: IKESAConfiguration, provider: any IKECryptoProvider,
                                 local: IKEEndpoint, remote: IKEEndpoint, child: String? = nil,
                                 retransmission: RetransmissionPolicy = .strongSwanDefault) throws -> IKESA {
        var sa = IKESA(configuration: configuration, provider: provider, isOriginalInitiator: true, local: local, remote: remote,
                       initiatorSPI: try randomSPI(provider), responderSPI: 0, retransmission: retransmission)
        if let child {
            guard let named = configuration.child(named: child) else { throw NegotiationError.noProposalChosen }
            sa.state = .negotiatingInit(InitExchange(authChild: named))
        }
        return sa
    }

    /// A new IKE_SA for a peer's first IKE_SA_INIT request (whose initiator SPI it takes).
    public static func responder(configuration: IKESAConfiguration, provider: any IKECryptoProvider,
                                 local: IKEEndpoint, remote: IKEEndpoint, initiatorSPI: UInt64,
                                 retransmission: RetransmissionPolicy = .strongSwanDefault) throws -> IKESA {
        IKESA(configuration: configuration, provider: provider, isOriginalInitiator: false, local: local, remote: remote,
              initiatorSPI: initiatorSPI, responderSPI: try randomSPI(provider), retransmission: retransmission)
    }

    static func randomSPI(_ provider: any IKECryptoProvider) throws -> UInt64 {
        var spi: UInt64 = 0
        while spi == 0 {
            spi = try provider.randomBytes(count: 8).reduce(0) { $0 << 8 | UInt64($1) }
        }
        return spi
    }

    /// Our SPI: the one the peer addresses us by.
    public var localSPI: UInt64 { isOriginalInitiator ? initiatorSPI : responderSPI }

    /// The task manager's counters (retransmissions, cached responses, drops).
    public var sequencerCounters: TaskManagerCounters { taskManager.counters }

    // MARK: Input

    /// A datagram from the peer that arrived from `remote` on `local` (non-ESP marker
    /// removed). With a NAT detected, an authenticated message from a new address/port
    /// moves the IKE_SA there (RFC 7296 2.23: follow the port the peer uses).
    public mutating func receive(_ datagram: [UInt8], local: IKEEndpoint, remote: IKEEndpoint, now: Double) -> [IKEAction] {
        receivedEndpoints = (local, remote)
        defer { receivedEndpoints = nil }
        return receive(datagram, now: now)
    }

    /// Called once a received message proved authentic (SK payload opened). A port change
    /// alone (the peer floating to 4500, RFC 7296 2.23) is always followed, so that responses
    /// go back where requests came from (2.11); a new address only behind a NAT.
    mutating func followPeerEndpoint() {
        guard let (newLocal, newRemote) = receivedEndpoints else { return }
        let sameAddresses = newLocal.address == local.address && newRemote.address == remote.address
        guard natDetection?.natDetected == true || sameAddresses else { return }
        if newRemote != remote {
            counters.endpointUpdates += 1
            remote = newRemote
        }
        local = newLocal
    }

    /// A datagram from the peer (IKE message, non-ESP marker already removed).
    public mutating func receive(_ datagram: [UInt8], now: Double) -> [IKEAction] {
        guard phase != .closed else { return [] }
        let message: IKEMessage
        do {
            message = try IKEMessage(datagram: ByteBuffer(bytes: datagram))
        } catch {
            counters.malformed += 1
            return []
        }
        return receive(parsed: message, now: now)
    }

    /// `receive(_:local:remote:now:)` for a datagram the caller parsed already (the gateway
    /// parses every IKE_SA_INIT before it makes an IKE_SA: not parsed a second time).
    public mutating func receive(parsed message: IKEMessage, local: IKEEndpoint, remote: IKEEndpoint, now: Double) -> [IKEAction] {
        guard phase != .closed else { return [] }
        receivedEndpoints = (local, remote)
        defer { receivedEndpoints = nil }
        return receive(parsed: message, now: now)
    }

    private mutating func receive(parsed message: IKEMessage, now: Double) -> [IKEAction] {
        guard message.header.initiatorSPI == initiatorSPI,
              message.header.isFromInitiator != isOriginalInitiator else {
            counters.unexpected += 1
            return []
        }
        if let fragment = message.encryptedFragmentPayload {
            return receiveFragment(message, fragment, now: now)
        }
        if message.header.isResponse {
            return receiveResponse(message, now: now)
        }
        return receiveRequest(message, now: now)
    }

    /// `opened`: the inner payloads when they were reassembled from fragments already.
    mutating func receiveResponse(_ message: IKEMessage, opened: [IKEPayload]? = nil, now: Double) -> [IKEAction] {
        guard message.header.messageID == taskManager.outstandingMessageID else {
            _ = taskManager.responseReceived(messageID: message.header.messageID)
            return []
        }
        // Check the response before it frees the window: a forged one must not.
        guard let kind = taskManager.outstandingContext else { return [] }
        var inner: [IKEPayload] = message.payloads
        if kind != .ikeSAInit {
            guard let authenticated = authenticatedInner(message, opened: opened) else { return [] }
            inner = authenticated
        }
        switch kind {
        case .ikeSAInit:
            return processInitResponse(message, now: now)
        case .ikeAuth:
            _ = taskManager.responseReceived(messageID: message.header.messageID)
            return processAuthResponse(inner, messageID: message.header.messageID, now: now)
        case .deleteIKESA:
            _ = taskManager.responseReceived(messageID: message.header.messageID)
            return close(phase == .rekeyed ? "rekeyed, deleted" : "deleted")
        case .rekeyIKESA:
            _ = taskManager.responseReceived(messageID: message.header.messageID)
            return processIKERekeyResponse(inner, now: now)
        case .rekeyChildSA:
            _ = taskManager.responseReceived(messageID: message.header.messageID)
            return processCreateChildSAResponse(inner, now: now)
        case .deleteChildSA:
            _ = taskManager.responseReceived(messageID: message.header.messageID)
            return childSADeletionAnswered(now: now)
        case .liveness:
            _ = taskManager.responseReceived(messageID: message.header.messageID)
            return []
        }
    }

    mutating func receiveRequest(_ message: IKEMessage, opened: [IKEPayload]? = nil, now: Double) -> [IKEAction] {
        let id = message.header.messageID
        let digest = requestDigest(message)
        switch taskManager.requestReceived(messageID: id, requestDigest: digest) {
        case .drop:
            return []
        case .resendCachedResponse(let bytes):
            if inFlight?.heldResponse?.messageID == id {   // answered, but not yet usable: absorbed
                taskManager.cachedResponseWithheld()
                counters.retransmitsAbsorbedWhileInstalling += 1
                return []
            }
            return bytes.map(IKEAction.send)
        case .process:
            // The peer may not send the next request before it has our response (window 1).
            if inFlight?.heldResponse != nil {
                counters.unexpected += 1
                return []
            }
            // Not answered yet: its AUTH is being verified (IKESA+PeerVerification.swift).
            if verifiesPeer {
                counters.retransmitsAbsorbedWhileVerifying += 1
                return []
            }
        }
        return holdResponseForInstalls(processRequest(message, opened: opened, messageID: id, digest: digest, now: now), messageID: id)
    }

    mutating func processRequest(_ message: IKEMessage, opened: [IKEPayload]? = nil, messageID id: UInt32, digest: [UInt8],
                                 now: Double) -> [IKEAction] {
        respondingToDigest = digest
        defer { respondingToDigest = [] }
        switch message.header.exchangeType {
        case .ikeSAInit where !isOriginalInitiator && phase == .negotiatingInit:
            return processInitRequest(message)
        case .ikeSAInit:
            counters.unexpected += 1
            return []
        default:
            break
        }
        guard let inner = authenticatedInner(message, opened: opened) else { return [] }
        switch message.header.exchangeType {
        case .ikeAuth where !isOriginalInitiator && phase == .authenticating:
            return processAuthRequest(inner, messageID: id)
        case .informational where phase == .established || phase == .authenticating || phase == .rekeyed:
            return processInformationalRequest(inner, messageID: id, now: now)
        case .createChildSA where phase == .rekeyed:
            // 2.25.2: a request on an IKE_SA being closed after its rekey.
            counters.refusals[.temporaryFailure, default: 0] += 1
            return respond(exchange: .createChildSA, messageID: id,
                           payloads: [.notify(NotifyPayload(messageType: .temporaryFailure))])
        case .createChildSA where phase == .established:
            if inner.securityAssociation?.proposals.first?.protocolID == .ike {
                return processIKERekeyRequest(inner, messageID: id)
            }
            return processCreateChildSARequest(inner, messageID: id)
        default:
            counters.unexpected += 1
            return []
        }
    }

    /// The inner payloads of a protected message: `opened` when they were reassembled from
    /// fragments (each fragment authenticated already), else decrypted here. Nil (counted)
    /// when the responder SPI, the keys or the ICV do not fit; on success the IKE_SA follows
    /// the peer's endpoint.
    mutating func authenticatedInner(_ message: IKEMessage, opened: [IKEPayload]?) -> [IKEPayload]? {
        guard message.header.responderSPI == responderSPI, let keys = keyContext else {
            counters.unexpected += 1
            return nil
        }
        let inner: [IKEPayload]
        if let opened {
            inner = opened
        } else {
            do { inner = try keys.open(message) } catch {
                counters.integrityFailures += 1
                return nil
            }
        }
        followPeerEndpoint()
        return inner
    }

    /// A retransmission timer the shell scheduled has fired.
    public mutating func retransmissionTimerFired(_ timer: RetransmissionTimer, now: Double) -> [IKEAction] {
        switch taskManager.retransmissionTimerFired(messageID: timer.messageID, now: now) {
        case .none: return []
        case .retransmit(let datagrams, let next): return datagrams.map(IKEAction.send) + [.schedule(next)]
        case .giveUp: return close("peer did not answer (retransmissions exhausted)")
        }
    }

    /// What the response cache compares a retransmitted request by (RFC 7296 2.1: a
    /// retransmission is bitwise identical): SHA-1 of the datagram, or the datagram itself.
    func requestDigest(_ message: IKEMessage) -> [UInt8] {
        guard let received = message.receivedBytes else { return [] }
        let bytes = Array(received.readableBytesView)
        return (try? provider.sha1(bytes)) ?? bytes
    }

    // MARK: Helpers for the exchanges

    /// Header of a message we send.
    func header(exchange: ExchangeType, messageID: UInt32, response: Bool) -> IKEHeader {
        var flags: IKEHeaderFlags = []
        if isOriginalInitiator { flags.insert(.initiator) }
        if response { flags.insert(.response) }
        return IKEHeader(initiatorSPI: initiatorSPI, responderSPI: responderSPI, exchangeType: exchange,
                         flags: flags, messageID: messageID)
    }

    /// Seals and sends a request of `kind`, recording it with the task manager.
    mutating func sendRequest(exchange: ExchangeType, kind: IKEExchangeKind, payloads: [IKEPayload], now: Double) -> [IKEAction] {
        guard canSendRequest, let keys = keyContext else { return [] }
        let header = header(exchange: exchange, messageID: taskManager.nextRequestMessageID, response: false)
        guard let datagrams = seal(header: header, payloads: payloads, keys: keys),
              let timer = taskManager.requestSent(datagrams, context: kind, now: now) else { return [] }
        return datagrams.map(IKEAction.send) + [.schedule(timer)]
    }

    /// Seals and sends the response to the request `messageID`, caching it.
    mutating func respond(exchange: ExchangeType, messageID: UInt32, payloads: [IKEPayload]) -> [IKEAction] {
        guard let keys = keyContext,
              let datagrams = seal(header: header(exchange: exchange, messageID: messageID, response: true),
                                   payloads: payloads, keys: keys)
        else { return [] }
        taskManager.responseSent(datagrams, messageID: messageID, requestDigest: respondingToDigest)
        return datagrams.map(IKEAction.send)
    }

    /// A protected message as datagrams: one, or RFC 7383 fragments when it is too large
    /// for the path and both ends support them (see `fragmentLimit`).
    mutating func seal(header: IKEHeader, payloads: [IKEPayload], keys: IKESAKeyContext) -> IKEDatagrams? {
        guard let datagrams = try? keys.sealDatagrams(header: header, payloads: payloads, maximumMessageSize: fragmentLimit)
        else { return nil }
        if datagrams.count > 1 { counters.fragmentedMessagesSent += 1 }
        return datagrams
    }

    /// Whether a request of ours may go out now: the window is free (`TaskManager`), and no
    /// Delete waits for a CHILD_SA's install to complete (IKESA+Install.swift).
    var canSendRequest: Bool {
        guard taskManager.canSendRequest else { return false }
        guard let inFlight else { return true }
        return inFlight.deleteAfterInstall.isEmpty && inFlight.heldResponse == nil
    }

    /// Ends the IKE_SA without a Delete: its peer no longer knows it (it restarted and
    /// asserted INITIAL_CONTACT on a new IKE_SA). Its CHILD_SAs are deleted here.
    public mutating func forget(_ reason: String) -> [IKEAction] {
        close(reason)
    }

    /// Ends the IKE_SA: deletes its CHILD_SAs and tells the shell.
    mutating func close(_ reason: String) -> [IKEAction] {
        guard phase != .closed else { return [] }
        state = .closed   // IKE_SA_INIT's material (our key exchange's private value), the keys, what waits for an install go with it
        let actions = childSAs.map { IKEAction.delete($0) } + removeAllRekeyedChildSAs()
        childSAs = []
        requestFragments.reset()
        responseFragments.reset()
        return actions + [.closed(reason)]
    }
}
