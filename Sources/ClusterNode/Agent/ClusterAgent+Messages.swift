import Cluster
import NIOCore

/// A shared outbound SA's sequence blocks on this agent (outbound claims 5–7).
///
/// The fence: the SA is put into the kernel with its output sequence at `first - 1` and a
/// hard packet lifetime of the block size, so the kernel sends `first...last` and then
/// expires the SA itself. At the soft packet lifetime the agent asks for its next block; at
/// the hard expire it re-adds the SA at the next block (a fresh kernel instance, counters at
/// zero). A slow agent loses packets; no number is ever sent twice.
struct SharedSequenceState {
    var current: SequenceBlock?
    var next: SequenceBlock?
    var requested = false
    var acknowledged = false
}

extension ClusterAgent {
    // MARK: Messages from the routing node (on loop)

    func received(_ message: ClusterMessage, on from: Channel) {
        guard from === channel else {
            drops.count("stale-connection")
            return
        }
        let now = Self.now()
        lastHeard = now
        switch message {
        case .welcome(let welcome):
            self.welcome = welcome
            backoff = configuration.minimumBackoff
            logger.info("welcomed into \(welcome.epoch)")
            perform(cache.welcomed(welcome, now: now), ackDeletes: false)
            connectedOnce.succeed(())
        case .installSA(let install):
            perform(cache.install(install, now: now), ackDeletes: false)
        case .deleteSA(let delete):
            perform(cache.delete(delete, now: now), ackDeletes: true)
        case .fullState(let state):
            perform(cache.fullState(state, now: now), ackDeletes: false)
        case .heartbeat:
            cache.heard(now: now)
        case .sequenceBlockGrant(let grant):
            cache.heard(now: now)
            granted(grant)
        case .nack(let nack) where nack.operation == .sequenceBlockRequest:
            cache.heard(now: now)
            guard blocks[nack.saID] != nil else { drops.count("unknown-sa"); return }
            blocks[nack.saID]?.requested = false
            if nack.reason == .windowFull {
                loop.scheduleTask(in: .milliseconds(50)) { [self] in requestBlock(nack.saID) }
            }
        case .hello, .ack, .nack, .lifesizeReport, .sequenceBlockRequest, .resyncRequest:
            drops.count("unexpected")
        }
    }

    func send(_ message: ClusterMessage) {
        channel?.writeAndFlush(message, promise: nil)
    }

    // MARK: Effects of the shadow cache

    func perform(_ effects: [AgentShadowCache.Effect], ackDeletes: Bool) {
        for effect in effects {
            switch effect {
            case .installInKernel(let sa):
                performInstall(sa)
            case .removeFromKernel(let sa):
                performRemoval(sa, reason: "routing node", ackDelete: ackDeletes)
            case .reply(let message):
                send(message)
            }
        }
    }

    func performInstall(_ sa: SADescription) {
        if inKernel.contains(sa.saID) {
            // Resent in a resync: it is there already, with its counters and sequence state.
            send(.ack(.init(saID: sa.saID, operation: .installSA)))
            return
        }
        if case .shared = sa.sequencing {
            if blocks[sa.saID] == nil { blocks[sa.saID] = SharedSequenceState() }
            requestBlock(sa.saID)
            return  // installed and acknowledged when the first block comes
        }
        do {
            try kernel.install(sa, outputSequence: nil)
            inKernel.insert(sa.saID)
            if reporters[sa.saID] == nil { reporters[sa.saID] = LifesizeReporter(saID: sa.saID, step: sa.lifesizeReportStep) }
            send(.ack(.init(saID: sa.saID, operation: .installSA)))
        } catch {
            kernelFailed("install \(sa.saID) spi \(sa.spi.spiText): \(error)")
            perform(cache.installFailed(sa.saID, reason: .kernelRejected, detail: "\(error)"), ackDeletes: false)
        }
    }

    func performRemoval(_ sa: SADescription, reason: String, ackDelete: Bool) {
        if let reporter = reporters.removeValue(forKey: sa.saID), let counters = try? kernel.counters(of: sa) {
            send(.lifesizeReport(reporter.finalReport(bytes: counters.bytes, packets: counters.packets)))
        }
        do {
            try kernel.remove(sa)
        } catch {
            kernelFailed("remove \(sa.saID) spi \(sa.spi.spiText): \(error)")
        }
        inKernel.remove(sa.saID)
        blocks[sa.saID] = nil
        logger.info("removed \(sa.saID) spi \(sa.spi.spiText) (\(reason))")
        if ackDelete { send(.ack(.init(saID: sa.saID, operation: .deleteSA))) }
    }

    func kernelFailed(_ what: String) {
        logger.error("kernel: \(what)")
        kernelErrors.append(what)
        if kernelErrors.count > 20 { kernelErrors.removeFirst(kernelErrors.count - 20) }
    }

    // MARK: Kernel events (expire)

    /// The kernel expired an SA: a hard expire removed it (the fence of a shared SA moves
    /// to the next block; any other SA leaves the cache); a soft one asks for the next block
    /// of a shared SA, or reports lifesize.
    func expired(destination: IPAddress, spi: UInt32, hard: Bool) {
        guard let sa = cache.sas.values.first(where: { $0.spi == spi && $0.destination == destination }) else { return }
        if case .shared = sa.sequencing {
            if hard {
                inKernel.remove(sa.saID)
                if let next = blocks[sa.saID]?.next {
                    blocks[sa.saID]?.next = nil
                    installShared(sa, block: next)
                } else {
                    requestBlock(sa.saID)
                }
            } else {
                requestBlock(sa.saID)
            }
            return
        }
        guard hard else {
            reportNow(sa)
            return
        }
        logger.info("\(sa.saID) spi \(sa.spi.spiText) expired in the kernel")
        // Forget it without touching the time of last contact (the routing node said nothing).
        let effects = cache.delete(.init(saID: sa.saID, epoch: cache.epoch), now: cache.lastContact ?? .zero)
        for case .removeFromKernel(let gone) in effects {
            performRemoval(gone, reason: "hard expire", ackDelete: false)
        }
    }

    // MARK: Shared outbound SAs

    func requestBlock(_ saID: ClusterSAID) {
        guard var state = blocks[saID], !state.requested, state.next == nil else { return }
        state.requested = true
        blocks[saID] = state
        send(.sequenceBlockRequest(.init(saID: saID, currentBlockFirst: state.current?.first ?? 0)))
    }

    func granted(_ grant: ClusterMessage.SequenceBlockGrant) {
        guard var state = blocks[grant.saID], let sa = cache.sas[grant.saID] else {
            drops.count("unknown-sa")
            return
        }
        state.requested = false
        if inKernel.contains(sa.saID), grant.block != state.current {
            state.next = grant.block
            blocks[grant.saID] = state
        } else {
            blocks[grant.saID] = state
            installShared(sa, block: grant.block)
        }
    }

    func installShared(_ sa: SADescription, block: SequenceBlock) {
        var fenced = sa
        fenced.lifetimes.hardPacketLimit = block.count
        fenced.lifetimes.softPacketLimit = min(sa.lifetimes.softPacketLimit, block.count)
        do {
            try kernel.install(fenced, outputSequence: block.first - 1)
            inKernel.insert(sa.saID)
            blocks[sa.saID]?.current = block
            if reporters[sa.saID] == nil { reporters[sa.saID] = LifesizeReporter(saID: sa.saID, step: sa.lifesizeReportStep) }
            if blocks[sa.saID]?.acknowledged == false {
                blocks[sa.saID]?.acknowledged = true
                send(.ack(.init(saID: sa.saID, operation: .installSA)))
            }
        } catch {
            kernelFailed("install shared \(sa.saID) at block \(block): \(error)")
            if blocks[sa.saID]?.acknowledged == false {
                blocks[sa.saID] = nil
                perform(cache.installFailed(sa.saID, reason: .kernelRejected, detail: "\(error)"), ackDeletes: false)
            }
        }
    }

    // MARK: Lifesize

    func readCounters() {
        guard channel != nil else { return }
        for saID in inKernel.sorted() {
            guard let sa = cache.sas[saID] else { continue }
            reportIfDue(sa)
        }
    }

    func reportIfDue(_ sa: SADescription) {
        guard var reporter = reporters[sa.saID] else { return }
        do {
            guard let counters = try kernel.counters(of: sa) else { return }
            if let report = reporter.observe(bytes: counters.bytes, packets: counters.packets) { send(.lifesizeReport(report)) }
            reporters[sa.saID] = reporter
        } catch {
            kernelFailed("counters of \(sa.saID): \(error)")
        }
    }

    func reportNow(_ sa: SADescription) {
        guard let reporter = reporters[sa.saID], let counters = try? kernel.counters(of: sa) else { return }
        send(.lifesizeReport(reporter.finalReport(bytes: counters.bytes, packets: counters.packets)))
    }
}
