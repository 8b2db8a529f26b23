import Foundation
import VipsecTestSupport
import XCTest

/// A real single-member etcd on 127.0.0.1 with TLS (client certificates required), in a
/// temporary directory, started and stopped by a test. Certificates are made with openssl:
/// `ca` signs the server and the `client` certificate; `other-ca` signs `rogue` (refused).
final class EtcdTestServer {
    let directory: URL
    let clientPort: Int
    let peerPort: Int
    private var process: Process?

    var endpoint: String { "https://127.0.0.1:\(clientPort)" }
    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static func find(_ program: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return (path.split(separator: ":") + ["/usr/bin", "/usr/sbin"]).map { "\($0)/\(program)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    init() throws {
        guard Self.find("etcd") != nil else {
            throw TestSetupError("etcd is not installed: `scripts/setup` installs Debian's etcd-server (the HA tests run a real etcd)")
        }
        guard Self.find("openssl") != nil else {
            throw TestSetupError("openssl is not installed: `scripts/setup` installs it")
        }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("vipsec-etcd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        clientPort = try Self.freePort()
        peerPort = try Self.freePort()
        try makeCertificates()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    private func openssl(_ arguments: [String]) throws {
        try runProgram(URL(fileURLWithPath: Self.find("openssl")!), arguments, in: directory)
    }

    private func makeCA(_ name: String) throws {
        try openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "\(name).key"])
        try openssl(["req", "-x509", "-new", "-key", "\(name).key", "-subj", "/O=vipsec test/CN=\(name)", "-days", "2",
                     "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                     "-out", "\(name).crt"])
    }

    private func makeCertificate(_ name: String, ca: String, usage: String, san: String) throws {
        try openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "\(name).key"])
        try openssl(["req", "-new", "-key", "\(name).key", "-subj", "/O=vipsec test/CN=\(name)", "-out", "\(name).csr"])
        try "basicConstraints=CA:FALSE\nextendedKeyUsage=\(usage)\nsubjectAltName=\(san)\n"
            .write(to: directory.appendingPathComponent("\(name).ext"), atomically: true, encoding: .utf8)
        try openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "\(ca).crt", "-CAkey", "\(ca).key", "-CAcreateserial",
                     "-days", "2", "-extfile", "\(name).ext", "-out", "\(name).crt"])
        chmod(path("\(name).key"), 0o600)
    }

    private func makeCertificates() throws {
        try makeCA("ca")
        try makeCA("other-ca")
        try makeCertificate("server", ca: "ca", usage: "serverAuth,clientAuth", san: "IP:127.0.0.1")
        try makeCertificate("client", ca: "ca", usage: "clientAuth", san: "DNS:router1")
        try makeCertificate("rogue", ca: "other-ca", usage: "clientAuth", san: "DNS:rogue")
    }

    /// Starts etcd and returns once it answers over TLS (at most 30 s: a loaded 2-core machine).
    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.find("etcd")!)
        let client = "https://127.0.0.1:\(clientPort)", peer = "http://127.0.0.1:\(peerPort)"
        process.arguments = [
            "--name", "test", "--data-dir", path("data"),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", "test=\(peer)",
            "--client-cert-auth", "--trusted-ca-file", path("ca.crt"),
            "--cert-file", path("server.crt"), "--key-file", path("server.key"),
            "--heartbeat-interval", "50", "--election-timeout", "500",
        ]
        let log = FileHandle(forWritingAtPath: path("etcd.log")) ?? {
            FileManager.default.createFile(atPath: path("etcd.log"), contents: nil)
            return FileHandle(forWritingAtPath: path("etcd.log"))!
        }()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if try ready() { return }
            guard process.isRunning else { break }
            usleep(200_000)
        }
        let tail = (try? String(contentsOfFile: path("etcd.log"), encoding: .utf8))?.split(separator: "\n").suffix(5).joined(separator: "\n") ?? ""
        stop()
        throw TestSetupError("etcd did not answer within 30 s on \(client); its log ends:\n\(tail)")
    }

    /// The TCP port accepts connections (the TLS and API checks are the tests' own).
    private func ready() throws -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(clientPort).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return connected == 0
    }

    func stop() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    /// A port nobody listens on right now (bound to port 0, then closed).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSetupError("socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                guard bind(fd, pointer, length) == 0 else { return -1 }
                return getsockname(fd, pointer, &length)
            }
        }
        guard bound == 0 else { throw TestSetupError("bind: \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
