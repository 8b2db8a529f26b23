// The daemons' process hardening: the process holds IKE and ESP keys, so it must not be
// dumped (a core file, gcore, ptrace or /proc/PID/mem by a non-root user would expose
// them). PR_SET_DUMPABLE 0 covers the whole process (the memory map is shared by all
// threads). Capabilities are left to the unit's CapabilityBoundingSet (systemd/): capset(2)
// changes only the calling thread, and the daemons run many threads once started.
import CHardening

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

    /// Dumpable again (tests only: they run in the test runner's own process).
    static func restoreDumpableForTests() { _ = vipsec_set_dumpable(1) }

    /// False once `disableCoreDumps()` ran.
    public static var isDumpable: Bool { vipsec_get_dumpable() == 1 }
}
