// The daemon's signals while it runs: SIGTERM and SIGINT stop it (DaemonShutdown.swift; a
// second one only tells `onStopSignal`, which hurries the cluster), SIGUSR1 logs the
// counters (GatewayStatus.swift, summed over workers). SIGHUP, the reload, has its own
// source for the whole process (HangupSignal.swift).
import Dispatch
import Foundation
import Logging
import NIOCore

/// The signal sources of one daemon run, on one serial queue; `cancel()` once stopped.
final class DaemonSignals {
    private let queue = DispatchQueue(label: "vipsec.signals")
    private var sources: [DispatchSourceSignal] = []

    /// Touched on `queue` only (serial).
    private final class Count: @unchecked Sendable { var value = 0 }

    /// SIGTERM/SIGINT: `onStopSignal(count)` (1 for the first), then the workers' shutdown,
    /// which completes `stopped`. SIGUSR1: the status lines (and `extraStatusLines`) into the log.
    init(workers: IKEWorkerSet, channels: [ChannelKey: Channel], stopped: EventLoopPromise<Void>,
         onStopSignal: (@Sendable (Int) -> Void)?, extraStatusLines: (@Sendable () -> [String])?, logger: Logger) {
        let signalCount = Count()
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler {
                signalCount.value += 1
                onStopSignal?(signalCount.value)
                if signalCount.value > 1 {
                    logger.info("signal \(signalNumber) again: stopping without waiting for the network")
                } else {
                    logger.info("signal \(signalNumber): stopping")
                }
                DaemonShutdown.run(workers, channels: channels, completing: stopped)
            }
            source.resume()
            sources.append(source)
        }
        signal(SIGUSR1, SIG_IGN)
        let status = DispatchSource.makeSignalSource(signal: SIGUSR1, queue: queue)
        status.setEventHandler {
            workers.statusLine().whenSuccess { logger.info("\($0)") }
            extraStatusLines?().forEach { logger.info("\($0)") }
            workers.collect { [$0.expiry.statusLine] + $0.gateway.ikeSALines }
                .whenSuccess { lines in lines.joined().forEach { logger.info("\($0)") } }
        }
        status.resume()
        sources.append(status)
    }

    /// Stops listening (the signals stay ignored: SIG_IGN).
    func cancel() {
        sources.forEach { $0.cancel() }
    }
}
