import Glibc

/// `blast`: sends raw ESP packets (fixed SPI, increasing sequence numbers, zero payload)
/// to an address as fast as sendto allows, for the benchmark (scripts/bench-inbound).
/// The kernel builds the IPv4 header (raw socket, IPPROTO_ESP). No key is involved: the
/// receiver only counts them.
enum BlastCommand {
    static func run(_ args: Arguments) throws {
        let destination = try args.string("dst")
        let spi = try args.u32("spi")
        let seconds = Double(try args.u32("seconds", default: 5))
        let size = Int(try args.u32("size", default: 128))
        guard size >= 8, size <= 1400 else { throw LabError("--size wants 8...1400") }
        let fd = socket(AF_INET, Int32(SOCK_RAW.rawValue), 50)
        guard fd >= 0 else { throw LabError("raw socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        guard inet_pton(AF_INET, destination, &address.sin_addr) == 1 else { throw LabError("--dst is not IPv4") }

        // sendto per packet (sendmmsg needs _GNU_SOURCE, which the Glibc module lacks).
        var packet = [UInt8](repeating: 0, count: size)
        withUnsafeBytes(of: spi.bigEndian) { packet.replaceSubrange(0..<4, with: $0) }
        var sent = 0
        var sequence: UInt32 = 0
        let start = now()
        while now() - start < seconds {
            for _ in 0..<256 {
                sequence &+= 1
                withUnsafeBytes(of: sequence.bigEndian) { packet.replaceSubrange(4..<8, with: $0) }
                let result = withUnsafePointer(to: &address) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                        sendto(fd, packet, size, 0, socketAddress, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
                if result == size {
                    sent += 1
                } else if errno != ENOBUFS && errno != EAGAIN && errno != EINTR {
                    throw LabError("sendto: \(String(cString: strerror(errno)))")
                }
            }
        }
        let elapsed = now() - start
        print("blast: sent=\(sent) milliseconds=\(Int(elapsed * 1000)) pps=\(Int(Double(sent) / elapsed))")
    }

    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
