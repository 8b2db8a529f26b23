// The routing node's inbound distributor (claims 2-6, 10, 21): ESP to the DVIPA is queued
// by nft (no bypass: fail closed); one worker thread per NFQUEUE (`queue = A-B`: one socket
// and one thread per queue, spread by `queue num A-B fanout`) classifies each packet with
// the shared `InboundClassifier` and answers with a verdict (accept with the chosen target's
// mark, or drop); the kernel forwards the still-encrypted packet by fwmark policy routing to
// the target's cluster address (direct mode, claim 6), or into a GRE device to the target
// after the tunnel check (encapsulated mode, claims 7-8: the classifier drops inner
// addresses outside the SA's selectors). The cluster event loop only posts state updates
// into the mailbox (the whole state first, then changes); the first queue's worker applies
// them between batches.
import Cluster
import ClusterNode
import Dispatch
import Foundation
import Glibc
import Inbound
import InboundCrypto
import InboundRouting
import Logging
import NetfilterQueue
import Synchronization

public final class InboundDistributor: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var dvipa: String
        /// The NFQUEUE numbers, one worker thread each.
        public var queues: ClosedRange<UInt16>
        public var maximumFlows: Int
        /// How long the worker waits for packets before it looks at the mailbox again.
        public var poll: Duration = .milliseconds(50)
        /// Encapsulated mode: this node's cluster address, the GRE source (the DVIPA's family:
        /// gre for IPv4, ip6gre for IPv6); nil: direct mode.
        public var greLocal: String?
        /// Full ICV verification at this node (`verify = never | always | under-attack`).
        public var verification = ICVVerification.never

        public var mode: ForwardingMode { greLocal == nil ? .direct : .encapsulated }
        public init(dvipa: String, queues: ClosedRange<UInt16> = 0...0, maximumFlows: Int = 1_000_000) {
            self.dvipa = dvipa
            self.queues = queues
            self.maximumFlows = maximumFlows
        }
    }

    public let configuration: Configuration
    public let mailbox = InboundMailbox()
    let logger: Logger
    let forwarding: InboundForwarding
    let ruleset: InboundRuleset
    let family: Int32
    /// Encapsulated mode: the GRE devices' local address (nil: direct mode).
    let greLocal: RouteAddress?
    let stopLock = NSLock()
    private var stopRequested = false
    /// Told by each worker when it ends; `stop` awaits the last.
    private var workerEnd = WorkerEnd(count: 0)
    private var queues: [NFQueue] = []
    /// The classifier every worker shares (SA table, replay windows, connection table);
    /// set and cleared under `stopLock` (the operator's listing reads it from its own thread).
    private(set) var shared: SharedClassifier?
    /// Each queue's socket counters, as its worker last left them (index = queue - first).
    let queueBoard: QueueBoard
    /// The first worker's state (only it touches it while the workers run; `stop` after they ended).
    var planner = InboundPlanner()
    /// Authenticated replay reports applied (the first worker's count).
    var evidenceApplied: UInt64 = 0
    var running = false

    public init(configuration: Configuration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        ruleset = try InboundRuleset(dvipas: [configuration.dvipa], queues: configuration.queues)
        queueBoard = QueueBoard(queues: configuration.queues)
        family = ruleset.dvipa6.isEmpty ? AF_INET : AF_INET6
        if let text = configuration.greLocal {
            guard let address = RouteAddress(text), address.family == family else {
                throw InboundWorkerError.encapsulation("GRE source '\(text)' must be an address of the DVIPA's family (gre between IPv4 cluster addresses for an IPv4 DVIPA, ip6gre between IPv6 ones for an IPv6 DVIPA)")
            }
            greLocal = address
        } else {
            greLocal = nil
        }
        forwarding = try InboundForwarding()
    }

    /// Binds every queue, turns forwarding on, moves the `local` rule, installs the nft
    /// interception, then starts one worker per queue. On failure everything done is undone.
    public func start() throws {
        var opened: [NFQueue] = []
        var forwardingTouched = false
        do {
            for number in configuration.queues {
                var queueConfiguration = NFQueue.Configuration(queue: number)
                // The whole packet: transport mode needs the trailer's next-header octet, and ICV
                // verification (`verify`) the whole packet.
                queueConfiguration.copyRange = 0xFFFF
                queueConfiguration.maxLength = 8192
                opened.append(try NFQueue(queueConfiguration))
            }
            forwardingTouched = true
            try forwarding.enableForwarding(family: family)
            try forwarding.moveLocalRule(family: family)
            try forwarding.installInterception(ruleset)
        } catch {
            for queue in opened { queue.close() }
            if forwardingTouched {
                try? forwarding.removeInterception()
                try? forwarding.restoreLocalRule(family: family)
            }
            throw error
        }
        queues = opened
        let shared = SharedClassifier(InboundClassifier(configuration: classifierConfiguration, peekers: OpenSSLPeekerFactory()))
        stopLock.withLock { self.shared = shared }
        running = true
        let workerEnd = WorkerEnd(count: opened.count)
        self.workerEnd = workerEnd
        for (index, queue) in opened.enumerated() {
            let thread = Thread { [self] in
                work(queue, index: index, shared: shared)
                workerEnd.workerEnded()
            }
            thread.name = "vipsec-inbound-q\(queue.configuration.queue)"
            thread.start()
        }
        logger.info("inbound: \(configuration.mode == .direct ? "direct mode" : "encapsulated mode (GRE from \(configuration.greLocal ?? ""), tunnel check)"), ICV verification \(configuration.verification.rawValue), ESP to \(configuration.dvipa) queued to NFQUEUE \(ruleset.queueText) (\(opened.count) worker\(opened.count == 1 ? "" : "s")); local rule moved to pref \(InboundForwarding.localRulePriority)")
    }

    /// A reload changed `verify`: the worker switches before its next batch.
    public func setVerification(_ verification: ICVVerification) {
        mailbox.post(verification)
    }

    /// Stops the workers and awaits their end (within one `poll`; no thread is blocked
    /// meanwhile), then removes every SA from the classifier (each key schedule is released
    /// and wiped), the nft table, every target's rule and route, and puts the `local` rule
    /// back. Call it once, from one task.
    public func stop() async {
        guard running else { return }
        running = false
        stopLock.withLock { stopRequested = true }
        await workerEnd.allEnded()
        for queue in queues { queue.close() }
        queues = []
        if let shared {
            shared.withLock { classifier in
                for (id, sa) in planner.sas { _ = classifier.removeSA(destination: sa.destination, spi: sa.spi); planner.forget(id) }
                mailbox.publish(status(classifier, evidence: evidenceApplied))
            }
        }
        stopLock.withLock { shared = nil }
        var failures: [String] = []
        func attempt(_ what: String, _ body: () throws -> Void) {
            do { try body() } catch { failures.append("\(what): \(error)") }
        }
        attempt("nft table") { try forwarding.removeInterception() }
        for (_, target) in planner.targets {
            attempt("route \(target.mark)") { try forwarding.removeTarget(forwardingTarget(mark: target.mark, gateway: target.gateway)) }
        }
        attempt("local rule") { try forwarding.restoreLocalRule(family: family) }
        planner = InboundPlanner()
        if failures.isEmpty {
            logger.info("inbound: stopped; interception, target routes and keys removed, local rule restored")
        } else {
            logger.error("inbound: stopped with errors: \(failures.joined(separator: "; "))")
        }
    }

    var shouldStop: Bool {
        stopLock.lock()
        defer { stopLock.unlock() }
        return stopRequested
    }

    static func now() -> ClusterInstant { ClusterInstant(nanoseconds: DispatchTime.now().uptimeNanoseconds) }

    /// Encapsulated marks (and tables) sit this far above the planner's direct ones.
    static let encapsulatedMarkOffset: UInt32 = 0x100

    /// The target's forwarding in this node's mode: direct, by `mark` via its cluster address;
    /// encapsulated, by `mark + encapsulatedMarkOffset` into its GRE device `vgre<mark>`.
    func forwardingTarget(mark: UInt32, gateway: IPAddress) throws -> ForwardingTarget {
        guard let address = RouteAddress(gateway.description) else { throw InboundWorkerError.badGateway(gateway.description) }
        guard let greLocal else { return ForwardingTarget(mark: mark, gateway: address) }
        guard address.family == greLocal.family else {
            throw InboundWorkerError.encapsulation("target cluster address \(gateway) is not of the GRE source \(greLocal)'s family: no tunnel to it")
        }
        return ForwardingTarget(mark: mark + Self.encapsulatedMarkOffset, gateway: address,
                                tunnel: GRETunnel(name: Self.greName(mark: mark), local: greLocal))
    }

    /// The GRE device to the target with direct mark `mark` (e.g. vgre5600).
    static func greName(mark: UInt32) -> String { "vgre" + String(mark, radix: 16) }
}

/// Each queue's NFQUEUE socket counters, written by its worker after every batch and read
/// by the first worker for the status.
final class QueueBoard: Sendable {
    let first: UInt16
    private let counters: Mutex<[NFQueueCounters]>

    init(queues: ClosedRange<UInt16>) {
        first = queues.lowerBound
        counters = Mutex([NFQueueCounters](repeating: NFQueueCounters(), count: queues.count))
    }

    func set(_ index: Int, _ value: NFQueueCounters) { counters.withLock { $0[index] = value } }

    /// (queue number, counters) per queue, in queue order.
    var all: [(queue: UInt16, counters: NFQueueCounters)] {
        counters.withLock { values in values.enumerated().map { (first + UInt16($0.offset), $0.element) } }
    }
}

enum InboundWorkerError: Error, CustomStringConvertible {
    case badGateway(String)
    case encapsulation(String)
    var description: String {
        switch self {
        case .badGateway(let text): return "'\(text)' is not a usable gateway"
        case .encapsulation(let text): return "encapsulated mode: \(text)"
        }
    }
}
