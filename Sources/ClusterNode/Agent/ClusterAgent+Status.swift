import Cluster
import Foundation
import NIOCore
import XFRM

extension ClusterAgent {
    /// The target's status now: its shadow cache with the kernel's counters. Safe from any thread.
    /// The counters are read on the kernel thread.
    public func status() -> EventLoopFuture<NodeStatus> {
        kernelCounters().map { [self] counters in
            makeStatus(counters: counters)
        }
    }

    /// The status socket's document (StatusStream.swift): the kernel's counters are read on the
    /// kernel thread as for `status()`, then the shadow SAs are listed a chunk per loop turn, each
    /// as the cache holds it when its chunk is encoded (SAs gone by then are left out).
    public func statusStream(sasPerPiece: Int = NodeStatusStream.sasPerPiece) -> EventLoopFuture<NodeStatusStream> {
        kernelCounters().map { [self] counters in
            makeStatusStream(counters: counters, sasPerPiece: sasPerPiece)
        }
    }

    /// The stream of the status with these counters. On the loop.
    func makeStatusStream(counters: [ClusterSAID: KernelSACounters], sasPerPiece: Int = NodeStatusStream.sasPerPiece) -> NodeStatusStream {
        let ids = cache.sas.keys.sorted()
        return NodeStatusStream(head: makeStatus(counters: counters, includingSAs: false), count: ids.count,
                                sasPerPiece: sasPerPiece) { [self] range in
            loop.preconditionInEventLoop()
            return ids[range].compactMap { cache.sas[$0] }.map { shadowStatus(of: $0, counters: counters) }
        }
    }

    /// The kernel's counters of the SAs in the kernel, read on the kernel thread; the future
    /// completes on the agent's loop.
    private func kernelCounters() -> EventLoopFuture<[ClusterSAID: KernelSACounters]> {
        loop.submit { [self] in
            cache.sas.values.filter { inKernel.contains($0.saID) }
        }.flatMap { [self] (held: [SADescription]) in
            worker.run { [self] () -> [ClusterSAID: KernelSACounters] in
                var counters: [ClusterSAID: KernelSACounters] = [:]
                for sa in held { counters[sa.saID] = (try? kernel.counters(of: sa)) ?? nil }
                return counters
            }.recover { _ in [:] }
        }.hop(to: loop)
    }

    /// The SA ids in the shadow cache (for tests).
    public func heldSAs() -> EventLoopFuture<[ClusterSAID]> {
        loop.submit { [self] in cache.sas.keys.sorted() }
    }

    /// One SA of the shadow cache with the kernel's counters.
    func shadowStatus(of sa: SADescription, counters kernelCounters: [ClusterSAID: KernelSACounters]) -> ShadowSAStatus {
        let counters = inKernel.contains(sa.saID) ? kernelCounters[sa.saID] : nil
        return ShadowSAStatus(id: sa.saID.rawValue, spi: sa.spiText, direction: sa.direction.description,
                              source: sa.source.description, destination: sa.destination.description,
                              sequencing: sa.sequencing.description, inKernel: counters != nil,
                              bytes: counters?.bytes ?? 0, packets: counters?.packets ?? 0,
                              outputSequence: sa.direction == .outbound ? counters?.outputSequence : nil,
                              sequenceBlock: cache.sequencer.currentBlock(of: sa.saID)?.description)
    }

    func makeStatus(counters kernelCounters: [ClusterSAID: KernelSACounters], includingSAs: Bool = true) -> NodeStatus {
        let now = Self.now()
        let sas = includingSAs ? cache.sas.keys.sorted().compactMap { cache.sas[$0] }.map { shadowStatus(of: $0, counters: kernelCounters) } : []
        let target = TargetStatus(
            epoch: String(cache.epoch.rawValue, radix: 16), connected: welcome != nil,
            routing: "\(currentRouting.host):\(currentRouting.port)",
            dvipa: configuration.dvipa?.description,
            graceSeconds: Double(configuration.grace.milliseconds) / 1000,
            lastContactMillisecondsAgo: cache.lastContact.map { (now - $0).milliseconds },
            sas: sas,
            drops: DropStatus(frames: drops.snapshot, connectionsClosedForFraming: drops.closedConnections,
                              fromNonMembers: 0, unexpected: 0, unknownSA: 0),
            kernelErrors: kernelErrors, reconnects: reconnects,
            term: machine.term == .none ? nil : machine.term.rawValue,
            reportsAfterWelcome: metricCounters.reportsAfterWelcome.isEmpty ? nil : metricCounters.reportsAfterWelcome)
        return NodeStatus(role: "target", node: configuration.nodeID.name, target: target)
    }
}

/// Watches the kernel's XFRM expire and async (NEWAE) events on a thread of its own
/// (netlink reads block) and hands them to the agent's event loop. Subscribing to the
/// async-event group is what makes the kernel send NEWAE at all (`xfrm_aevent_is_on`); the
/// thresholds of each SA (`XFRMAgentKernel.eventThresholds`) say how often.
public final class XFRMExpireWatcher: @unchecked Sendable {
    private let monitor: XFRMEventMonitor
    private let lock = NSLock()
    private var running = true

    /// Subscribes; the agent's `expired` and `replayObserved` run on its loop.
    init(agent: ClusterAgent) throws {
        monitor = try XFRMEventMonitor(groups: [.expire, .asyncEvents])
        let thread = Thread { [self] in
            while lock.withLock({ running }) {
                guard let events = try? monitor.next(timeout: .milliseconds(500)) else { continue }
                for event in events {
                    switch event {
                    case .expire(let info, let hard):
                        guard let destination = try? IPAddress(bytes: info.id.destination.bytes) else { continue }
                        let spi = info.id.spi, bytes = info.current.bytes, packets = info.current.packets
                        agent.loop.execute {
                            agent.expired(destination: destination, spi: spi, hard: hard, bytes: bytes, packets: packets)
                        }
                    case .asyncEvent(let event):
                        guard let destination = try? IPAddress(bytes: event.id.destination.bytes) else { continue }
                        let spi = event.id.spi, window = event.authenticatedWindow
                        agent.loop.execute {
                            agent.replayObserved(destination: destination, spi: spi, top: window.top, bitmap: window.bitmap)
                        }
                    default:
                        continue
                    }
                }
            }
        }
        thread.name = "vipsec-xfrm-events"
        thread.start()
    }

    /// Stops the thread (within half a second).
    public func stop() {
        lock.withLock { running = false }
    }
}
