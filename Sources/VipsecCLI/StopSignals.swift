import Dispatch
import Foundation

/// SIGTERM and SIGINT for a daemon: the first asks for a graceful stop, any later one for
/// haste. The dispatch sources live as long as this object, which `runUntilSignal` keeps
/// until the stop is over.
///
/// (The sources used to be a local array whose last use was the loop that resumed them: an
/// optimised build may release it right there, the sources were cancelled, and SIGTERM,
/// set to SIG_IGN for them, was then ignored for good: a release `vipsec target` did not
/// stop. A debug build keeps locals to the end of their scope, so it stopped.)
final class StopSignals: @unchecked Sendable {
    private let queue = DispatchQueue(label: "vipsec.signals")
    private let lock = NSLock()
    private var sources: [DispatchSourceSignal] = []
    private var received = 0

    /// `handler(signal, count)` runs on a queue of its own; `count` is 1 for the first signal.
    init(_ handler: @escaping @Sendable (Int32, Int) -> Void) {
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [self] in
                let count = lock.withLock { () -> Int in
                    received += 1
                    return received
                }
                handler(number, count)
            }
            source.resume()
            sources.append(source)
        }
    }

    func cancel() {
        lock.withLock { sources }.forEach { $0.cancel() }
    }
}

/// Starts a service, then waits (suspended: no thread is held) until SIGTERM or SIGINT,
/// then stops it: `stop` at the first signal (after `start` finished: start-up is local and
/// short, so the stop sees everything it set up), `hurry` at every later one. A failed
/// start (which cleans up after itself) is thrown.
func runUntilSignal(start: @escaping @Sendable () async throws -> Void, stop: @escaping @Sendable () async -> Void,
                    hurry: @escaping @Sendable () -> Void = {}) async throws {
    /// What ends the wait: the first stop signal, or a start that failed before any signal.
    enum Event { case stopAsked, startFailed(Error) }
    let (events, sink) = AsyncStream.makeStream(of: Event.self)
    let stopAsked = LockedBox(false)
    let signals = StopSignals { number, count in
        guard count == 1 else {
            FileHandle.standardError.write(Data("signal \(number) again: stopping without waiting for the network\n".utf8))
            hurry()
            return
        }
        FileHandle.standardError.write(Data("signal \(number): stopping\n".utf8))
        stopAsked.value = true
        sink.yield(.stopAsked)
    }
    let starting = Task {
        do {
            try await start()
        } catch {
            // A start cut short by a stop signal is no failure: the stop ends the run.
            if !stopAsked.value { sink.yield(.startFailed(error)) }
            throw error
        }
    }
    var failure: Error?
    for await event in events {
        switch event {
        case .stopAsked:
            _ = await starting.result
            await stop()
        case .startFailed(let error):
            failure = error
        }
        break
    }
    sink.finish()
    withExtendedLifetime(signals) { signals.cancel() }
    if let failure { throw failure }
}

/// Runs `body`, then `cleanup`, whether `body` threw or not: a `defer` that may await.
func withCleanup<T>(_ body: () async throws -> T, cleanup: () async -> Void) async throws -> T {
    let result: T
    do {
        result = try await body()
    } catch {
        await cleanup()
        throw error
    }
    await cleanup()
    return result
}

final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
