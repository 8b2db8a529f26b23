import NIOCore
import NIOPosix

/// The one thread that talks to the agent's kernel. Netlink calls block (the first SA of an
/// algorithm makes the kernel load crypto modules: seconds under emulation), so they never
/// run on the agent's event loop, whose heartbeats and reads must keep flowing.
///
/// A single thread keeps the kernel calls in the order they were asked for (an install
/// before the delete that follows it) and keeps `AgentKernel` implementations, which are not
/// thread-safe, on one thread. Results come back as futures on the agent's loop, in order.
final class KernelWorker: @unchecked Sendable {
    private let pool: NIOThreadPool
    private let loop: EventLoop

    init(loop: EventLoop) {
        self.loop = loop
        pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
    }

    /// Runs `body` on the kernel thread; the future completes on the agent's loop. Fails
    /// (without running `body`) once the worker was shut down.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) -> EventLoopFuture<T> {
        pool.runIfActive(eventLoop: loop, body)
    }

    /// Lets queued calls finish, then ends the thread.
    func shutdown() async {
        try? await pool.shutdownGracefully()
    }
}
