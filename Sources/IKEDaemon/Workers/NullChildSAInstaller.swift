// A ChildSAInstaller that installs nothing and counts what it was asked: for measuring the
// IKE daemon alone on a host without ESP in its kernel (`vipsec routing --no-kernel-installs`,
// profiling under perf). Never a substitute for the kernel in tests of installs.

import IKEv2

/// Counts CHILD_SA installs, activations and deletes; touches no kernel.
public final class NullChildSAInstaller: SynchronousChildSAInstaller, @unchecked Sendable {
    public private(set) var installs = 0
    public private(set) var activations = 0
    public private(set) var deletes = 0
    public private(set) var outboundDeletes = 0

    public init() {}

    public func install(_ childSA: ChildSAInstallation) throws { installs += 1 }
    public func delete(_ childSA: ChildSAInstallation) throws { deletes += 1 }
    public func deleteOutbound(_ childSA: ChildSAInstallation) throws { outboundDeletes += 1 }
    public func activateOutbound(_ childSA: ChildSAInstallation) throws { activations += 1 }
}
