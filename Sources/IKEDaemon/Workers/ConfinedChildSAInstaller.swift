// The standalone gateway's installs off the IKE workers: the kernel installer (one netlink
// socket, its table of what is installed) is used by one thread only, a serial queue of its
// own. The workers hand it CHILD_SAs and go on; each outcome comes back on the asking
// worker's event loop. No lock, and no worker waits for the kernel.
import Dispatch
import IKEv2
import NIOCore

/// Runs a `SynchronousChildSAInstaller` on a serial queue: its calls in the order they were
/// made, one at a time, none on the caller's thread.
public final class ConfinedChildSAInstaller: ChildSAInstaller, @unchecked Sendable {
    /// Touched on `queue` only.
    private let wrapped: SynchronousChildSAInstaller
    private let queue = DispatchQueue(label: "vipsec.child-sa-installer")

    public init(_ wrapped: SynchronousChildSAInstaller) {
        self.wrapped = wrapped
    }

    public var installsIntoLocalKernel: Bool { wrapped.installsIntoLocalKernel }

    public func install(_ childSA: ChildSAInstallation, on loop: EventLoop) -> EventLoopFuture<Void> {
        run(on: loop) { try $0.install(childSA) }
    }

    public func delete(_ childSA: ChildSAInstallation, on loop: EventLoop) -> EventLoopFuture<Void> {
        run(on: loop) { try $0.delete(childSA) }
    }

    public func deleteOutbound(_ childSA: ChildSAInstallation, on loop: EventLoop) -> EventLoopFuture<Void> {
        run(on: loop) { try $0.deleteOutbound(childSA) }
    }

    public func activateOutbound(_ childSA: ChildSAInstallation, on loop: EventLoop) -> EventLoopFuture<Void> {
        run(on: loop) { try $0.activateOutbound(childSA) }
    }

    public func removeAll(on loop: EventLoop) -> EventLoopFuture<Void> {
        run(on: loop) { $0.removeAll() }
    }

    /// Runs `body` on the queue; the outcome completes a future on `loop`.
    private func run(on loop: EventLoop, _ body: @escaping (SynchronousChildSAInstaller) throws -> Void) -> EventLoopFuture<Void> {
        let promise = loop.makePromise(of: Void.self)
        queue.async { [wrapped] in
            promise.completeWith(Result { try body(wrapped) })
        }
        return promise.futureResult
    }
}
