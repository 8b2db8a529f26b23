// The files of certificate authentication, loaded when the config file is: our certificate
// chain (`local { certs }`), its private key, trust anchors (`remote { cacerts }`) and CRLs
// (`remote { crls }`). Relative paths follow swanctl's layout beside the config file:
// x509/, x509ca/, x509crl/, private/. The private key is the one among `secrets {
// private-<name> { file = ... } }` and the files in private/ whose public key is the
// certificate's; a key file that group or others may read is refused, by name.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import IKECertificates
import IKEv2
import X509

/// What a connection authenticates with (and judges its peer by). Compared by identity:
/// it holds a private key, which is never printed.
public final class ConnectionCredentials: Sendable, Equatable, CustomStringConvertible {
    /// Signs our AUTH and verifies the peer's (CertificateAuthenticator from the files).
    public let authenticator: any PublicKeyAuthenticator
    /// Our certificate's subject (DER), the default `local { id }`.
    public let subjectDER: [UInt8]?
    /// The certificates (ours and the anchors, DER) and CRL files read: what a reload
    /// compares to tell whether the connection changed. No key material.
    public let publicMaterial: [[UInt8]]

    init(authenticator: any PublicKeyAuthenticator, subjectDER: [UInt8]?, publicMaterial: [[UInt8]] = []) {
        self.authenticator = authenticator
        self.subjectDER = subjectDER
        self.publicMaterial = publicMaterial
    }

    public static func == (a: ConnectionCredentials, b: ConnectionCredentials) -> Bool { a === b }
    public var description: String { "ConnectionCredentials(\(authenticator.certificatePayloads.count) certificates, key redacted)" }
}

/// A `secrets { private-<name> { file = ... } }` entry (also rsa-, ecdsa-, pkcs8-, eddsa-).
public struct PrivateKeyFile: Sendable, Equatable {
    public var name: String
    public var file: String
    var line: Int
}

struct CredentialLoader {
    let file: String
    let directory: String
    let keyFiles: [PrivateKeyFile]

    init(file: String, keyFiles: [PrivateKeyFile]) {
        self.file = file
        // The config file's directory (no Foundation path API: it traps on some inputs).
        if let slash = file.lastIndex(of: "/") {
            let directory = String(file[..<slash])
            self.directory = directory.isEmpty ? "/" : directory
        } else {
            self.directory = "."
        }
        self.keyFiles = keyFiles
    }

    func error(_ auth: AuthConfig, _ key: String, _ message: String) -> ConfigError {
        ConfigError(file: file, line: auth.lines[key] ?? 0, key: "\(auth.path).\(key)", message: message)
    }

    func resolve(_ name: String, in folder: String) -> String {
        name.hasPrefix("/") ? name : "\(directory)/\(folder)/\(name)"
    }

    static func read(_ path: String) -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return Array(data)
    }

    /// Certificates of a file: every PEM block, or one DER certificate.
    static func certificates(_ bytes: [UInt8]) throws -> [Certificate] {
        let text = String(decoding: bytes, as: UTF8.self)
        if text.contains("-----BEGIN CERTIFICATE-----") {
            var result: [Certificate] = []
            var rest = Substring(text)
            while let start = rest.range(of: "-----BEGIN CERTIFICATE-----"),
                  let end = rest.range(of: "-----END CERTIFICATE-----", range: start.upperBound..<rest.endIndex) {
                result.append(try Certificate(pemEncoded: String(rest[start.lowerBound..<end.upperBound])))
                rest = rest[end.upperBound...]
            }
            return result
        }
        return [try Certificate(derEncoded: bytes)]
    }

    func loadCertificates(_ auth: AuthConfig, _ key: String, _ names: [String], folder: String) throws -> [Certificate] {
        try names.flatMap { name -> [Certificate] in
            let path = resolve(name, in: folder)
            guard let bytes = Self.read(path) else { throw error(auth, key, "cannot read \(path)") }
            do { return try Self.certificates(bytes) } catch {
                throw self.error(auth, key, "\(path) holds no X.509 certificate (PEM or DER): \(error)")
            }
        }
    }

    /// Refuses a key file group or others may read or write.
    func checkPermissions(_ path: String, _ auth: AuthConfig, line: Int?) throws {
        var info = stat()
        guard stat(path, &info) == 0 else { throw ConfigError(file: file, line: line ?? 0, message: "cannot read \(path)") }
        let mode = UInt32(info.st_mode) & 0o777
        if mode & 0o077 != 0 {
            throw ConfigError(file: file, line: line ?? 0, key: line == nil ? nil : "secrets",
                              message: "private key file \(path) has mode 0\(String(mode, radix: 8)) (group/others may access it); run: chmod 600 \(path)")
        }
    }

    /// The private key whose public key is the certificate's.
    func privateKey(for certificateDER: [UInt8], _ auth: AuthConfig) throws -> SignatureKey {
        let certificateKey = try SignatureKey.publicKey(certificateDER: certificateDER)
        var candidates: [(path: String, line: Int?)] = keyFiles.map { (resolve($0.file, in: "private"), $0.line) }
        for folder in ["private", "rsa", "ecdsa", "pkcs8"] {
            let folderPath = "\(directory)/\(folder)"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folderPath)) ?? []
            candidates += names.sorted().map { ("\(folderPath)/\($0)", nil) }
        }
        for (path, line) in candidates {
            guard let bytes = Self.read(path) else {
                if line != nil { throw ConfigError(file: file, line: line!, key: "secrets", message: "cannot read \(path)") }
                continue
            }
            guard let key = try? SignatureKey.privateKey(fileBytes: bytes), key.matches(certificateKey) else { continue }
            try checkPermissions(path, auth, line: line)
            return key
        }
        throw error(auth, "certs", "no private key for this certificate (in secrets { private-<name> { file } } or \(directory)/private/)")
    }

    func load(_ connection: ConnectionConfig) throws -> ConnectionCredentials {
        let local = connection.local, remote = connection.remote
        var chain: [Certificate] = []
        var key: SignatureKey?
        if local.method == .pubkey {
            chain = try loadCertificates(local, "certs", local.certificates, folder: "x509")
            guard let leaf = chain.first else { throw error(local, "certs", "names no certificate") }
            key = try privateKey(for: DERBytes.of(leaf), local)
        }
        var trust: CertificateTrust?
        var material = chain.map { DERBytes.of($0) }
        if remote.method == .pubkey {
            let anchors = try loadCertificates(remote, "cacerts", remote.caCertificates, folder: "x509ca")
            material += anchors.map { DERBytes.of($0) }
            let revocation = RevocationList()
            for name in remote.crls {
                let path = resolve(name, in: "x509crl")
                guard let bytes = Self.read(path) else { throw error(remote, "crls", "cannot read \(path)") }
                material.append(bytes)
                do { try revocation.add(fileBytes: bytes) } catch { throw self.error(remote, "crls", "\(path): \(error)") }
            }
            trust = CertificateTrust(anchors: anchors, revocation: revocation)
        }
        do {
            let authenticator = try CertificateAuthenticator(chain: chain, privateKey: key, trust: trust, rsaPSS: local.rsaPSS)
            return ConnectionCredentials(authenticator: authenticator,
                                         subjectDER: chain.first.map { DERBytes.of($0.subject) }, publicMaterial: material)
        } catch {
            throw self.error(local, "certs", "\(error)")
        }
    }
}
