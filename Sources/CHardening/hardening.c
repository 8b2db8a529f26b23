#include "vipsec_hardening.h"
#include <errno.h>
#include <sys/prctl.h>

int vipsec_set_dumpable(int value) {
    return prctl(PR_SET_DUMPABLE, value, 0, 0, 0) == 0 ? 0 : -errno;
}

int vipsec_get_dumpable(void) {
    int value = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
    return value < 0 ? -errno : value;
}
