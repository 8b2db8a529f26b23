// The fuzz harness's stand-in for the daemon's shell on `IKEAction.verifyPeer`. A libFuzzer
// entry point is synchronous, so it waits for the asynchronous verification on its own
// thread. Fuzz-only (never in `vipsec`): the daemon runs the verification off its event
// loop and reports it with `IKESA.peerVerified` (DaemonCore+Actions.swift).
import Dispatch
import IKEv2

enum FuzzVerification {
    /// Runs `verification` to its end and returns its outcome (blocks the calling thread).
    static func runToEnd(_ verification: PeerVerification) -> PeerAuthenticationFailure? {
        let box = Outcome()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            box.failure = await verification.run()
            done.signal()
        }
        done.wait()
        return box.failure
    }

    /// Where the task leaves its outcome (read after the semaphore).
    private final class Outcome: @unchecked Sendable { var failure: PeerAuthenticationFailure? }
}
