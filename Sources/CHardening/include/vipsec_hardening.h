// prctl(2) for Swift (a variadic C function Swift cannot call directly).
#ifndef VIPSEC_HARDENING_H
#define VIPSEC_HARDENING_H

/// prctl(PR_SET_DUMPABLE, value). 0: no core dump of this process, and /proc/PID/mem,
/// ptrace attach and /proc/PID/environ closed to everyone but root. Returns 0 or -errno.
int vipsec_set_dumpable(int value);

/// prctl(PR_GET_DUMPABLE): 1 when dumpable, 0 when not, -errno on error.
int vipsec_get_dumpable(void);

#endif
