// The one UDP socket set-up of vipsec's sockets that meet the kernel's ESP-in-UDP: the IKE
// daemon's sockets on 500 and 4500 (IKEDaemon/Sockets/DatagramSender.swift) and a target's
// UDP_ENCAP socket on the DVIPA's NAT-T port (ClusterNode/Agent/ESPInUDPSocket.swift).
// socket(2), the options each asks for, bind(2); on failure the socket is closed and the
// call that failed is named with its errno.
//
// UDP_ENCAP_ESPINUDP (RFC 3948) marks a socket whose datagrams with a non-zero first word the
// kernel takes as ESP (`encap_rcv` → xfrm_input); IKE with the four-zero non-ESP marker and
// the one-octet 0xFF keepalive stay with the socket. IP_FREEBIND / IPV6_FREEBIND let the bind
// succeed before the address is on this host (the DVIPA, added a moment later or by an HA
// takeover).
import Glibc

public enum UDPSocketSetup {
    /// SOL_UDP, UDP_ENCAP and UDP_ENCAP_ESPINUDP (linux/udp.h).
    public static let udpLevel: CInt = 17
    public static let encapOption: CInt = 100
    public static let espInUDP: CInt = 2

    /// What the socket gets besides close-on-exec.
    public struct Options: Sendable {
        /// SOCK_NONBLOCK.
        public var nonBlocking = false
        /// SO_REUSEADDR.
        public var reuseAddress = false
        /// IP_FREEBIND (IPv4) or IPV6_FREEBIND (IPv6).
        public var freeBind = false
        /// IPV6_V6ONLY (IPv6 addresses only).
        public var v6Only = false
        /// SO_RCVBUF in octets (nil: the kernel's default).
        public var receiveBuffer: CInt?
        /// UDP_ENCAP = UDP_ENCAP_ESPINUDP.
        public var espInUDP = false

        public init(nonBlocking: Bool = false, reuseAddress: Bool = false, freeBind: Bool = false, v6Only: Bool = false,
                    receiveBuffer: CInt? = nil, espInUDP: Bool = false) {
            self.nonBlocking = nonBlocking
            self.reuseAddress = reuseAddress
            self.freeBind = freeBind
            self.v6Only = v6Only
            self.receiveBuffer = receiveBuffer
            self.espInUDP = espInUDP
        }
    }

    /// The call that failed ("socket", "setsockopt(SO_REUSEADDR)", ..., "bind") and its errno.
    public struct Failure: Error, Sendable {
        public var call: String
        public var code: Int32
    }

    /// A UDP socket bound to `address` (4 or 16 octets) and `port` with `options`: its
    /// descriptor (the caller closes it), or `Failure` (nothing left open).
    public static func bound(address: [UInt8], port: UInt16, options: Options) throws -> CInt {
        let ipv4 = address.count == 4
        var type = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if options.nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        let fd = socket(ipv4 ? AF_INET : AF_INET6, type, 0)
        guard fd >= 0 else { throw Failure(call: "socket", code: errno) }
        var one: CInt = 1
        let size = socklen_t(MemoryLayout<CInt>.size)
        let failure: Failure? = {
            if options.reuseAddress, setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, size) != 0 {
                return Failure(call: "setsockopt(SO_REUSEADDR)", code: errno)
            }
            // IP_FREEBIND (15) at SOL_IP; IPV6_FREEBIND (78) at SOL_IPV6.
            if options.freeBind, setsockopt(fd, ipv4 ? CInt(IPPROTO_IP) : CInt(IPPROTO_IPV6), ipv4 ? 15 : 78, &one, size) != 0 {
                return Failure(call: "setsockopt(IP_FREEBIND)", code: errno)
            }
            if options.v6Only, !ipv4, setsockopt(fd, CInt(IPPROTO_IPV6), IPV6_V6ONLY, &one, size) != 0 {
                return Failure(call: "setsockopt(IPV6_V6ONLY)", code: errno)
            }
            if var buffer = options.receiveBuffer, setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, size) != 0 {
                return Failure(call: "setsockopt(SO_RCVBUF)", code: errno)
            }
            var encap = espInUDP
            if options.espInUDP, setsockopt(fd, udpLevel, encapOption, &encap, size) != 0 {
                return Failure(call: "setsockopt(UDP_ENCAP_ESPINUDP)", code: errno)
            }
            let result = withSocketAddress(address, port: port) { Glibc.bind(fd, $0, $1) }
            return result == 0 ? nil : Failure(call: "bind", code: errno)
        }()
        if let failure {
            Glibc.close(fd)
            throw failure
        }
        return fd
    }

    /// A sockaddr_in / sockaddr_in6 for `address` (4 or 16 octets) and `port`.
    public static func withSocketAddress<R>(_ address: [UInt8], port: UInt16,
                                            _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        if address.count == 4 {
            var v4 = sockaddr_in()
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &v4.sin_addr) { $0.copyBytes(from: address) }
            return withUnsafePointer(to: &v4) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        var v6 = sockaddr_in6()
        v6.sin6_family = sa_family_t(AF_INET6)
        v6.sin6_port = port.bigEndian
        withUnsafeMutableBytes(of: &v6.sin6_addr) { $0.copyBytes(from: address.prefix(16)) }
        return withUnsafePointer(to: &v6) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
    }
}
