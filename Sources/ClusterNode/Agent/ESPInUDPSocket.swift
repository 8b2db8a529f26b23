import Cluster
import Glibc

/// A UDP socket with UDP_ENCAP_ESPINUDP on the DVIPA's NAT-T port (RFC 3948): what makes a
/// target's kernel decapsulate ESP-in-UDP at all. The XFRM state's encap attribute only
/// says how to encapsulate on output and which ports to expect; on input the kernel hands
/// a UDP datagram to the ESP stack only from a socket marked with UDP_ENCAP (its
/// `encap_rcv` hook: a non-zero first word is ESP and goes to `xfrm_input`, the 1-octet
/// 0xFF keepalive is dropped, a zero marker would be queued to the socket as IKE).
///
/// The agent opens one per (DVIPA, port) the first time it installs an inbound SA with UDP
/// encapsulation, and keeps it until it stops. It never reads it: a target runs no IKE (the
/// routing node's nftables rule forwards only ESP, never a zero marker), so nothing
/// queues on it; the receive buffer is kept small in case something does.
final class ESPInUDPSocket {
    let address: IPAddress
    let port: UInt16
    private(set) var descriptor: Int32

    /// SOL_UDP, UDP_ENCAP and UDP_ENCAP_ESPINUDP (linux/udp.h).
    static let udpLevel: CInt = 17
    static let encapOption: CInt = 100
    static let espInUDP: CInt = 2

    /// socket, IP(V6)_FREEBIND (the DVIPA may be added to lo a moment later), UDP_ENCAP,
    /// IPV6_V6ONLY for an IPv6 address, bind to `address`:`port`. Throws naming the call.
    init(address: IPAddress, port: UInt16) throws {
        self.address = address
        self.port = port
        let ipv4 = address.isIPv4
        let fd = socket(ipv4 ? AF_INET : AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ESPInUDPSocketError(call: "socket", address: address, port: port, code: errno) }
        var one: CInt = 1
        var encap = Self.espInUDP
        var small: CInt = 4096
        let size = socklen_t(MemoryLayout<CInt>.size)
        let failure: (String, Int32)? = {
            // IP_FREEBIND (15) at SOL_IP; IPV6_FREEBIND (78) at SOL_IPV6.
            if setsockopt(fd, ipv4 ? CInt(IPPROTO_IP) : CInt(IPPROTO_IPV6), ipv4 ? 15 : 78, &one, size) != 0 {
                return ("setsockopt(IP_FREEBIND)", errno)
            }
            if !ipv4, setsockopt(fd, CInt(IPPROTO_IPV6), IPV6_V6ONLY, &one, size) != 0 {
                return ("setsockopt(IPV6_V6ONLY)", errno)
            }
            if setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, size) != 0 { return ("setsockopt(SO_RCVBUF)", errno) }
            if setsockopt(fd, Self.udpLevel, Self.encapOption, &encap, size) != 0 {
                return ("setsockopt(UDP_ENCAP_ESPINUDP)", errno)
            }
            let bound = Self.bind(fd, address: address, port: port)
            return bound == 0 ? nil : ("bind", errno)
        }()
        if let (call, code) = failure {
            Glibc.close(fd)
            throw ESPInUDPSocketError(call: call, address: address, port: port, code: code)
        }
        descriptor = fd
    }

    func close() {
        guard descriptor >= 0 else { return }
        Glibc.close(descriptor)
        descriptor = -1
    }

    deinit { close() }

    private static func bind(_ fd: Int32, address: IPAddress, port: UInt16) -> Int32 {
        if address.isIPv4 {
            var socketAddress = sockaddr_in()
            socketAddress.sin_family = sa_family_t(AF_INET)
            socketAddress.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &socketAddress.sin_addr) { $0.copyBytes(from: address.bytes) }
            return withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        var socketAddress = sockaddr_in6()
        socketAddress.sin6_family = sa_family_t(AF_INET6)
        socketAddress.sin6_port = port.bigEndian
        withUnsafeMutableBytes(of: &socketAddress.sin6_addr) { $0.copyBytes(from: address.bytes) }
        return withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
    }
}

struct ESPInUDPSocketError: Error, CustomStringConvertible {
    var call: String
    var address: IPAddress
    var port: UInt16
    var code: Int32
    var description: String {
        let shown = address.isIPv4 ? "\(address):\(port)" : "[\(address)]:\(port)"
        return "ESP-in-UDP socket on \(shown): \(call) failed: \(String(cString: strerror(code)))"
    }
}
