import Cluster
import Glibc
import XFRM

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
    static let udpLevel = UDPSocketSetup.udpLevel
    static let encapOption = UDPSocketSetup.encapOption
    static let espInUDP = UDPSocketSetup.espInUDP

    /// socket, IP(V6)_FREEBIND (the DVIPA may be added to lo a moment later), UDP_ENCAP,
    /// IPV6_V6ONLY for an IPv6 address, a small receive buffer, bind to `address`:`port`
    /// (XFRM.UDPSocketSetup). Throws naming the call.
    init(address: IPAddress, port: UInt16) throws {
        self.address = address
        self.port = port
        do {
            descriptor = try UDPSocketSetup.bound(address: address.bytes, port: port,
                                                  options: .init(freeBind: true, v6Only: true, receiveBuffer: 4096, espInUDP: true))
        } catch let failure as UDPSocketSetup.Failure {
            throw ESPInUDPSocketError(call: failure.call, address: address, port: port, code: failure.code)
        }
    }

    func close() {
        guard descriptor >= 0 else { return }
        Glibc.close(descriptor)
        descriptor = -1
    }

    deinit { close() }
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
