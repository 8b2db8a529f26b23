import Cluster
import Foundation
import NIOCore

// The agent's stop: every phase of its connection answers within `stopTimeout`; a second
// signal (`hurry`) ends every wait on the network at once. What needs no network (the
// kernel's SAs and policies, the DVIPA on lo, the status socket file, the journal) is always
// cleaned, in both cases.
extension ClusterAgent {
    /// What a stop removed (logged, and for tests).
    public struct StopReport: Sendable, Equatable {
        public var removedSAs = 0
        public var removedLeftoverStates = 0
        public var removedDVIPA: String?
        public var removedStatusSocket: String?
        public var removedJournal = false
        public var hurried = false
        /// Inbound encapsulated mode: the GRE device and filter were removed.
        public var removedDecapsulation = false
    }

    /// Stops: aborts a connect, a handshake or a pending retry, removes the SAs (when
    /// `removingSAs`) and reports them over a joined channel, closes the channel (waiting at
    /// most until the bound or a `hurry()`), then takes the DVIPA off lo, closes the status
    /// socket (removing its file) and removes the journal. Safe to call more than once and
    /// from any thread; later calls wait for the first one's end.
    @discardableResult
    public func stop(removingSAs: Bool) async -> StopReport {
        let began = Self.now()
        let first: (plan: AgentConnectionMachine.StopPlan, removals: EventLoopFuture<Void>)? =
            try? await loop.submit { [self] () -> (AgentConnectionMachine.StopPlan, EventLoopFuture<Void>)? in
                guard !machine.isStopping || stopFinished == nil else { return nil }
                let plan = machine.stop(now: began, bound: configuration.stopTimeout)
                stopFinished = loop.makePromise()
                ticker?.cancel()
                watcher?.stop()
                stopFollowingConnections()
                if plan.cancelRetry { retryTask?.cancel() }
                retryTask = nil
                if plan.abortConnection, let pending = pendingChannel {
                    // A connect or a TLS handshake: nothing to say to the routing node.
                    pending.close(mode: .all, promise: nil)
                }
                loop.scheduleTask(deadline: .uptimeNanoseconds(plan.deadline.nanoseconds)) { [self] in hurry() }
                let removals = removingSAs ? cache.sas.values.map { performRemoval($0, reason: "agent stopping", ackDelete: false) } : []
                return (plan, EventLoopFuture.andAllComplete(removals, on: loop))
            }.get() ?? nil
        guard let first else {
            // Another stop runs: wait for it.
            let finished = try? await loop.submit { [self] in stopFinished?.futureResult }.get()
            return (try? await finished?.get()) ?? StopReport()
        }
        var report = StopReport()
        _ = try? await first.removals.get()
        report.removedSAs = (try? await loop.submit { [self] in cache.sas.count }.get()) ?? 0
        // The removals' lifesize reports are written; close the channel, waiting on the
        // routing node's side (TLS close_notify) no longer than the bound or a second signal.
        let closing: EventLoopFuture<Void>? = try? await loop.submit { [self] () -> EventLoopFuture<Void> in
            let closes = [channel, pendingChannel].compactMap { $0 }.map { $0.close() }
            channel = nil
            pendingChannel = nil
            connectedOnce.fail(ChannelError.alreadyClosed)
            let closed = EventLoopFuture.andAllComplete(closes, on: loop)
            if case .stopping(_, true) = machine.phase { return loop.makeSucceededVoidFuture() }
            let either = loop.makePromise(of: Void.self)
            closed.cascade(to: either)
            hurryWaiter = either
            return either.futureResult
        }.get()
        _ = try? await closing?.get()
        report.hurried = (try? await loop.submit { [self] () -> Bool in
            if case .stopping(_, let hurried) = machine.phase { return hurried }
            return false
        }.get()) ?? false
        // Local cleaning: never waits on the network.
        if let server = try? await loop.submit({ [self] in statusServer }).get() {
            _ = try? await server.close().get()
            report.removedStatusSocket = server.path
        }
        let decapsulationSet = (try? await loop.submit { [self] in decapsulating != nil }.get()) ?? false
        let local = try? await worker.run { [self] () -> (Int, Bool, Result<Void, Error>?) in
            let leftovers = removingSAs ? kernel.removeAll() : 0
            let decapsulation = decapsulationSet ? Result { try kernel.stopDecapsulation() } : nil
            return (leftovers, removingSAs ? kernel.removeJournal() : false, decapsulation)
        }.get()
        report.removedLeftoverStates = local?.0 ?? 0
        report.removedJournal = local?.1 ?? false
        switch local?.2 {
        case .success?: report.removedDecapsulation = true
        case .failure(let error)?: logger.error("cannot remove the GRE decapsulation: \(error)")
        case nil: break
        }
        if ownsDVIPA, let dvipa = configuration.dvipa {
            do {
                try LoopbackAddress.release(dvipa, recordPath: configuration.dvipaRecordPath)
                report.removedDVIPA = dvipa.description
            } catch {
                logger.error("cannot take the DVIPA \(dvipa) off lo: \(error)")
            }
        }
        await worker.shutdown()
        let elapsed = Self.now() - began
        var removed = ["\(report.removedSAs) SAs with their policies"]
        if report.removedLeftoverStates > 0 { removed.append("\(report.removedLeftoverStates) more kernel states") }
        if let dvipa = report.removedDVIPA { removed.append("DVIPA \(dvipa) from lo") }
        if let path = report.removedStatusSocket { removed.append("status socket \(path)") }
        if report.removedJournal { removed.append("journal") }
        if report.removedDecapsulation { removed.append("GRE decapsulation") }
        logger.info("stopped in \(elapsed.milliseconds) ms\(report.hurried ? " (not waiting for the routing node)" : ""): removed \(removed.joined(separator: ", "))")
        try? await loop.submit { [self] in
            machine.finished()
            hurryWaiter = nil
            stopFinished?.succeed(report)
        }.get()
        return report
    }

    /// Ends every wait of a stop on the network (a second signal; also when the bound runs
    /// out). Safe from any thread, any number of times.
    public func hurry() {
        loop.execute { [self] in
            guard case .stopping(_, false) = machine.phase else { return }
            machine.hurry()
            hurryWaiter?.succeed(())
        }
    }
}

extension ClusterAgent {
    /// Throws when an interface other than lo holds `dvipa` (a start-up check: nothing is
    /// installed yet).
    public static func checkDVIPAFree(_ dvipa: IPAddress) throws {
        if let other = LoopbackAddress.interfaces(holding: dvipa).first(where: { $0 != "lo" }) {
            throw LoopbackAddress.InUse(interface: other)
        }
    }
}
