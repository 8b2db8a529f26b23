// `EventLoopFuture.completes(within:)`, the systemd watchdogs' test of the IKE workers and
// the agent (no thread waits on a semaphore): true once the future completes, false at the
// timeout, also when the future's event loop is stuck and never runs its timers.
import Dispatch
import IKEDaemon
import NIOCore
import NIOPosix
import XCTest

final class FutureCompletionTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!

    override func setUp() { group = MultiThreadedEventLoopGroup(numberOfThreads: 1) }

    override func tearDown() async throws { try await group.shutdownGracefully() }

    func testACompletedFutureAnswersTrue() async throws {
        let loop = group.next()
        let succeeded = loop.submit { 1 }
        let failed: EventLoopFuture<Int> = loop.makeFailedFuture(CancellationError())
        let answered = await succeeded.completes(within: .seconds(5))
        XCTAssertTrue(answered)
        let failedAnswered = await failed.completes(within: .seconds(5))
        XCTAssertTrue(failedAnswered, "a failure is an answer too")
    }

    func testAFutureNeverCompletedAnswersFalseAtTheTimeout() async throws {
        let loop = group.next()
        let promise = loop.makePromise(of: Void.self)
        defer { promise.succeed(()) }
        let answered = await promise.futureResult.completes(within: .milliseconds(100))
        XCTAssertFalse(answered)
    }

    func testAStuckEventLoopAnswersFalse() async throws {
        let loop = group.next()
        let release = DispatchSemaphore(value: 0)
        loop.execute { release.wait() }   // the worker hangs
        let probe = loop.submit { true }
        let answered = await probe.completes(within: .milliseconds(200))
        XCTAssertFalse(answered, "the timeout is not the stuck loop's timer")
        release.signal()
        let later = await probe.completes(within: .seconds(5))
        XCTAssertTrue(later, "answered once the loop runs again")
    }
}
