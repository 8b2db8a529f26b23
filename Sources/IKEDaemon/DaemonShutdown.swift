// The daemon's orderly end, started by the first SIGTERM or SIGINT (DaemonSignals.swift):
// each worker deletes its IKE_SAs with the peers (the Deletes go out best-effort,
// DaemonCore.stop), then the installer removes whatever CHILD_SAs are still installed,
// then the sockets close. Later signals find `stopping` set and change nothing here.
import NIOCore

enum DaemonShutdown {
    /// Runs the shutdown on worker 0's loop; `promise` completes once the sockets are closed.
    static func run(_ workers: IKEWorkerSet, channels: [ChannelKey: Channel], completing promise: EventLoopPromise<Void>) {
        let first = workers.first
        first.loop.execute {
            guard !workers.stopping else { return }
            workers.stopping = true
            workers.statusLine().flatMap { line in
                first.logger.info("shutting down: deleting IKE_SAs and CHILD_SAs")
                first.logger.info("\(line)")
                return workers.collect { $0.stop() }
            }.whenComplete { _ in
                first.installer.removeAll(on: first.loop).whenComplete { _ in
                    let closes = channels.values.map { $0.close() }
                    EventLoopFuture.andAllComplete(closes, on: first.loop).whenComplete { _ in promise.succeed(()) }
                }
            }
        }
    }
}
