import Foundation
import Synchronization
import XCTest
@testable import InboundNode

/// The distributor's stop awaits its worker threads (`WorkerEnd`) instead of blocking a
/// thread on a semaphore: it returns once every worker has ended, and only then.
final class WorkerEndTests: XCTestCase {
    /// Threads that run until told to stop, each marking that it ended as its last act
    /// before `workerEnded()`, as the distributor's workers do.
    func testStopReturnsOnceEveryWorkerThreadHasEnded() async {
        let count = 3
        let end = WorkerEnd(count: count)
        let stop = Mutex(false)
        let ended = Mutex(0)
        for _ in 0..<count {
            Thread {
                while !stop.withLock({ $0 }) { usleep(1000) }
                ended.withLock { $0 += 1 }
                end.workerEnded()
            }.start()
        }
        XCTAssertEqual(end.running, count)
        stop.withLock { $0 = true }
        await end.allEnded()
        XCTAssertEqual(ended.withLock { $0 }, count, "every worker ended before the stop returned")
        XCTAssertEqual(end.running, 0)
    }

    /// While one worker still runs, the waiting task is not resumed (it is resumed by the
    /// last worker's end, not by the first).
    func testAWaiterIsResumedByTheLastWorkerNotTheFirst() async {
        let end = WorkerEnd(count: 2)
        let resumed = Mutex(false)
        let waiter = Task {
            await end.allEnded()
            resumed.withLock { $0 = true }
        }
        end.workerEnded()
        XCTAssertEqual(end.running, 1)
        // The waiter may or may not be suspended yet; either way it cannot have been resumed.
        for _ in 0..<100 { await Task.yield() }
        XCTAssertFalse(resumed.withLock { $0 }, "one worker still runs")
        end.workerEnded()
        await waiter.value
        XCTAssertTrue(resumed.withLock { $0 })
    }

    func testNoWorkersMeansNothingToAwait() async {
        await WorkerEnd(count: 0).allEnded()
        let end = WorkerEnd(count: 1)
        end.workerEnded()
        await end.allEnded()
        await end.allEnded()   // twice is fine
        XCTAssertEqual(end.running, 0)
    }
}
