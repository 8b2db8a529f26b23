import COpenSSL
import ArgumentParser
import Foundation
import Logging
import UnixStream

/// Start-up checks that fail fast, before anything is installed: each error is one line
/// naming the option and the reason.
enum StartupChecks {
    /// The certificate's public key matches the private key, and one of the CA file's
    /// certificates signed the certificate. The key stays in memory only.
    static func credentials(cert: String, key: String, ca: String, options: (cert: String, key: String, ca: String)) throws {
        guard let certificate = readCertificates(cert).first else {
            throw StartupError("\(options.cert) '\(cert)': no PEM certificate in it")
        }
        defer { certificate.forEach { X509_free($0) } }
        let authorities = readCertificates(ca).flatMap { $0 }
        defer { authorities.forEach { X509_free($0) } }
        guard !authorities.isEmpty else { throw StartupError("\(options.ca) '\(ca)': no PEM certificate in it") }
        guard let privateKey = readKey(key) else { throw StartupError("\(options.key) '\(key)': no PEM private key in it") }
        defer { EVP_PKEY_free(privateKey) }
        guard X509_check_private_key(certificate[0], privateKey) == 1 else {
            ERR_clear_error()
            throw StartupError("\(options.key) '\(key)' does not match the certificate \(options.cert) '\(cert)'")
        }
        let signed = authorities.contains { authority in
            guard let publicKey = X509_get0_pubkey(authority) else { return false }
            return X509_verify(certificate[0], publicKey) == 1
        }
        ERR_clear_error()
        guard signed else {
            throw StartupError("\(options.ca) '\(ca)' did not sign the certificate \(options.cert) '\(cert)'")
        }
    }

    /// `host` resolves and this host has a route to it (a refused or silent routing node is
    /// retried; a name that does not resolve or an address with no route is an input error).
    static func routeExists(host: String, port: Int, option: String) throws {
        guard (1...65535).contains(port) else { throw StartupError("\(option) port \(port) is out of range") }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &results)
        guard status == 0, let first = results else {
            throw StartupError("\(option) '\(host):\(port)': cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(results) }
        // A UDP connect sends nothing: it only asks the kernel for a route.
        var lastError: Int32 = 0
        for entry in sequence(first: first, next: { $0.pointee.ai_next }) {
            let fd = socket(entry.pointee.ai_family, Int32(SOCK_DGRAM.rawValue), 0)
            guard fd >= 0 else { lastError = errno; continue }
            defer { close(fd) }
            if connect(fd, entry.pointee.ai_addr, entry.pointee.ai_addrlen) == 0 { return }
            lastError = errno
        }
        throw StartupError("\(option) '\(host):\(port)' is unreachable: \(String(cString: strerror(lastError)))")
    }

    /// A socket file at `path` that a live process answers on is that process's: refused
    /// (a stale one, left by a killed run, is replaced at start).
    static func socketFree(_ path: String, option: String) throws {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK else { return }
        guard let fd = try? UnixStream.connect(path) else { return }   // nobody answers: stale
        close(fd)
        throw StartupError("\(option) '\(path)' is in use by another running process")
    }

    private static func readBIO<T>(_ path: String, _ body: (OpaquePointer) -> T) -> T? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return data.withUnsafeBytes { raw -> T? in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return body(bio)
        }
    }

    private static func readCertificates(_ path: String) -> [[OpaquePointer]] {
        let certificates = readBIO(path) { bio -> [OpaquePointer] in
            var list: [OpaquePointer] = []
            while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) { list.append(certificate) }
            ERR_clear_error()
            return list
        } ?? []
        return certificates.isEmpty ? [] : [certificates]
    }

    private static func readKey(_ path: String) -> OpaquePointer? {
        let key = readBIO(path) { bio in PEM_read_bio_PrivateKey(bio, nil, nil, nil) } ?? nil
        ERR_clear_error()
        return key
    }
}

/// A start-up error: printed as one line ("Error: ..."), exit status 1.
struct StartupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// `--log-level` (or the config's `log-level`): one of swift-log's levels.
func parseLogLevel(_ text: String) throws -> Logger.Level {
    guard let level = Logger.Level(rawValue: text) else {
        throw ValidationError("--log-level '\(text)' is not one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return level
}
