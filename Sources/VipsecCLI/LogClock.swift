// The log lines' timestamps cost a file-system lookup each unless TZ is set: swift-log's
// StreamLogHandler formats them with localtime(3), and glibc's localtime, with TZ unset,
// stat()s /etc/localtime on every call to notice a changed zone. That is ~1 µs on a local
// disk but ~3 ms of CPU under the lab VM's 9p root, and the daemon writes a few lines per
// IKE_SA: it was the largest single item of a setup's cost there (README, Benchmarks).
#if canImport(Glibc)
import Glibc
#endif

enum LogClock {
    /// With TZ unset, sets it to the zone file glibc would read (`:/etc/localtime`), so the
    /// zone is read once: the same local-time timestamps, without the lookup per line. A
    /// running daemon then does not notice a change of the system's zone (like most daemons).
    /// Call before any thread starts (setenv is not thread-safe).
    static func pinLocalTimeZone() {
        #if canImport(Glibc)
        if getenv("TZ") == nil { setenv("TZ", ":/etc/localtime", 0) }
        #endif
    }
}
