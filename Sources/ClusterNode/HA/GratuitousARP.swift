import Cluster
import Glibc

/// Announces that this host now holds an IPv4 address: a gratuitous ARP request (RFC 5227
/// 3: sender and target protocol address both the address, broadcast) over an AF_PACKET
/// socket on `interface`. Neighbours that have an entry for the address update it to our
/// hardware address (Linux does so without arp_accept for an existing entry).
///
/// Needs CAP_NET_RAW when the socket is opened (`Sender()`). IPv6 (an unsolicited Neighbor Advertisement) is not sent yet.
public enum GratuitousARP {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// struct sockaddr_ll from <linux/if_packet.h>.
    fileprivate struct LinkLayerAddress {
        var family: UInt16 = 0
        var protocolNumber: UInt16 = 0
        var interfaceIndex: Int32 = 0
        var hardwareType: UInt16 = 0
        var packetType: UInt8 = 0
        var addressLength: UInt8 = 0
        var address: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0)
    }

    fileprivate static let packetFamily: Int32 = 17        // AF_PACKET
    fileprivate static let arpProtocol: UInt16 = 0x0806    // ETH_P_ARP

    /// The ARP request announcing `address` from `hardware` (28 octets, RFC 826 layout).
    public static func packet(announcing address: IPAddress, hardware: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [0x00, 0x01,  // hardware type: Ethernet
                              0x08, 0x00,  // protocol type: IPv4
                              6, 4,        // hardware and protocol address lengths
                              0x00, 0x01]  // operation: request
        bytes += hardware + address.bytes           // sender
        bytes += [0, 0, 0, 0, 0, 0] + address.bytes // target: unknown hardware, the same address
        return bytes
    }

    /// An AF_PACKET socket for ARP, opened while the process still has CAP_NET_RAW (before
    /// the daemon drops every capability but CAP_NET_ADMIN) and kept for its lifetime.
    public final class Sender: @unchecked Sendable {
        private let fd: Int32

        public init() throws {
            fd = socket(GratuitousARP.packetFamily, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                        Int32(GratuitousARP.arpProtocol.bigEndian))
            guard fd >= 0 else {
                throw Failure(description: "AF_PACKET socket: \(String(cString: strerror(errno))) (needs CAP_NET_RAW)")
            }
        }

        deinit { close(fd) }

        /// Sends one gratuitous ARP for `address` on `interface` (IPv4 only; IPv6 is a no-op).
        public func send(_ address: IPAddress, interface: String) throws {
            guard address.isIPv4 else { return }
            let index = if_nametoindex(interface)
            guard index != 0 else { throw Failure(description: "no interface \(interface)") }
            guard let hardware = GratuitousARP.hardwareAddress(of: interface), hardware.count == 6 else {
                throw Failure(description: "\(interface) has no Ethernet address")
            }
            var destination = LinkLayerAddress()
            destination.family = UInt16(GratuitousARP.packetFamily)
            destination.protocolNumber = GratuitousARP.arpProtocol.bigEndian
            destination.interfaceIndex = Int32(index)
            destination.addressLength = 6
            destination.address = (0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0)
            let payload = GratuitousARP.packet(announcing: address, hardware: hardware)
            let sent = withUnsafePointer(to: &destination) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    payload.withUnsafeBytes {
                        sendto(fd, $0.baseAddress, $0.count, 0, socketAddress, socklen_t(MemoryLayout<LinkLayerAddress>.size))
                    }
                }
            }
            guard sent == payload.count else {
                throw Failure(description: "sendto on \(interface): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// The interface's hardware address (from getifaddrs' AF_PACKET entry).
    static func hardwareAddress(of interface: String) -> [UInt8]? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return nil }
        defer { freeifaddrs(list) }
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            guard let address = entry.pointee.ifa_addr, Int32(address.pointee.sa_family) == packetFamily,
                  String(cString: entry.pointee.ifa_name) == interface else { continue }
            return address.withMemoryRebound(to: LinkLayerAddress.self, capacity: 1) { link in
                let length = Int(link.pointee.addressLength)
                return withUnsafeBytes(of: link.pointee.address) { Array($0.prefix(min(length, 8))) }
            }
        }
        return nil
    }
}
