import Cluster
import NIOCore

// The routing node's cluster side at a stop: a stop signal first fails the installs the IKE
// daemon waits for (an IKE worker blocks in ClusterChildSAInstaller until the targets
// answer: a frozen target would hold the stop up for the install timeout), then `stop`
// tells the targets to delete their SAs and closes, waiting on the network no longer than
// its bound or a second signal (`hurry`).
extension ClusterService {
    /// A stop signal: pending installs fail now, new ones are refused. Any thread.
    public func abortPendingInstalls() {
        loop.execute { [self] in
            installsRefused = true
            for (_, waiter) in waiters { waiter.fail(ClusterInstallError.shutDown) }
            waiters = [:]
        }
    }

    /// HA step-down: closes every agent connection (the agents keep their SAs for their
    /// grace and reconnect elsewhere); nothing is sent to them. Any thread.
    public func closeAgentConnections() {
        loop.execute { [self] in
            for (_, channel) in connections { channel.close(promise: nil) }
        }
    }

    /// A second stop signal: `stop` no longer waits on the targets. Any thread, any number of times.
    public func hurry() {
        loop.execute { [self] in
            guard !hurriedOnce else { return }
            hurriedOnce = true
            hurryWaiters.forEach { $0.succeed(()) }
            hurryWaiters = []
        }
    }

    /// Stops accepting, closes every connection, fails waiting installs. With `removingSAs`
    /// (a routing node shutting down, whose IKE daemon has deleted its SAs with the peers)
    /// every target is first told to delete every SA it holds, so none outlives the routing
    /// node there for the agents' grace; without it (a routing node that is lost) the
    /// targets keep their SAs for the grace, as they would after a crash. The waits on the
    /// targets (the deletes written, the TLS closes) end at `bound` or at `hurry()`.
    public func stop(removingSAs: Bool, bound: Duration = .seconds(2)) async {
        let timeout = TimeAmount.nanoseconds(bound.nanoseconds)
        if removingSAs {
            let writes: EventLoopFuture<Void> = (try? await loop.submit { [self] () -> EventLoopFuture<Void> in
                stopped = true
                var writes: [EventLoopFuture<Void>] = []
                for sa in authority.currentSAs {
                    // Only the deletes: nothing is negotiated or rekeyed any more.
                    for case .send(let message, let node) in authority.childSADeleted(sa.saID, now: Self.now()) {
                        if let connection = connections[node] { writes.append(connection.writeAndFlush(message)) }
                    }
                }
                return orHurried(EventLoopFuture.andAllComplete(writes, on: loop))
            }.get()) ?? loop.makeSucceededVoidFuture()
            // Bounded: a target that stopped reading must not hold the shutdown up.
            _ = try? await writes.completedOrTimedOut(after: timeout, on: loop).get()
        }
        let closing: EventLoopFuture<Void> = (try? await loop.submit { [self] () -> EventLoopFuture<Void> in
            stopped = true
            ticker?.cancel()
            for (_, waiter) in waiters { waiter.fail(ClusterInstallError.shutDown) }
            waiters = [:]
            var futures = connections.values.map { $0.close() }
            connections = [:]
            if let serverChannel { futures.append(serverChannel.close()) }
            // The status socket's file goes whatever the targets do.
            let status = statusServer?.close() ?? loop.makeSucceededVoidFuture()
            return status.flatMap { [self] in orHurried(EventLoopFuture.andAllComplete(futures, on: loop)) }
        }.get()) ?? loop.makeSucceededVoidFuture()
        _ = try? await closing.completedOrTimedOut(after: timeout, on: loop).get()
    }

    /// `future`, or done at once when the stop is hurried.
    /// (On the loop.)
    private func orHurried(_ future: EventLoopFuture<Void>) -> EventLoopFuture<Void> {
        guard !hurriedOnce else { return loop.makeSucceededVoidFuture() }
        let either = loop.makePromise(of: Void.self)
        future.cascade(to: either)
        hurryWaiters.append(either)
        return either.futureResult
    }
}
