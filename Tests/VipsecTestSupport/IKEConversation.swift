// Two of our IKE_SAs talking in memory (no sockets, no shell), messages delivered one at a
// time: the driver of the pure IKE conversation tests (IKEv2Tests) and of the daemon's tests
// that pit an in-memory peer against the gateway (IKEDaemonTests). Public API of IKEv2 only;
// the caller passes the crypto provider (OpenSSL's in the tests).
import IKEv2

/// Alice (192.0.2.1, 10.1/16 behind her) and Bob (198.51.100.2, 10.2/16), PSK, and the pair
/// of IKE_SAs between them.
public enum IKEConversation {
    public static let alice = IKEEndpoint(address: [192, 0, 2, 1], port: 500)
    public static let bob = IKEEndpoint(address: [198, 51, 100, 2], port: 500)

    public static func fqdn(_ name: String) -> IdentificationPayload {
        IdentificationPayload(idType: .fqdn, identificationData: Array(name.utf8))
    }

    public static func net(_ a: UInt8) -> TrafficSelector { .ipv4([10, a, 0, 0], [10, a, 255, 255]) }

    /// Configuration of `name` (alice: 10.1/16 behind her, bob: 10.2/16).
    public static func configuration(_ name: String, ike: String = "aes256gcm16-prfsha256-x25519",
                                     esp: String = "aes256gcm16", psk: String = "swordfish",
                                     mode: ChildSAMode = .tunnel, local: [TrafficSelector]? = nil,
                                     remote: [TrafficSelector]? = nil) throws -> IKESAConfiguration {
        let isAlice = name == "alice"
        let child = ChildSAConfiguration(
            name: "net", espProposals: try ProposalSyntax.parse(esp, protocolID: .esp),
            localTrafficSelectors: local ?? [net(isAlice ? 1 : 2)], remoteTrafficSelectors: remote ?? [net(isAlice ? 2 : 1)],
            mode: mode)
        return IKESAConfiguration(
            name: "gw", ikeProposals: try ProposalSyntax.parse(ike, protocolID: .ike),
            localIdentity: fqdn(name), remoteIdentity: fqdn(isAlice ? "bob" : "alice"),
            presharedKey: SecretBytes(Array(psk.utf8)), child: child, reqid: isAlice ? 1 : 2)
    }

    /// A pair of IKE_SAs and the wire between them.
    public struct Conversation {
        public var initiator: IKESA
        public var responder: IKESA?
        public let responderConfiguration: IKESAConfiguration
        public let provider: any IKECryptoProvider
        public var now: Double = 0
        /// Every action each side produced, in order.
        public var initiatorActions: [IKEAction] = []
        public var responderActions: [IKEAction] = []
        /// Datagrams on the wire, not yet delivered.
        public var toResponder: [[UInt8]] = []
        public var toInitiator: [[UInt8]] = []
        /// Whether each side's installs are reported done as soon as they start (the shell
        /// of a kernel that never fails); false: the test calls `installCompleted` itself.
        public var installsCompleteAtOnce = true

        public init(initiator: IKESAConfiguration, responder: IKESAConfiguration, provider: any IKECryptoProvider) throws {
            self.initiator = try IKESA.initiator(configuration: initiator, provider: provider,
                                                 local: IKEConversation.alice, remote: IKEConversation.bob)
            self.responderConfiguration = responder
            self.provider = provider
        }

        public mutating func record(_ actions: [IKEAction], fromInitiator: Bool) {
            for action in actions {
                if case .send(let bytes) = action {
                    if fromInitiator { toResponder.append(bytes) } else { toInitiator.append(bytes) }
                }
            }
            if fromInitiator { initiatorActions += actions } else { responderActions += actions }
        }

        public mutating func start() { record(initiator.start(now: now), fromInitiator: true) }

        /// --> one datagram to the responder (creating it on the first IKE_SA_INIT).
        public mutating func deliverToResponder() throws {
            let bytes = toResponder.removeFirst()
            if responder == nil {
                let spi = bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                responder = try IKESA.responder(configuration: responderConfiguration, provider: provider,
                                                local: IKEConversation.bob, remote: IKEConversation.alice,
                                                initiatorSPI: spi)
            }
            record(installsCompleteAtOnce ? responder!.receiveInstalling(bytes, now: now) : responder!.receive(bytes, now: now),
                   fromInitiator: false)
        }

        /// <-- one datagram to the initiator.
        public mutating func deliverToInitiator() {
            let bytes = toInitiator.removeFirst()
            record(installsCompleteAtOnce ? initiator.receiveInstalling(bytes, now: now) : initiator.receive(bytes, now: now),
                   fromInitiator: true)
        }

        /// IKE_SA_INIT and IKE_AUTH to the end, then forgets their actions (the test looks at
        /// what comes after); the caller checks that both sides are established.
        public mutating func establish() throws {
            start()
            try run()
            initiatorActions = []
            responderActions = []
        }

        /// Starts a rekey of the first CHILD_SA from the responder's side or the initiator's.
        public mutating func rekeyFirstChildSA(byResponder: Bool, now: Double) {
            if byResponder {
                record(responder!.rekeyChildSA(inboundSPI: responder!.childSAs[0].inbound.spi, now: now), fromInitiator: false)
            } else {
                record(initiator.rekeyChildSA(inboundSPI: initiator.childSAs[0].inbound.spi, now: now), fromInitiator: true)
            }
        }

        /// Delivers everything until the wire is quiet.
        public mutating func run() throws {
            while !toResponder.isEmpty || !toInitiator.isEmpty {
                if !toResponder.isEmpty { try deliverToResponder() }
                if !toInitiator.isEmpty { deliverToInitiator() }
            }
        }
    }

    public static func installs(_ actions: [IKEAction]) -> [ChildSAInstallation] {
        actions.compactMap { if case .install(let c) = $0 { return c }; return nil }
    }

    /// Alice rekeyed the CHILD_SA `old`; Bob installed his side and answered; Alice's install
    /// of the new one (`mine`) is pending, so her Delete of `old` waits for it.
    public static func ourRekeyWaitingForItsInstall(provider: any IKECryptoProvider) throws
        -> (c: Conversation, old: ChildSAInstallation, mine: ChildSAInstallation) {
        var c = try Conversation(initiator: configuration("alice"), responder: configuration("bob"), provider: provider)
        c.start()
        try c.run()
        c.installsCompleteAtOnce = false
        let old = c.initiator.childSAs[0]
        c.initiatorActions = []
        c.record(c.initiator.rekeyChildSA(inboundSPI: old.inbound.spi, now: 10), fromInitiator: true)
        try c.deliverToResponder()
        guard let theirs = installs(c.responderActions).last else { throw NotEstablished() }
        c.record(c.responder!.installCompleted(theirs.reference, succeeded: true, now: 11), fromInitiator: false)
        c.deliverToInitiator()
        guard let mine = installs(c.initiatorActions).first else { throw NotEstablished() }
        return (c, old, mine)
    }

    /// The message ID of a datagram (header octets 20-23).
    public static func messageID(_ bytes: [UInt8]) -> UInt32 { bytes[20..<24].reduce(0) { $0 << 8 | UInt32($1) } }

    /// Thrown by a set-up that did not get both sides established.
    public struct NotEstablished: Error {
        public init() {}
    }
}

/// One endpoint holding several IKE_SAs by local SPI, the way the gateway does: datagrams
/// are dispatched by SPI and the SAs a rekey makes are filed in the same step.
public struct RekeyEndpoint {
    public var sas: [UInt64: IKESA] = [:]
    public var actions: [IKEAction] = []
    public var outbox: [[UInt8]] = []
    public var unknownSPI = 0

    public init(_ sa: IKESA) { sas[sa.localSPI] = sa }

    public mutating func file(_ sa: IKESA, _ actions: [IKEAction]) {
        var sa = sa
        let successors = sa.takeSuccessors()
        self.actions += actions
        outbox += actions.compactMap { if case .send(let bytes) = $0 { return bytes }; return nil }
        sas[sa.localSPI] = sa.phase == .closed ? nil : sa
        for successor in successors { file(successor.sa, successor.actions) }
    }

    public mutating func receive(_ bytes: [UInt8], now: Double) {
        let initiatorSPI = bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let responderSPI = bytes.dropFirst(8).prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let fromInitiator = bytes.count > 19 && bytes[19] & 0x08 != 0
        guard var sa = sas[fromInitiator ? responderSPI : initiatorSPI] else { unknownSPI += 1; return }
        let produced = sa.receiveInstalling(bytes, now: now)
        file(sa, produced)
    }

    /// Runs `body` on the IKE_SA `spi` and files the result.
    public mutating func on(_ spi: UInt64, _ body: (inout IKESA) -> [IKEAction]) {
        guard var sa = sas[spi] else { return }
        let produced = body(&sa)
        file(sa, produced)
    }

    /// The only established IKE_SA (nil if there are none or several).
    public var live: IKESA? {
        let established = sas.values.filter { $0.phase == .established }
        return established.count == 1 ? established[0] : nil
    }

    public func count(_ match: (IKEAction) -> Bool) -> Int { actions.filter(match).count }
}

/// Alice and Bob with their IKE_SAs and the wire.
public struct RekeyWire {
    public var alice: RekeyEndpoint
    public var bob: RekeyEndpoint
    public var now: Double = 100

    public init(alice: RekeyEndpoint, bob: RekeyEndpoint, now: Double = 100) {
        self.alice = alice
        self.bob = bob
        self.now = now
    }

    /// --> one datagram from Alice to Bob.
    public mutating func toBob() { let bytes = alice.outbox.removeFirst(); bob.receive(bytes, now: now) }
    /// <-- one datagram from Bob to Alice.
    public mutating func toAlice() { let bytes = bob.outbox.removeFirst(); alice.receive(bytes, now: now) }

    public mutating func run() {
        var steps = 0
        while !alice.outbox.isEmpty || !bob.outbox.isEmpty, steps < 100 {
            if !alice.outbox.isEmpty { toBob() }
            if !bob.outbox.isEmpty { toAlice() }
            steps += 1
        }
    }
}

public func isCHILDInstallOrDelete(_ action: IKEAction) -> Bool {
    switch action {
    case .install, .delete, .activateOutbound: return true
    default: return false
    }
}

// The part of the shell the in-memory conversations need: every install an input started
// is reported done at once (a kernel that never fails), so the held response goes out.
// The tests of the pending install itself (PendingInstallTests) call `receive` and
// `installCompleted` by hand.
extension IKESA {
    public mutating func receiveInstalling(_ datagram: [UInt8], now: Double) -> [IKEAction] {
        completingInstalls(receive(datagram, now: now), now: now)
    }

    public mutating func receiveInstalling(_ datagram: [UInt8], local: IKEEndpoint, remote: IKEEndpoint, now: Double) -> [IKEAction] {
        completingInstalls(receive(datagram, local: local, remote: remote, now: now), now: now)
    }

    public mutating func completingInstalls(_ actions: [IKEAction], now: Double) -> [IKEAction] {
        var all = actions
        for case .install(let child) in actions { all += installCompleted(child.reference, succeeded: true, now: now) }
        return all
    }
}
