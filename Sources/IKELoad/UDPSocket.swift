// A non-blocking IPv4 UDP socket (Glibc), enough for the load's initiators: one per IKE_SA,
// bound to an ephemeral port so the responder sees every IKE_SA from its own address:port.
#if canImport(Glibc)
import Glibc
#endif

struct UDPSocketError: Error, CustomStringConvertible {
    var operation: String
    var code: Int32
    var description: String { "\(operation): \(String(cString: strerror(code)))" }
}

struct UDPSocket {
    let descriptor: Int32
    /// The local port the kernel chose.
    let port: UInt16

    /// Opens a socket bound to `address` (4 octets) on an ephemeral port.
    init(bindTo address: [UInt8]) throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw UDPSocketError(operation: "socket", code: errno) }
        var local = Self.socketAddress(address, port: 0)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            let code = errno
            Glibc.close(fd)
            throw UDPSocketError(operation: "bind", code: code)
        }
        var name = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &name) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        descriptor = fd
        port = UInt16(bigEndian: name.sin_port)
    }

    static func socketAddress(_ address: [UInt8], port: UInt16) -> sockaddr_in {
        var result = sockaddr_in()
        result.sin_family = sa_family_t(AF_INET)
        result.sin_port = port.bigEndian
        result.sin_addr.s_addr = address.count == 4
            ? UInt32(address[0]) | UInt32(address[1]) << 8 | UInt32(address[2]) << 16 | UInt32(address[3]) << 24 : 0
        return result
    }

    /// Sends one datagram; a full socket buffer drops it (the IKE retransmission recovers).
    func send(_ bytes: [UInt8], to address: [UInt8], port: UInt16) {
        var destination = Self.socketAddress(address, port: port)
        _ = bytes.withUnsafeBytes { buffer in
            withUnsafePointer(to: &destination) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(descriptor, buffer.baseAddress, buffer.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }

    /// Every datagram waiting on the socket, read through `buffer` (the caller's, reused).
    func receiveAll(using buffer: inout [UInt8]) -> [[UInt8]] {
        var datagrams: [[UInt8]] = []
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            datagrams.append(Array(buffer[0..<n]))
        }
        return datagrams
    }

    func close() { _ = Glibc.close(descriptor) }
}
