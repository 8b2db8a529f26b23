#ifndef VIPSEC_CMNL_SHIM_H
#define VIPSEC_CMNL_SHIM_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
/* glibc's <netinet/in.h> first: <linux/in6.h> then skips its own struct in6_addr. */
#include <netinet/in.h>
#include <linux/netlink.h>
#include <linux/xfrm.h>
#include <libmnl/libmnl.h>
#endif
