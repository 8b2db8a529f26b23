import Cluster
import NIOCore

// The agent's reactions: messages from the routing node and kernel events go into the
// shadow cache (`AgentShadowCache`, which also runs the shared-SA `AgentSequencer` and the
// lifesize reporters); its effects are carried out here against the kernel and the channel.
extension ClusterAgent {
    // MARK: Messages from the routing node (on loop)

    /// A message from the routing node with the term its frame carried (`.none` without HA).
    /// A frame of an older term than one already accepted (a deposed routing node) is dropped
    /// and counted `stale-term` before it touches anything; a stale Welcome also closes the
    /// connection (the agent moves on to the next routing node, its SAs kept for the grace).
    func received(_ message: ClusterMessage, term: ClusterTerm = .none, on from: Channel) {
        guard !machine.isStopping else { return }
        guard from === channel else {
            drops.count("stale-connection")
            return
        }
        if case .stale(let current) = machine.received(term: term) {
            drops.count("stale-term")
            if case .welcome = message {
                logger.warning("refused a Welcome of \(term) from \(currentRouting.host):\(currentRouting.port): this agent follows \(current) (a deposed routing node); trying the next")
                from.close(promise: nil)
            }
            return
        }
        let now = Self.now()
        lastHeard = now
        switch message {
        case .welcome(let welcome):
            self.welcome = welcome
            machine.welcomed()
            pendingChannel = nil
            logger.info("welcomed into \(welcome.epoch)\(term == .none ? "" : ", \(term)")")
            perform(cache.welcomed(welcome, now: now), ackDeletes: false)
            reportsHeldStateAfterResync = true
            applyDecapsulation(welcome.greSource)
            connectedOnce.succeed(())
        case .installSA(let install):
            perform(cache.install(install, now: now), ackDeletes: false)
        case .deleteSA(let delete):
            perform(cache.delete(delete, now: now), ackDeletes: true)
        case .fullState(let state):
            perform(cache.fullState(state, now: now), ackDeletes: false)
            if reportsHeldStateAfterResync {
                reportsHeldStateAfterResync = false
                reportHeldState()
            }
        case .heartbeat:
            cache.heard(now: now)
        case .sequenceBlockGrant(let grant):
            guard cache.sas[grant.saID] != nil else {
                drops.count("unknown-sa")
                cache.heard(now: now)
                return
            }
            perform(cache.received(grant, now: now), ackDeletes: false)
        case .nack(let nack) where nack.operation == .sequenceBlockRequest:
            cache.heard(now: now)
            guard cache.sas[nack.saID] != nil else { drops.count("unknown-sa"); return }
            if nack.reason == .windowFull {
                loop.scheduleTask(in: .milliseconds(50)) { [self] in
                    perform(cache.retrySequenceBlock(nack.saID), ackDeletes: false)
                }
            } else {
                logger.warning("no sequence block for \(nack.saID): \(nack.reason)")
            }
        case .hello, .ack, .nack, .lifesizeReport, .sequenceBlockRequest, .resyncRequest, .replayReport, .flowEndReport,
             .flowReport:
            drops.count("unexpected")
        }
    }

    /// Inbound encapsulated mode: the Welcome names the routing node's GRE source; set up
    /// (or move, or remove) this host's decapsulation to match, on the kernel thread. A
    /// failure is logged and kept in `kernelErrors`; the next Welcome tries again.
    func applyDecapsulation(_ router: IPAddress?) {
        guard router != decapsulating else { return }
        let previous = decapsulating
        decapsulating = router
        let local = configuration.clusterAddress
        worker.run { [kernel] () -> [String] in
            if let router { return try kernel.startDecapsulation(router: router, local: local) }
            try kernel.stopDecapsulation()
            return ["GRE decapsulation removed (the routing node forwards directly)"]
        }.whenComplete { [self] result in
            switch result {
            case .success(let changes):
                for change in changes { logger.notice("inbound encapsulated mode: \(change)") }
            case .failure(let error):
                kernelFailed("inbound encapsulated mode: GRE decapsulation from \(router?.description ?? "-"): \(error)")
                if decapsulating == router { decapsulating = router == nil ? previous : nil }
            }
        }
    }

    func send(_ message: ClusterMessage) {
        guard let channel else { return }
        if case .lifesizeReport(let report) = message { metricCounters.reported(report) }
        flusher.write(message, on: channel)
    }

    // MARK: Effects of the shadow cache

    func perform(_ effects: [AgentShadowCache.Effect], ackDeletes: Bool) {
        for effect in effects {
            switch effect {
            case .installInKernel(let sa, let grant):
                performInstall(sa, grant: grant)
            case .switchSequenceBlock(let sa, let grant):
                performSwitch(sa, grant: grant)
            case .removeFromKernel(let sa):
                performRemoval(sa, reason: "routing node", ackDelete: ackDeletes)
            case .reply(let message):
                send(message)
            }
        }
    }

    /// Installs on the kernel thread; acknowledges (or reports the failure) back on the
    /// loop once the kernel answered.
    func performInstall(_ sa: SADescription, grant: ClusterMessage.SequenceBlockGrant?) {
        let fencedSA = fenced(sa, grant)
        let outputSequence = grant.map { $0.block.first - 1 }
        let started = NIODeadline.now()
        worker.run { [self] in
            try kernel.install(fencedSA, outputSequence: outputSequence)
        }.whenComplete { [self] result in
            switch result {
            case .success:
                if !inKernel.contains(sa.saID) {
                    metricCounters.installs[sa.direction.description, default: 0] += 1
                    metricCounters.installLatencies.append(.nanoseconds((NIODeadline.now() - started).nanoseconds))
                }
                inKernel.insert(sa.saID)
                // A shared SA is re-added at every late block: acknowledged once.
                if !(grant != nil && acknowledged.contains(sa.saID)) {
                    acknowledged.insert(sa.saID)
                    send(.ack(.init(saID: sa.saID, operation: .installSA)))
                }
            case .failure(let error):
                metricCounters.installFailures += 1
                kernelFailed("install \(sa.saID) spi \(sa.spiText): \(error)")
                inKernel.remove(sa.saID)
                acknowledged.remove(sa.saID)
                perform(cache.installFailed(sa.saID, reason: .kernelRejected, detail: "\(error)"), ackDeletes: false)
            }
        }
    }

    /// A shared SA moves to its next block. The kernel state is added afresh at the block
    /// (output sequence `first - 1`, packet count 0, hard packet limit = block size): the
    /// XFRM layer has no NEWAE that resets the packet count, and a fresh state gives the
    /// same fence. Packets in the instant between delete and add are dropped, never
    /// numbered twice.
    func performSwitch(_ sa: SADescription, grant: ClusterMessage.SequenceBlockGrant) {
        let fencedSA = fenced(sa, grant)
        worker.run { [self] in
            try kernel.replaceState(fencedSA, outputSequence: grant.block.first - 1)
        }.whenComplete { [self] result in
            switch result {
            case .success:
                inKernel.insert(sa.saID)
            case .failure(let error):
                kernelFailed("switch \(sa.saID) to block \(grant.block): \(error)")
                inKernel.remove(sa.saID)
                perform(cache.hardPacketLimitReached(sa.saID), ackDeletes: false)
            }
        }
    }

    func fenced(_ sa: SADescription, _ grant: ClusterMessage.SequenceBlockGrant?) -> SADescription {
        guard let grant else { return sa }
        var fenced = sa
        fenced.lifetimes.hardPacketLimit = grant.hardPacketLimit
        fenced.lifetimes.softPacketLimit = grant.softPacketLimit
        return fenced
    }

    /// Reads the SA's last counters and removes it on the kernel thread; reports, logs and
    /// acknowledges back on the loop. The future completes (on the loop) when all is done.
    @discardableResult
    func performRemoval(_ sa: SADescription, reason: String, ackDelete: Bool) -> EventLoopFuture<Void> {
        worker.run { [self] () -> KernelRemoval in
            let counters = (try? kernel.counters(of: sa)) ?? nil
            do {
                try kernel.remove(sa)
                return KernelRemoval(counters: counters, failure: nil)
            } catch {
                return KernelRemoval(counters: counters, failure: "\(error)")
            }
        }.recover { error in
            KernelRemoval(counters: nil, failure: "\(error)")
        }.map { [self] removal in
            if let counters = removal.counters {
                send(.lifesizeReport(.init(saID: sa.saID, bytes: counters.bytes, packets: counters.packets)))
            }
            if let failure = removal.failure { kernelFailed("remove \(sa.saID) spi \(sa.spiText): \(failure)") }
            if inKernel.contains(sa.saID) { metricCounters.removals[sa.direction.description, default: 0] += 1 }
            metricCounters.lastReported[sa.saID] = nil
            inKernel.remove(sa.saID)
            acknowledged.remove(sa.saID)
            logger.info("removed \(sa.saID) spi \(sa.spiText) (\(reason))")
            if ackDelete { send(.ack(.init(saID: sa.saID, operation: .deleteSA))) }
        }
    }

    func kernelFailed(_ what: String) {
        logger.error("kernel: \(what)")
        metricCounters.kernelErrors += 1
        kernelErrors.append(what)
        if kernelErrors.count > 20 { kernelErrors.removeFirst(kernelErrors.count - 20) }
    }

    // MARK: Kernel events (expire)

    /// XFRM_MSG_EXPIRE for an SA: for a shared SA, soft → ask for the next block, hard → the
    /// fence held (the state is gone) and the next block re-adds it. For any other SA, a soft
    /// expire reports the counters and a hard one (the kernel deleted it) takes it out of the
    /// cache with a final report flagged as a hard-limit expiry.
    func expired(destination: IPAddress, spi: UInt32, hard: Bool, bytes: UInt64, packets: UInt64) {
        guard let sa = cache.sas.values.first(where: { $0.spi == spi && $0.destination == destination }) else { return }
        if case .shared = sa.sequencing {
            sharedExpired(sa, hard: hard)
            return
        }
        guard hard else {
            perform(cache.observedCounters(sa.saID, bytes: bytes, packets: packets), ackDeletes: false)
            return
        }
        logger.info("\(sa.saID) spi \(sa.spiText) expired in the kernel")
        perform(cache.hardByteLimitReached(sa.saID, bytes: bytes, packets: packets), ackDeletes: false)
        // Forget it without touching the time of last contact (the routing node said nothing).
        let effects = cache.delete(.init(saID: sa.saID, epoch: cache.epoch), now: cache.lastContact ?? .zero)
        for case .removeFromKernel(let gone) in effects {
            if inKernel.contains(gone.saID) { metricCounters.removals[gone.direction.description, default: 0] += 1 }
            metricCounters.lastReported[gone.saID] = nil
            inKernel.remove(gone.saID)
            acknowledged.remove(gone.saID)
            worker.run { [self] in try kernel.remove(gone) }.whenFailure { [self] error in
                kernelFailed("remove expired \(gone.saID): \(error)")
            }
        }
    }

    /// XFRM_MSG_NEWAE for an inbound SA this agent holds: its kernel's replay state, which
    /// the kernel moved only after the ICV check, goes to the routing node as authenticated
    /// evidence for its check-only window (inbound claims 9, 22). Events for other SAs
    /// (outbound ones, a shared SA's own NEWAE updates) are ignored.
    func replayObserved(destination: IPAddress, spi: UInt32, top: UInt64, bitmap: [UInt64]) {
        guard welcome != nil, top > 0,
              let sa = cache.sas.values.first(where: { $0.spi == spi && $0.destination == destination && $0.direction == .inbound }),
              inKernel.contains(sa.saID) else { return }
        send(.replayReport(.init(saID: sa.saID, top: top, bitmap: bitmap)))
    }

    /// A shared SA's expire event. Every block reuses the SPI, so an event may be about the
    /// state of a block already left (its expiry raced the switch): the kernel state is read
    /// first (on the kernel thread, after any switch queued there), and the event counts only
    /// if it fits the state there now: hard → no state; soft → the state passed its soft limit.
    func sharedExpired(_ sa: SADescription, hard: Bool) {
        worker.run { [self] in (try? kernel.counters(of: sa)) ?? nil }.whenComplete { [self] result in
            guard cache.sas[sa.saID] != nil, case .success(let counters) = result else { return }
            if hard {
                guard counters == nil else { drops.count("stale-expire"); return }
                inKernel.remove(sa.saID)
                perform(cache.hardPacketLimitReached(sa.saID), ackDeletes: false)
            } else {
                guard let counters, counters.packets >= sa.lifetimes.softPacketLimit else {
                    drops.count("stale-expire")
                    return
                }
                perform(cache.softPacketLimitReached(sa.saID), ackDeletes: false)
            }
        }
    }

    // MARK: Lifesize

    /// Reads the held SAs' counters on the kernel thread (one read at a time) and feeds them
    /// to the lifesize reporters on the loop.
    func readCounters() {
        guard channel != nil, !countersInFlight else { return }
        let sas = inKernel.sorted().compactMap { cache.sas[$0] }
        guard !sas.isEmpty else { return }
        countersInFlight = true
        worker.run { [self] in
            sas.map { sa in CounterReading(saID: sa.saID, result: Result { try kernel.counters(of: sa) }) }
        }.whenComplete { [self] result in
            countersInFlight = false
            guard case .success(let readings) = result else { return }
            for reading in readings where inKernel.contains(reading.saID) {
                switch reading.result {
                case .success(let counters?):
                    perform(cache.observedCounters(reading.saID, bytes: counters.bytes, packets: counters.packets),
                            ackDeletes: false)
                case .success(nil):
                    continue
                case .failure(let error):
                    kernelFailed("counters of \(reading.saID): \(error)")
                }
            }
        }
    }
}

/// What the kernel thread found when it removed an SA.
struct KernelRemoval: Sendable {
    var counters: KernelSACounters?
    var failure: String?
}

/// One SA's counters as the kernel thread read them.
struct CounterReading: Sendable {
    var saID: ClusterSAID
    var result: Result<KernelSACounters?, Error>
}
