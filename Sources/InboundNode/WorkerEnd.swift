// How the distributor's stop waits for its worker threads without blocking a thread: each
// worker says when it ends, and `allEnded()` resumes once the last one has (a continuation,
// not a semaphore: the awaiting task's thread is free meanwhile).
import Synchronization

/// A count of running worker threads and the tasks awaiting their end.
final class WorkerEnd: Sendable {
    private struct State {
        var running: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state: Mutex<State>

    /// `count` workers are (about to be) running.
    init(count: Int) {
        state = Mutex(State(running: count))
    }

    /// How many workers have not ended yet.
    var running: Int { state.withLock { $0.running } }

    /// A worker ended (called on its own thread as its last act); the last one resumes
    /// every waiter.
    func workerEnded() {
        let resume = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            precondition(state.running > 0, "more workers ended than started")
            state.running -= 1
            guard state.running == 0 else { return [] }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in resume { waiter.resume() }
    }

    /// Returns once every worker has ended (at once when none runs).
    func allEnded() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                if state.running == 0 { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }
}
