// Carries out the control socket's requests on a running daemon: the listing gathered from
// every IKE worker, the commands sent to the worker holding the SA, then (as swanctl does)
// a wait until the effect shows in the listing or the request's timeout passes.
import IKEv2
import NIOCore

/// Adds what the IKE core does not know to a listing: the kernel's byte and packet
/// counters (standalone), the holders and lifesize reports (cluster). Runs on `loop`.
public typealias SAListingEnricher = @Sendable ([IKESAEntry], EventLoop) -> EventLoopFuture<[IKESAEntry]>

/// The daemon side of `vipsec list-sas`, `initiate`, `terminate`, `rekey`.
public final class OperatorService: @unchecked Sendable {
    let control: IKEDaemonControl
    let enrich: SAListingEnricher?
    /// The connection table's lister (nil: no inbound distributor here).
    let listConnections: ConnectionLister?
    /// Listing polls while waiting for a command's effect.
    static let pollInterval = TimeAmount.milliseconds(200)

    public init(control: IKEDaemonControl, enrich: SAListingEnricher? = nil, connections: ConnectionLister? = nil) {
        self.control = control
        self.enrich = enrich
        self.listConnections = connections
    }

    /// The answer to `request`; completes on `loop`.
    public func handle(_ request: OperatorRequest, on loop: EventLoop) -> EventLoopFuture<OperatorResponse> {
        var request = request
        request.timeout = request.boundedTimeout
        if request.command == .connections { return connections(request, on: loop) }
        guard let workers = control.running else {
            return loop.makeSucceededFuture(.failure("the IKE daemon is not running (yet)"))
        }
        switch request.command {
        case .listSAs:
            return listing(workers, on: loop).flatMap { self.enriched($0, on: loop) }
                .map { OperatorResponse(ok: true, sas: SAList(ikeSAs: $0)) }
        case .initiate:
            return initiate(request, workers, on: loop)
        case .terminate, .rekey:
            guard let selector = request.selector else { return loop.makeSucceededFuture(.failure("no SA named")) }
            return act(request.command, selector, timeout: request.timeout, workers, on: loop)
        case .redirect:
            return redirect(request, workers, on: loop)
        case .reload:
            return ConfigReload.run(workers, timeout: request.timeout, on: loop)
        case .connections:
            return connections(request, on: loop)
        }
    }

    /// `vipsec redirect`: new peers go to another gateway from now on (RFC 5685; replaces
    /// `vipsec { redirect { } }` until the daemon restarts), or are served again (`--off`).
    func redirect(_ request: OperatorRequest, _ workers: IKEWorkerSet, on loop: EventLoop) -> EventLoopFuture<OperatorResponse> {
        var rule: RedirectSettings?
        if let text = request.gateway {
            guard let gateway = RedirectSettings.gateway(text) else {
                return loop.makeSucceededFuture(.failure("'\(text)' is neither an IP address nor a host name"))
            }
            let above = request.aboveIKESAs ?? 0
            guard above >= 0 else {
                return loop.makeSucceededFuture(.failure("above_ike_sas must not be negative"))
            }
            rule = RedirectSettings(gateway: gateway, aboveIKESAs: above)
        }
        let message = rule.map { "new IKE_SAs are redirected to \($0.gateway)"
            + ($0.aboveIKESAs > 0 ? " while \($0.aboveIKESAs) or more are held" : "") } ?? "redirect off: new IKE_SAs are served here"
        let chosen = rule, moveEstablished = request.established == true
        return workers.collect { core -> Int in
            core.gateway.redirect = chosen
            guard moveEstablished, let gateway = chosen?.gateway else { return 0 }
            let (count, actions) = core.gateway.redirectEstablished(to: gateway, now: DaemonCore.now)
            core.perform(actions)
            return count
        }
        .map { counts in
            let moved = moveEstablished ? ["\(counts.reduce(0, +)) established IKE_SA(s) asked to move (peers that announced REDIRECT_SUPPORTED)"] : []
            return OperatorResponse(ok: true, messages: [message] + moved)
        }
        .hop(to: loop)
    }

    func listing(_ workers: IKEWorkerSet, on loop: EventLoop) -> EventLoopFuture<[IKESAEntry]> {
        workers.collect { $0.gateway.operatorListing(now: DaemonCore.now) }
            .map { lists in lists.flatMap { $0 }.sorted { ($0.name, $0.uniqueID) < ($1.name, $1.uniqueID) } }
            .hop(to: loop)
    }

    func enriched(_ entries: [IKESAEntry], on loop: EventLoop) -> EventLoopFuture<[IKESAEntry]> {
        guard let enrich else { return loop.makeSucceededFuture(entries) }
        return enrich(entries, loop).hop(to: loop)
    }

    // MARK: initiate

    func initiate(_ request: OperatorRequest, _ workers: IKEWorkerSet, on loop: EventLoop) -> EventLoopFuture<OperatorResponse> {
        // The running configuration belongs to worker 0's loop (a reload replaces it there).
        workers.first.loop.submit { workers.first.config }.hop(to: loop).flatMap { config in
            self.initiate(request, config, workers, on: loop)
        }
    }

    func initiate(_ request: OperatorRequest, _ config: DaemonConfig, _ workers: IKEWorkerSet,
                  on loop: EventLoop) -> EventLoopFuture<OperatorResponse> {
        let name = request.connection ?? ""
        guard let index = config.connections.firstIndex(where: { $0.name == name }) else {
            let known = config.connections.map(\.name).joined(separator: ", ")
            return loop.makeSucceededFuture(.failure("no connection '\(name)' (configured: \(known.isEmpty ? "none" : known))"))
        }
        let connection = config.connections[index]
        if let child = request.child, !connection.children.contains(where: { $0.name == child }) {
            let known = connection.children.map(\.name).joined(separator: ", ")
            return loop.makeSucceededFuture(.failure("connection '\(name)' has no child '\(child)' (children: \(known))"))
        }
        guard let remoteText = connection.remoteAddresses.first, let remote = IPPrefix.parseAddress(remoteText),
              let localText = connection.localAddresses.first ?? config.settings.listenAddresses.first,
              let local = IPPrefix.parseAddress(localText), local.contains(where: { $0 != 0 }) else {
            return loop.makeSucceededFuture(.failure("connection '\(name)' cannot be initiated: it needs remote_addrs and local_addrs (or vipsec { listen }) with one address each"))
        }
        let port = UInt16(config.settings.ikePort)
        let child = request.child
        // The worker holding an IKE_SA of the connection makes the CHILD_SA; else worker 0 initiates.
        return workers.collect { core in core.gateway.sas.values.contains { $0.configuration.name == name && $0.phase == .established } }
            .flatMap { holds in
                let core = workers.cores[holds.firstIndex(of: true) ?? 0]
                return core.loop.submit {
                    // By name: a reload in between may have moved the connection in the list.
                    guard let index = core.config.connections.firstIndex(where: { $0.name == name }) else { return }
                    core.perform(core.gateway.operatorInitiate(index: index, child: child, local: IKEEndpoint(address: local, port: port),
                                                              remote: IKEEndpoint(address: remote, port: port), now: DaemonCore.now))
                }
            }
            .hop(to: loop)
            .flatMap { _ in
                let what = "\(name)\(child.map { "/\($0)" } ?? "")"
                return self.wait(request.timeout, workers, on: loop, done: "\(what) established",
                                 late: "\(what) not established within \(Int(request.timeout)) s (see the daemon's log)") {
                    OperatorOutcome.initiated(connection: name, child: child, in: $0)
                }
            }
    }

    // MARK: terminate, rekey

    func act(_ command: OperatorRequest.Command, _ selector: SASelector, timeout: Double, _ workers: IKEWorkerSet,
             on loop: EventLoop) -> EventLoopFuture<OperatorResponse> {
        listing(workers, on: loop).flatMap { before in
            let selected = SelectedSAs(selector, in: before)
            guard !selected.isEmpty else {
                return loop.makeSucceededFuture(.failure("no established \(selector)"))
            }
            let dispatched = workers.cores.map { core in
                core.loop.submit {
                    let now = DaemonCore.now
                    for spi in selected.ikeSAs where core.gateway.sas[spi] != nil {
                        core.perform(command == .terminate ? core.gateway.operatorTerminate(ikeSA: spi, now: now)
                                                           : core.gateway.operatorRekey(ikeSA: spi, now: now))
                    }
                }
            }
            for child in selected.childSAs {   // routed to the worker holding it, as the cluster's commands are
                _ = command == .terminate ? self.control.deleteChildSA(inboundSPI: child.inboundSPI)
                                          : self.control.rekeyChildSA(inboundSPI: child.inboundSPI)
            }
            let count = selected.ikeSAs.count + selected.childSAs.count
            let verb = command == .terminate ? "terminated" : "rekeyed"
            return EventLoopFuture.andAllSucceed(dispatched, on: loop).flatMap {
                self.wait(timeout, workers, on: loop, done: "\(selector): \(count) SA(s) \(verb)",
                          late: "\(selector): not \(verb) within \(Int(timeout)) s (see the daemon's log)") { list in
                    command == .terminate ? selected.allGone(from: list)
                        : OperatorOutcome.rekeyed(selected, before: before, in: list)
                }
            }
        }
    }

    /// Polls the listing until `reached` holds (ok) or `timeout` passes (failure); 0: no wait.
    func wait(_ timeout: Double, _ workers: IKEWorkerSet, on loop: EventLoop, done: String, late: String,
              reached: @escaping ([IKESAEntry]) -> Bool) -> EventLoopFuture<OperatorResponse> {
        let deadline = NIODeadline.now() + .milliseconds(Int64(max(0, timeout) * 1000))
        let promise = loop.makePromise(of: OperatorResponse.self)
        // The polls read names, ids and states only; the kernel's or the targets' counters
        // (the enricher: netlink or the cluster's status) are added to the answer alone.
        func answer(_ list: [IKESAEntry], ok: Bool, message: String) {
            enriched(list, on: loop).whenComplete { result in
                let sas = SAList(ikeSAs: (try? result.get()) ?? list)
                promise.succeed(ok ? OperatorResponse(ok: true, messages: [message], sas: sas)
                                   : OperatorResponse(ok: false, error: message, sas: sas))
            }
        }
        func poll() {
            listing(workers, on: loop).whenComplete { result in
                switch result {
                case .failure(let error):
                    promise.succeed(.failure("listing failed: \(error)"))
                case .success(let list):
                    if timeout <= 0 {
                        answer(list, ok: true, message: "requested")
                    } else if reached(list) {
                        answer(list, ok: true, message: done)
                    } else if NIODeadline.now() >= deadline {
                        answer(list, ok: false, message: late)
                    } else {
                        loop.scheduleTask(in: Self.pollInterval) { poll() }
                    }
                }
            }
        }
        poll()
        return promise.futureResult
    }
}
