// One initiator of the load: an IKESA from the IKEv2 core, driven by datagrams and its one
// retransmission timer; nothing is installed in any kernel. Pure: the runner does the I/O.
import IKEv2

/// The state of one setup (IKE_SA_INIT + IKE_AUTH with its CHILD_SA).
struct LoadInitiator {
    enum Outcome: Equatable {
        case inProgress
        case completed
        case failed(String)
        case childFailed(String)
    }

    let index: Int
    private(set) var sa: IKESA
    let startedAt: Double
    private(set) var outcome: Outcome = .inProgress
    /// The pending retransmission timer (one request in flight at a time).
    private(set) var timer: RetransmissionTimer?
    private(set) var retransmissions = 0
    private var childInstalled = false
    private var established = false

    /// Makes the IKE_SA; `start` returns the first datagrams.
    init(index: Int, configuration: IKESAConfiguration, provider: any IKECryptoProvider,
         local: IKEEndpoint, remote: IKEEndpoint, retransmission: RetransmissionPolicy, now: Double) throws {
        self.index = index
        sa = try IKESA.initiator(configuration: configuration, provider: provider, local: local, remote: remote,
                                 retransmission: retransmission)
        startedAt = now
    }

    /// Sends IKE_SA_INIT. Returns the datagrams to send.
    mutating func start(now: Double) -> [[UInt8]] {
        apply(sa.start(now: now))
    }

    /// A datagram from the responder. Returns the datagrams to send.
    mutating func receive(_ datagram: [UInt8], now: Double) -> [[UInt8]] {
        guard outcome == .inProgress else { return [] }
        return apply(sa.receive(datagram, now: now))
    }

    /// Call when `timer` is due.
    mutating func timerDue(now: Double) -> [[UInt8]] {
        guard outcome == .inProgress, let due = timer, due.deadline <= now else { return [] }
        timer = nil
        let sends = apply(sa.retransmissionTimerFired(due, now: now))
        retransmissions += sends.count
        return sends
    }

    private mutating func apply(_ actions: [IKEAction]) -> [[UInt8]] {
        var sends: [[UInt8]] = []
        for action in actions {
            switch action {
            case .send(let bytes): sends.append(bytes)
            case .schedule(let next): timer = next
            case .install: childInstalled = true
            case .delete, .deleteOutbound, .activateOutbound, .initialContact, .rekeyed, .ikeSARekeyFailed, .childSARekeyDeferred, .redirect: break   // rekeys: not part of a setup
            case .childSAFailed(let reason): if outcome == .inProgress { outcome = .childFailed(reason) }
            case .established: established = true
            case .verifyPeer:   // the load initiator authenticates with PSKs only: fail, never hang
                if outcome == .inProgress { outcome = .failed("certificate authentication is not supported by the load initiator") }
            case .closed(let reason): if outcome == .inProgress { outcome = .failed(reason) }
            }
        }
        if outcome == .inProgress, established, childInstalled { outcome = .completed }
        if outcome != .inProgress { timer = nil }
        return sends
    }
}
