// Sending IKE datagrams from whichever worker made them. The UDP sockets are NIO channels
// on worker 0's loop; a write from another worker's loop would hop there first (a task on
// worker 0's queue and a wake-up of its thread for every datagram). Instead each socket is
// made here (with XFRM.UDPSocketSetup), handed to NIO for reading
// (DatagramBootstrap.withBoundSocket), and a duplicate
// of its descriptor stays with the daemon for sending: sendto(2) on a UDP socket is safe
// from any thread, and the duplicate stays valid until the daemon closes it after every
// worker has stopped. A datagram the kernel does not take at once (a full socket buffer)
// goes through the channel instead, as before.
#if canImport(Glibc)
import Glibc
#endif
import IKEv2
import NIOCore
import XFRM

/// Errors making a socket (the call and errno, no addresses of peers).
struct DatagramSocketError: Error, CustomStringConvertible {
    var call: String
    var code: Int32
    var description: String { "\(call): \(String(cString: strerror(code)))" }
}

/// One bound UDP socket: the descriptor NIO reads from and a duplicate to send on.
final class DatagramSender: @unchecked Sendable {
    /// The descriptor to give NIO (it closes it with the channel).
    let channelDescriptor: CInt
    /// Ours, for sendto from any worker; closed by `close()`.
    private let sendDescriptor: CInt
    private let family: CInt
    /// Why the socket has no IPsec bypass policies, if it has none (no CAP_NET_ADMIN).
    let bypassFailure: Error?

    /// Makes a non-blocking UDP socket bound to `address` (dotted or IPv6 text) and `port`,
    /// with SO_REUSEADDR, if `espInUDP` UDP_ENCAP_ESPINUDP (RFC 3948: the kernel takes
    /// ESP-in-UDP off it), and allow policies for both directions (strongSwan's "bypass"
    /// sockets, XFRMSocketPolicy.swift): a CHILD_SA whose selectors cover the gateways' own
    /// addresses (transport mode between them) would otherwise take the IKE messages that
    /// rekey, check and delete it into ESP, or drop them.
    /// With `freeBind` (IP_FREEBIND / IPV6_FREEBIND) the bind succeeds while the address is
    /// not on this host yet: an HA standby binds the DVIPA and serves the moment it adds it.
    init(address: String, port: Int, espInUDP: Bool, freeBind: Bool = false) throws {
        guard let bytes = IPPrefix.parseAddress(address) else {
            throw DatagramSocketError(call: "parse \(address)", code: EINVAL)
        }
        family = bytes.count == 4 ? AF_INET : AF_INET6
        let fd: CInt
        do {
            fd = try UDPSocketSetup.bound(address: bytes, port: UInt16(port),
                                          options: .init(nonBlocking: true, reuseAddress: true, freeBind: freeBind, espInUDP: espInUDP))
        } catch let failure as UDPSocketSetup.Failure {
            throw DatagramSocketError(call: failure.call == "bind" ? "bind \(address):\(port)" : failure.call, code: failure.code)
        }
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0 else {
            let code = errno
            Glibc.close(fd)
            throw DatagramSocketError(call: "fcntl(F_DUPFD_CLOEXEC)", code: code)
        }
        do {
            for direction in [XFRMPolicyDirection.inbound, .outbound] {
                try XFRMSocketPolicy.apply(.bypass(direction, ipv6: family == AF_INET6), to: fd, ipv6: family == AF_INET6)
            }
            bypassFailure = nil
        } catch {
            bypassFailure = error
        }
        channelDescriptor = fd
        sendDescriptor = copy
    }

    /// Sends `prefix` (the non-ESP marker on 4500, or nothing) and `bytes` to `address`:`port`
    /// in one datagram. False if the kernel did not take it (the caller uses the channel).
    func send(prefix: [UInt8], _ bytes: [UInt8], to address: [UInt8], port: UInt16) -> Bool {
        guard address.count == (family == AF_INET ? 4 : 16) else { return false }
        return prefix.withUnsafeBytes { head in
            bytes.withUnsafeBytes { body in
                UDPSocketSetup.withSocketAddress(address, port: port) { socketAddress, length in
                    var parts = [iovec(iov_base: UnsafeMutableRawPointer(mutating: head.baseAddress), iov_len: head.count),
                                 iovec(iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress), iov_len: body.count)]
                    return parts.withUnsafeMutableBufferPointer { iov in
                        var message = msghdr()
                        message.msg_name = UnsafeMutableRawPointer(mutating: socketAddress)
                        message.msg_namelen = length
                        message.msg_iov = iov.baseAddress
                        message.msg_iovlen = head.count > 0 ? 2 : 1
                        if head.count == 0 { iov[0] = iov[1] }
                        var sent: Int
                        repeat { sent = sendmsg(sendDescriptor, &message, 0) } while sent < 0 && errno == EINTR
                        return sent == head.count + body.count
                    }
                }
            }
        }
    }

    /// Closes our duplicate (call once no worker sends any more).
    func close() {
        _ = Glibc.close(sendDescriptor)
    }
}
