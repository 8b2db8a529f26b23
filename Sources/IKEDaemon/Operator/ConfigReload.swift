// `vipsec reload` and SIGHUP: the configuration file read again and applied to the running
// daemon (the rule: ReloadPlan.swift, README "Operations"). A file that does not load, or
// that changes `vipsec { }`, is refused before anything is touched. Otherwise every worker
// takes the new connections and deletes the IKE_SAs of removed and changed ones with their
// peers (one busy with another exchange once that is answered, within half the timeout);
// once those are gone (or the timeout passed), the added and changed connections with a
// start_action = start child are initiated. The outcome is logged and answered.
import NIOCore

enum ConfigReload {
    /// Reloads `workers.configPath`; the answer completes on `loop`. Waits at most `timeout`
    /// seconds for the deleted IKE_SAs to be gone before initiating.
    static func run(_ workers: IKEWorkerSet, timeout: Double, on loop: EventLoop) -> EventLoopFuture<OperatorResponse> {
        let first = workers.first
        let logger = first.logger
        func refuse(_ text: String) -> OperatorResponse {
            logger.error("reload refused: \(text)")
            return .failure(text)
        }
        guard let path = workers.configPath else {
            return loop.makeSucceededFuture(refuse("the daemon was not started from a configuration file"))
        }
        let new: DaemonConfig
        do { new = try DaemonConfig.load(path: path) } catch {
            // ConfigError names file, line and key, never a secret's value.
            return loop.makeSucceededFuture(refuse("\(error) (nothing reloaded: the running configuration stays)"))
        }
        return first.loop.flatSubmit { () -> EventLoopFuture<OperatorResponse> in
            guard !workers.stopping else { return first.loop.makeSucceededFuture(refuse("the daemon is stopping")) }
            guard !workers.reloading else { return first.loop.makeSucceededFuture(refuse("a reload is under way")) }
            let plan: ReloadPlan
            do { plan = try ReloadPlan(running: first.config, new: new) } catch {
                return first.loop.makeSucceededFuture(refuse("\(path): \(error)"))
            }
            workers.reloading = true
            logger.info("reload of \(path): \(plan.summary.joined(separator: "; "))")
            if let verify = plan.inboundVerify { workers.onInboundVerify?(verify) }
            let deleting = plan.deleted
            let start = NIODeadline.now()
            return workers.collect { core -> (going: [UInt64], busy: [UInt64]) in
                core.config.connections = new.connections
                core.config.secrets = new.secrets
                // The only `vipsec { }` change a reload applies (ReloadPlan.inboundVerify): the rest is equal.
                if plan.inboundVerify != nil { core.config.settings = new.settings }
                core.config.privateKeyFiles = new.privateKeyFiles
                core.gateway.reload(core.config)
                let (actions, going, busy) = core.gateway.deleteIKESAs(of: deleting, now: DaemonCore.now)
                core.perform(actions)
                return (going, busy)
            }
            .flatMap { lists in
                // Busy IKE_SAs get their Delete once idle (at most half the time: then without one).
                deleteBusy(lists.flatMap(\.busy), workers, until: start + seconds(timeout / 2), on: first.loop)
                    .flatMap { gone(Set(lists.flatMap(\.going)), workers, until: start + seconds(timeout), on: first.loop) }
                    .map { left in (count: lists.flatMap(\.going).count, left: left) }
            }
            .flatMap { deleted in
                first.loop.submit { () -> OperatorResponse in
                    first.initiateConfigured(only: plan.setUp)
                    let started = new.connections.filter { connection in
                        plan.setUp.contains(connection.name) && connection.children.contains { $0.startAction == .start }
                    }.map(\.name)
                    var messages = ["reloaded \(path)"] + plan.summary
                    messages.append("IKE_SAs deleted with their peers: \(deleted.count)"
                                    + (deleted.left > 0 ? " (\(deleted.left) still waiting for the peer after \(Int(timeout)) s)" : ""))
                    messages.append("initiated (start_action = start): \(started.isEmpty ? "none" : started.joined(separator: ", "))")
                    messages.dropFirst().forEach { logger.info("reload: \($0)") }
                    return OperatorResponse(ok: true, messages: messages)
                }
            }
            .always { _ in workers.reloading = false }
        }
        .hop(to: loop)
    }

    static func seconds(_ value: Double) -> TimeAmount { .milliseconds(Int64(max(0, value) * 1000)) }

    /// Retries the Delete of the busy IKE_SAs `spis` until none is busy; at `deadline` the
    /// rest are closed without one.
    static func deleteBusy(_ spis: [UInt64], _ workers: IKEWorkerSet, until deadline: NIODeadline,
                           on loop: EventLoop) -> EventLoopFuture<Void> {
        guard !spis.isEmpty else { return loop.makeSucceededFuture(()) }
        let force = NIODeadline.now() >= deadline
        return workers.collect { core -> [UInt64] in
            let (actions, busy) = core.gateway.deleteBusy(spis, force: force, now: DaemonCore.now)
            core.perform(actions)
            return busy
        }
        .hop(to: loop)
        .flatMap { lists in
            // Only the ones still busy go round again (a sent Delete is not sent twice).
            let left = lists.flatMap { $0 }
            if left.isEmpty || force { return loop.makeSucceededFuture(()) }
            return loop.scheduleTask(in: OperatorService.pollInterval) {}.futureResult
                .flatMap { deleteBusy(left, workers, until: deadline, on: loop) }
        }
    }

    /// Polls until no worker holds an IKE_SA of `spis`; the number still held at `deadline`.
    static func gone(_ spis: Set<UInt64>, _ workers: IKEWorkerSet, until deadline: NIODeadline,
                     on loop: EventLoop) -> EventLoopFuture<Int> {
        guard !spis.isEmpty else { return loop.makeSucceededFuture(0) }
        let promise = loop.makePromise(of: Int.self)
        func poll() {
            workers.collect { core in core.gateway.sas.keys.filter { spis.contains($0) }.count }
                .hop(to: loop)
                .whenComplete { result in
                    let held = (try? result.get().reduce(0, +)) ?? 0
                    if held == 0 || NIODeadline.now() >= deadline {
                        promise.succeed(held)
                    } else {
                        loop.scheduleTask(in: OperatorService.pollInterval) { poll() }
                    }
                }
        }
        poll()
        return promise.futureResult
    }
}
