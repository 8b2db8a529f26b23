import Cluster
import Glibc
import Netlink

/// Puts the DVIPA on the loopback device, as `ip addr replace DVIPA/32 dev lo` does
/// (RTM_NEWADDR over NETLINK_ROUTE with NLM_F_CREATE | NLM_F_REPLACE). A target holds the
/// DVIPA there so forwarded packets are local and outbound ESP can use it as its source,
/// without answering ARP for it (the lab sets arp_ignore / arp_announce).
enum LoopbackAddress {
    /// struct ifaddrmsg from <linux/if_addr.h>.
    private struct InterfaceAddressMessage {
        var family: UInt8 = 0
        var prefixLength: UInt8 = 0
        var flags: UInt8 = 0
        var scope: UInt8 = 0
        var index: UInt32 = 0
    }

    private static let netlinkRoute: Int32 = 0          // NETLINK_ROUTE
    private static let createOrReplace: UInt16 = 0x400 | 0x100  // NLM_F_CREATE | NLM_F_REPLACE
    private static let newAddress: UInt16 = 20          // RTM_NEWADDR
    private static let attributeAddress: UInt16 = 1     // IFA_ADDRESS
    private static let attributeLocal: UInt16 = 2       // IFA_LOCAL
    private static let scopeUniverse: UInt8 = 0         // RT_SCOPE_UNIVERSE, as `ip addr add` uses

    /// Adds `address` (/32 or /128) to `lo`; an address already there is fine.
    static func ensure(_ address: IPAddress) throws {
        let index = if_nametoindex("lo")
        guard index != 0 else { throw NetlinkError.system(call: "if_nametoindex(lo)", errno: errno) }
        let socket = try NetlinkSocket(family: netlinkRoute)
        let message = NetlinkMessageBuilder(type: newAddress, flags: createOrReplace, capacity: 128)
        try message.appendHeader(InterfaceAddressMessage.self) { header in
            header.family = UInt8(address.isIPv4 ? AF_INET : AF_INET6)
            header.prefixLength = address.isIPv4 ? 32 : 128
            header.scope = scopeUniverse
            header.index = index
        }
        try message.appendAttribute(type: attributeLocal, bytes: address.bytes)
        try message.appendAttribute(type: attributeAddress, bytes: address.bytes)
        try socket.acknowledged(message)
    }
}
