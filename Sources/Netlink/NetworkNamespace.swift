import CMNL
import Glibc

/// A named network namespace, as `ip netns add NAME` makes it (`/run/netns/NAME`).
///
/// A socket belongs for life to the namespace it was opened in, whatever thread uses it
/// later. `open(_:)` runs a piece of code (the socket's creation) with the calling thread in
/// the namespace and puts the thread back before returning, so `XFRMKernel(networkNamespace:)`
/// works like `ip -n NAME xfrm ...` without moving the process.
public enum NetworkNamespace {
    /// Where iproute2 keeps named namespaces.
    public static let directory = "/run/netns"

    /// Runs `body` with the calling thread in network namespace `name`, then returns the
    /// thread to the namespace it was in. Synchronous on purpose: the thread must not change
    /// in between.
    public static func open<Result>(_ name: String, _ body: () throws -> Result) throws -> Result {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw NetlinkError.system(call: "network namespace name '\(name)'", errno: EINVAL)
        }
        let original = Glibc.open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard original >= 0 else { throw NetlinkError.system(call: "open(/proc/thread-self/ns/net)", errno: Glibc.errno) }
        defer { close(original) }
        let path = "\(directory)/\(name)"
        let target = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard target >= 0 else { throw NetlinkError.system(call: "open(\(path))", errno: Glibc.errno) }
        defer { close(target) }
        guard setns(target, VIPSEC_CLONE_NEWNET) == 0 else {
            throw NetlinkError.system(call: "setns(\(path))", errno: Glibc.errno)
        }
        defer {
            // Going back to a namespace this thread was just in cannot fail short of a broken
            // kernel; a thread left in the wrong namespace would open later sockets there.
            if setns(original, VIPSEC_CLONE_NEWNET) != 0 {
                fatalError("setns back to the original network namespace failed: errno \(Glibc.errno)")
            }
        }
        return try body()
    }
}
