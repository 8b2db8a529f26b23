// Netlink over libmnl. See NetlinkSocket, NetlinkMessageBuilder and NetlinkAttributes.
