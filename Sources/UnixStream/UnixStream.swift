// The client end of a local stream socket (AF_UNIX, SOCK_STREAM): what `vipsec status`,
// `vipsec list-sas` and the start-up check of a socket in use all do. The servers are
// SwiftNIO's; this is the few blocking lines a one-shot command needs.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum UnixStream {
    /// Why a connection or a read failed; `code` is the errno (0: the path is too long).
    public struct Failure: Error, CustomStringConvertible {
        public let code: Int32
        public var description: String { code == 0 ? "the path is too long for a unix socket" : String(cString: strerror(code)) }
    }

    /// A socket connected to `path` (close it when done).
    public static func connect(_ path: String) throws -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw Failure(code: 0) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(code: errno) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            close(fd)
            throw Failure(code: code)
        }
        return fd
    }

    /// Everything the other end sends until it closes. With `timeout` (seconds), a wait of
    /// longer than that for the next bytes throws `Failure` with code EAGAIN.
    public static func readToEnd(_ fd: Int32, timeout: Double? = nil) throws -> Data {
        if let timeout {
            var limit = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
            guard setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
                throw Failure(code: errno)
            }
        }
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR { continue }
                throw Failure(code: errno)
            }
            if count == 0 { return data }
            data.append(contentsOf: chunk[0..<count])
        }
    }
}
