// prctl(2), capset(2) and the id syscalls for Swift (variadic or missing from Glibc's module).
#ifndef VIPSEC_HARDENING_H
#define VIPSEC_HARDENING_H

#include <stdint.h>

/// prctl(PR_SET_DUMPABLE, value). 0: no core dump of this process, and /proc/PID/mem,
/// ptrace attach and /proc/PID/environ closed to everyone but root. Returns 0 or -errno.
int vipsec_set_dumpable(int value);

/// prctl(PR_GET_DUMPABLE): 1 when dumpable, 0 when not, -errno on error.
int vipsec_get_dumpable(void);

/// mallopt(M_PERTURB, 0x5a): from now on glibc overwrites every block freed that does not go
/// to a thread's tcache (blocks over 1032 bytes always) with 0x5a, and fills every new
/// block with 0xa5. For buffers that libraries free without zeroing (BoringSSL decrypts each
/// TLS record in place in its read buffer). Returns 1 when glibc accepted it.
int vipsec_wipe_freed_memory(void);

/// What every thread of the process is to keep (vipsec_drop_privileges).
struct vipsec_privileges {
    /// Capabilities kept in the effective, permitted and inheritable sets and in the
    /// bounding set (bit N: capability N); every other one is dropped.
    uint64_t keep;
    /// The highest capability number the kernel knows (/proc/sys/kernel/cap_last_cap).
    int last_cap;
    /// Non-zero: setgroups({gid}), setresgid(gid) (before the uid).
    int set_gid;
    uint32_t gid;
    /// Non-zero: setresuid(uid) with PR_SET_KEEPCAPS, so the kept capabilities survive, and
    /// `keep` raised as ambient capabilities (a program this user starts, nft, keeps them).
    int set_uid;
    uint32_t uid;
};

/// Applies `wanted` to every thread of this process: capabilities, bounding set and ids are
/// per thread in Linux (capset(2) and the raw id syscalls change the caller only). The
/// other threads are signalled (SIGSYS: libdispatch's worker threads block every
/// asynchronous signal but a few synchronous ones, and nothing here raises SIGSYS; the
/// previous action is restored) and each applies it to itself in the handler; the caller
/// goes last. The thread list (/proc/self/task) is read again until a pass finds no thread
/// left to do, so threads started meanwhile are covered. Returns 0, or -errno of the first
/// failure in any thread, or -ETIMEDOUT when a thread did not answer within `timeout_ms`.
/// `threads` receives how many threads were changed.
int vipsec_drop_privileges(const struct vipsec_privileges *wanted, int timeout_ms, int *threads);

/// The same for the calling thread only (returns 0 or -errno).
int vipsec_drop_privileges_this_thread(const struct vipsec_privileges *wanted);

#endif
