// The daemons' process hardening.
//
// Core dumps: the process holds IKE and ESP keys, so it must not be dumped (a core file,
// or ptrace and /proc/PID/mem by a user other than root). PR_SET_DUMPABLE 0 covers the
// whole process (the memory map is shared by all threads).
//
// Privileges: once `vipsec routing` and `vipsec target` have bound their sockets they keep
// CAP_NET_ADMIN alone (XFRM and rtnetlink, NFQUEUE, nft, the net sysctls) in the effective,
// permitted and inheritable sets and in the bounding set, and optionally switch to a
// configured user and group (with PR_SET_KEEPCAPS, and CAP_NET_ADMIN ambient so that the
// nft the inbound distributor runs keeps it). CAP_NET_BIND_SERVICE is not kept: every
// socket is bound before the drop and a reload cannot bind new ones (a change of
// `vipsec { }` needs a restart). Linux keeps capabilities and ids per thread, and the
// daemons run many threads by then: CHardening applies the change in each thread
// (hardening.c), and `verifyAllThreads` reads every thread's /proc status back.
import CHardening
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why the process could not be hardened.
public struct HardeningError: Error, CustomStringConvertible {
    public let description: String
}

public enum Hardening {
    /// Marks the process not dumpable. Throws with the reason when the kernel refuses.
    public static func disableCoreDumps() throws {
        let result = vipsec_set_dumpable(0)
        guard result == 0 else { throw HardeningError(description: "prctl(PR_SET_DUMPABLE, 0) failed: errno \(-result)") }
    }

    /// glibc overwrites freed heap blocks from now on (`vipsec_wipe_freed_memory`): for key
    /// bytes a library frees without zeroing, as BoringSSL does with each TLS record it
    /// decrypted in place (its read buffer is sized to the record: an InstallSA's is a few
    /// hundred bytes). The agent turns it on: its cluster channel carries InstallSA keys.
    /// glibc does not overwrite blocks a thread's tcache keeps (up to 1032 bytes), so the
    /// agent also runs without tcaches (`reexecWithoutThreadCaches`).
    public static func wipeFreedMemory() throws {
        guard vipsec_wipe_freed_memory() == 1 else { throw HardeningError(description: "mallopt(M_PERTURB) refused") }
    }

    /// The glibc tunable that gives the threads no malloc cache (tcache): every freed block
    /// then goes through the path that `wipeFreedMemory` overwrites.
    public static let noThreadCacheTunable = "glibc.malloc.tcache_count=0"

    /// Whether this process started with `noThreadCacheTunable` (glibc reads tunables at
    /// start only).
    public static var startedWithoutThreadCaches: Bool {
        (ProcessInfo.processInfo.environment["GLIBC_TUNABLES"] ?? "").split(separator: ":").contains { $0 == noThreadCacheTunable }
    }

    /// Executes this program again, same arguments, with `noThreadCacheTunable` added to
    /// GLIBC_TUNABLES, unless it started with it. Returns only when it did (nil), or with
    /// the reason when execv failed (the program then goes on with its tcaches).
    public static func reexecWithoutThreadCaches() -> String? {
        guard !startedWithoutThreadCaches else { return nil }
        let current = ProcessInfo.processInfo.environment["GLIBC_TUNABLES"] ?? ""
        setenv("GLIBC_TUNABLES", current.isEmpty ? noThreadCacheTunable : current + ":" + noThreadCacheTunable, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        return "execv(/proc/self/exe) with GLIBC_TUNABLES=\(noThreadCacheTunable) failed: errno \(errno)"
    }

    /// Dumpable again (tests only: they run in the test runner's own process).
    static func restoreDumpableForTests() { _ = vipsec_set_dumpable(1) }

    /// False once `disableCoreDumps()` ran.
    public static var isDumpable: Bool { vipsec_get_dumpable() == 1 }

    /// CAP_NET_ADMIN (linux/capability.h).
    public static let netAdmin: Int = 12
    /// What the daemons keep: CAP_NET_ADMIN.
    public static let daemonCapabilities: [Int] = [netAdmin]

    /// The capability set with bits `capabilities` (as /proc/PID/status shows it, 0x1000 for CAP_NET_ADMIN).
    public static func mask(_ capabilities: [Int]) -> UInt64 {
        capabilities.reduce(0) { $0 | (1 << UInt64($1)) }
    }

    /// Drops every capability but `capabilities` in every thread (effective, permitted,
    /// inheritable, bounding; ambient too unless switching to a user other than root),
    /// switches to `gid` and `uid` when given, keeps the process not dumpable, then checks
    /// each thread's /proc status. Returns the threads changed.
    @discardableResult
    public static func dropPrivileges(keeping capabilities: [Int] = daemonCapabilities, uid: UInt32? = nil,
                                      gid: UInt32? = nil) throws -> Int {
        if let now = readSmallFile("/proc/self/status").flatMap(ThreadCredentials.init(status:)) {
            try checkPossible(from: now, keeping: mask(capabilities), switchingIDs: uid != nil || gid != nil)
        }
        var wanted = vipsec_privileges(keep: mask(capabilities), last_cap: lastCapability(), set_gid: gid == nil ? 0 : 1,
                                       gid: gid ?? 0, set_uid: uid == nil ? 0 : 1, uid: uid ?? 0)
        var threads: Int32 = 0
        let result = vipsec_drop_privileges(&wanted, 5000, &threads)
        guard result == 0 else {
            let reason = result == -ETIMEDOUT ? "a thread did not answer within 5 s" : String(cString: strerror(-result))
            throw HardeningError(description: "dropping privileges failed: \(reason)")
        }
        try verifyAllThreads(ThreadCredentials.expected(capabilities: capabilities, uid: uid, gid: gid))
        return Int(threads)
    }

    /// CAP_SETPCAP: narrowing the bounding set; CAP_SETUID/CAP_SETGID: the user and group.
    static let setpcap = 8, setuid = 7, setgid = 6

    /// Refuses, naming the capability, a drop the process lacks the means for (a systemd unit
    /// whose CapabilityBoundingSet left out what the daemon needs to narrow it further).
    static func checkPossible(from now: ThreadCredentials, keeping keep: UInt64, switchingIDs: Bool) throws {
        func has(_ capability: Int) -> Bool { now.effective & (1 << UInt64(capability)) != 0 }
        if now.bounding & ~keep != 0, !has(setpcap) {
            throw HardeningError(description: "the bounding set holds more than CAP_NET_ADMIN (0x\(String(now.bounding, radix: 16))) "
                + "but CAP_SETPCAP, needed to drop the rest, is missing (systemd: add it to CapabilityBoundingSet)")
        }
        if switchingIDs, !has(setuid) || !has(setgid) {
            throw HardeningError(description: "user/group set but CAP_SETUID or CAP_SETGID is missing "
                + "(systemd: add both to CapabilityBoundingSet)")
        }
    }

    /// Every thread of this process has `expected` (read from /proc/self/task/TID/status).
    public static func verifyAllThreads(_ expected: ThreadCredentials) throws {
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else {
            throw HardeningError(description: "cannot list /proc/self/task")
        }
        for name in tasks {
            // A thread that ended meanwhile has no status left: nothing to check.
            guard let text = readSmallFile("/proc/self/task/\(name)/status"), let found = ThreadCredentials(status: text) else { continue }
            guard expected.matches(found) else {
                throw HardeningError(description: "thread \(name) has \(found), wanted \(expected)")
            }
        }
    }

    static func lastCapability() -> Int32 {
        readSmallFile("/proc/sys/kernel/cap_last_cap").flatMap { Int32($0.filter(\.isNumber)) } ?? 40
    }

    /// A /proc file (Foundation reads to the end; /proc reports a size of 0).
    static func readSmallFile(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }
}

/// A thread's capabilities and ids as /proc/PID/status shows them.
public struct ThreadCredentials: Equatable, CustomStringConvertible {
    public var effective: UInt64, permitted: UInt64, inheritable: UInt64, bounding: UInt64, ambient: UInt64
    /// Real, effective, saved, filesystem.
    public var uids: [UInt32], gids: [UInt32]

    /// What `dropPrivileges` leaves: `capabilities` everywhere (ambient only for a user
    /// other than root), and the ids asked for (nil: not checked).
    static func expected(capabilities: [Int], uid: UInt32?, gid: UInt32?) -> ThreadCredentials {
        let mask = Hardening.mask(capabilities)
        return ThreadCredentials(effective: mask, permitted: mask, inheritable: mask, bounding: mask,
                                 ambient: uid.map { $0 == 0 ? 0 : mask } ?? 0,
                                 uids: uid.map { Array(repeating: $0, count: 4) } ?? [],
                                 gids: gid.map { Array(repeating: $0, count: 4) } ?? [])
    }

    public init(effective: UInt64, permitted: UInt64, inheritable: UInt64, bounding: UInt64, ambient: UInt64,
                uids: [UInt32], gids: [UInt32]) {
        (self.effective, self.permitted, self.inheritable, self.bounding, self.ambient) = (effective, permitted, inheritable, bounding, ambient)
        (self.uids, self.gids) = (uids, gids)
    }

    /// Parses /proc/PID/status (`CapEff:\t0000000000001000`, `Uid:\t0\t0\t0\t0`); nil when a line is missing.
    public init?(status text: String) {
        var fields: [String: [Substring]] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" })
        }
        func capabilities(_ key: String) -> UInt64? { fields[key]?.first.flatMap { UInt64($0, radix: 16) } }
        func ids(_ key: String) -> [UInt32]? {
            let values = fields[key]?.compactMap { UInt32($0) } ?? []
            return values.count == 4 ? values : nil
        }
        guard let effective = capabilities("CapEff"), let permitted = capabilities("CapPrm"), let inheritable = capabilities("CapInh"),
              let bounding = capabilities("CapBnd"), let uids = ids("Uid"), let gids = ids("Gid") else { return nil }
        self.init(effective: effective, permitted: permitted, inheritable: inheritable, bounding: bounding,
                  ambient: capabilities("CapAmb") ?? 0, uids: uids, gids: gids)
    }

    /// Equal, except that empty `uids`/`gids` here match any.
    func matches(_ other: ThreadCredentials) -> Bool {
        effective == other.effective && permitted == other.permitted && inheritable == other.inheritable
            && bounding == other.bounding && ambient == other.ambient
            && (uids.isEmpty || uids == other.uids) && (gids.isEmpty || gids == other.gids)
    }

    public var description: String {
        func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
        return "CapEff \(hex(effective)) CapPrm \(hex(permitted)) CapInh \(hex(inheritable)) CapBnd \(hex(bounding)) "
            + "CapAmb \(hex(ambient))\(uids.isEmpty ? "" : " Uid \(uids[0])")\(gids.isEmpty ? "" : " Gid \(gids[0])")"
    }
}
