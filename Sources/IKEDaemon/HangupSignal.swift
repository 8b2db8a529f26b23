// SIGHUP for the daemons from their first moment: its default action ends the process, so
// a SIGHUP before the daemon can reload (a `systemctl reload` or a log rotation racing the
// start) would kill it. Installed first thing by `vipsec routing` and `vipsec target`;
// ignored and logged until a handler is set (IKEDaemonService's reload; the agent never
// sets one: it has nothing to reload).
//
// One dispatch source for the signal for the whole run: a second source of the same signal
// (and its `signal(SIGHUP, SIG_IGN)`) replaced libdispatch's handler, and SIGHUP was then
// discarded by the kernel (seen: SigIgn bit 0 set, no reload).
import Dispatch
import Foundation
import Logging

public final class HangupSignal: @unchecked Sendable {
    private let source: DispatchSourceSignal
    private let lock = NSLock()
    private var handler: (@Sendable () -> Void)?

    /// `why` ends the log line of an ignored SIGHUP ("signal 1 (SIGHUP) while starting: ignored").
    public init(ignoredWhile why: String, logger: Logger) {
        signal(SIGHUP, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: DispatchQueue(label: "vipsec.sighup"))
        source.setEventHandler { [self] in
            if let handler = lock.withLock({ handler }) {
                handler()
            } else {
                logger.notice("signal \(SIGHUP) (SIGHUP) \(why): ignored")
            }
        }
        source.resume()
    }

    /// From now on a SIGHUP runs `handler` (on the signal's own queue).
    public func handle(_ handler: @escaping @Sendable () -> Void) {
        lock.withLock { self.handler = handler }
    }

    /// Back to ignoring (the daemon stopped).
    public func ignore() {
        lock.withLock { handler = nil }
    }

    deinit { source.cancel() }
}
