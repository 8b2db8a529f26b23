// With several IKE workers, CHILD_SA installs come from several threads; the installers
// (one netlink socket, the cluster's bookkeeping) expect one caller at a time. This wrapper
// takes a lock around each call. Installs are a small part of a setup next to its crypto.
import Foundation
import IKEv2

/// A ChildSAInstaller that lets one call at a time through to `wrapped`.
final class SerializedChildSAInstaller: ChildSAInstaller, @unchecked Sendable {
    let wrapped: ChildSAInstaller
    private let lock = NSLock()

    init(_ wrapped: ChildSAInstaller) {
        self.wrapped = wrapped
    }

    func install(_ childSA: ChildSAInstallation) throws {
        try lock.withLock { try wrapped.install(childSA) }
    }

    func delete(_ childSA: ChildSAInstallation) throws {
        try lock.withLock { try wrapped.delete(childSA) }
    }

    func activateOutbound(_ childSA: ChildSAInstallation) throws {
        try lock.withLock { try wrapped.activateOutbound(childSA) }
    }

    /// Runs `body` under the lock (e.g. the kernel installer's removeAll at shutdown).
    func withWrapped<T>(_ body: (ChildSAInstaller) throws -> T) rethrows -> T {
        try lock.withLock { try body(wrapped) }
    }
}
