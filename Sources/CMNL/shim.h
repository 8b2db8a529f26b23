#ifndef VIPSEC_CMNL_SHIM_H
#define VIPSEC_CMNL_SHIM_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
/* glibc's <netinet/in.h> first: <linux/in6.h> then skips its own struct in6_addr. */
#include <netinet/in.h>
#include <linux/netlink.h>
#include <linux/xfrm.h>
/* NFQUEUE (NetfilterQueue) and rtnetlink rules/routes (InboundForwarding). */
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
/* ctnetlink events (the agent's ConntrackMonitor). */
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <linux/rtnetlink.h>
#include <linux/fib_rules.h>
#include <libmnl/libmnl.h>
/* setns(2) for NetworkNamespace: <sched.h> declares it only under _GNU_SOURCE, which the
   Glibc module is not built with. The prototype is the libc one. */
int setns(int fd, int nstype);
#define VIPSEC_CLONE_NEWNET 0x40000000
/* recvmmsg(2) for DatagramBatch: glibc declares it and struct mmsghdr only under _GNU_SOURCE
   too. The struct has the kernel's layout; the call goes through syscall(2). */
#include <unistd.h>
#include <sys/syscall.h>
struct vipsec_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
};
static inline int vipsec_recvmmsg(int fd, struct vipsec_mmsghdr *vector, unsigned int length, int flags) {
    return (int)syscall(SYS_recvmmsg, fd, vector, length, flags, (void *)0);
}
#endif
