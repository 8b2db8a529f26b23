// The kernel boundary: XFRM SAs, policies, counters and events over Netlink.
