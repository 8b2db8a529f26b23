#define _GNU_SOURCE
#include "vipsec_hardening.h"
#include <dirent.h>
#include <errno.h>
#include <linux/capability.h>
#include <malloc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int vipsec_set_dumpable(int value) {
    return prctl(PR_SET_DUMPABLE, value, 0, 0, 0) == 0 ? 0 : -errno;
}

int vipsec_wipe_freed_memory(void) {
    return mallopt(M_PERTURB, 0x5a);
}

int vipsec_get_dumpable(void) {
    int value = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
    return value < 0 ? -errno : value;
}

// True when the thread's real, effective and saved ids (getresuid/getresgid) are all `id`.
static int has_ids(long call, uint32_t id) {
    uint32_t real, effective, saved;
    if (syscall(call, &real, &effective, &saved) != 0) return 0;
    return real == id && effective == id && saved == id;
}

// Only raw syscalls and prctl: async-signal-safe, and each affects the calling thread only
// (glibc's setresuid() would itself signal every thread).
int vipsec_drop_privileges_this_thread(const struct vipsec_privileges *wanted) {
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) return -errno;
    // The bounding set first: PR_CAPBSET_DROP needs CAP_SETPCAP, which goes below.
    for (int cap = 0; cap <= wanted->last_cap && cap < 64; cap++) {
        if (wanted->keep & (1ULL << cap)) continue;
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) return -errno;
    }
    // Idempotent: a thread started meanwhile by a thread already changed inherited the ids
    // (and no longer has CAP_SETGID/CAP_SETUID to set them again).
    if (wanted->set_gid && !has_ids(SYS_getresgid, wanted->gid)) {
        gid_t gid = wanted->gid;
        if (syscall(SYS_setgroups, 1, &gid) != 0) return -errno;
        if (syscall(SYS_setresgid, gid, gid, gid) != 0) return -errno;
    }
    if (wanted->set_uid && !has_ids(SYS_getresuid, wanted->uid)) {
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return -errno;
        if (syscall(SYS_setresuid, wanted->uid, wanted->uid, wanted->uid) != 0) return -errno;
        if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return -errno;
    }
    struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    for (int i = 0; i < 2; i++) {
        uint32_t word = (uint32_t)(wanted->keep >> (32 * i));
        data[i].effective = word;
        data[i].permitted = word;
        data[i].inheritable = word;
    }
    if (syscall(SYS_capset, &header, data) != 0) return -errno;
    if (wanted->set_uid && wanted->uid != 0) {
        for (int cap = 0; cap <= wanted->last_cap && cap < 64; cap++) {
            if (!(wanted->keep & (1ULL << cap))) continue;
            if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) return -errno;
        }
    }
    // A change of uid resets the process's dumpable flag to fs.suid_dumpable: set it again.
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return -errno;
    return 0;
}

#define MAX_THREADS 4096
static const struct vipsec_privileges *broadcast_wanted;
static pid_t answered[MAX_THREADS];
static atomic_int answered_count;
static atomic_int first_failure;

static void on_broadcast(int signal, siginfo_t *info, void *context) {
    (void)signal; (void)info; (void)context;
    int saved = errno;
    int result = vipsec_drop_privileges_this_thread(broadcast_wanted);
    if (result != 0) {
        int none = 0;
        atomic_compare_exchange_strong(&first_failure, &none, result);
    }
    int slot = atomic_fetch_add(&answered_count, 1);
    if (slot < MAX_THREADS) answered[slot] = (pid_t)syscall(SYS_gettid);
    errno = saved;
}

static int has_answered(pid_t tid) {
    int count = atomic_load(&answered_count);
    if (count > MAX_THREADS) count = MAX_THREADS;
    for (int i = 0; i < count; i++) if (answered[i] == tid) return 1;
    return 0;
}

static int task_exists(pid_t tid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d", (int)tid);
    return access(path, F_OK) == 0;
}

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int vipsec_drop_privileges(const struct vipsec_privileges *wanted, int timeout_ms, int *threads) {
    pid_t self = (pid_t)syscall(SYS_gettid), pid = getpid();
    broadcast_wanted = wanted;
    atomic_store(&answered_count, 0);
    atomic_store(&first_failure, 0);
    struct sigaction action, previous;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_broadcast;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&action.sa_mask);
    if (sigaction(SIGSYS, &action, &previous) != 0) return -errno;
    // SIGSYS must reach this thread's siblings: unblock it here (inherited by new threads).
    sigset_t sys;
    sigemptyset(&sys);
    sigaddset(&sys, SIGSYS);
    pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
    long deadline = now_ms() + timeout_ms;
    int result = 0;
    for (;;) {
        DIR *tasks = opendir("/proc/self/task");
        if (!tasks) { result = -errno; break; }
        pid_t pending[MAX_THREADS];
        int pending_count = 0;
        struct dirent *entry;
        while ((entry = readdir(tasks)) != NULL) {
            pid_t tid = (pid_t)atoi(entry->d_name);
            if (tid <= 0 || tid == self || has_answered(tid)) continue;
            if (syscall(SYS_tgkill, pid, tid, SIGSYS) != 0) continue;   // gone meanwhile
            if (pending_count < MAX_THREADS) pending[pending_count++] = tid;
        }
        closedir(tasks);
        if (pending_count == 0) break;
        for (int i = 0; i < pending_count; i++) {
            while (!has_answered(pending[i]) && task_exists(pending[i])) {
                if (now_ms() > deadline) { result = -ETIMEDOUT; goto done; }
                struct timespec pause = { 0, 1000000 };
                nanosleep(&pause, NULL);
            }
        }
    }
done:
    if (result == -ETIMEDOUT) {
        // A thread that never answered may still get its SIGSYS: let it be discarded.
        struct sigaction ignore;
        memset(&ignore, 0, sizeof ignore);
        ignore.sa_handler = SIG_IGN;
        sigaction(SIGSYS, &ignore, NULL);
    } else {
        sigaction(SIGSYS, &previous, NULL);
    }
    if (result == 0) result = atomic_load(&first_failure);
    if (result == 0) result = vipsec_drop_privileges_this_thread(wanted);
    if (threads) *threads = atomic_load(&answered_count) + 1;
    return result;
}
