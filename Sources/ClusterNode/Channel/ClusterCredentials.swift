import Cluster
import Foundation
import NIOCore
import NIOSSL

/// What is wrong with a node's cluster credentials. Each case names the file.
public enum ClusterCredentialError: Error, Equatable, CustomStringConvertible {
    /// The file cannot be read (missing, or not a regular file).
    case unreadable(path: String, reason: String)
    /// A key file that group or others may access, or a certificate file they may write.
    case loosePermissions(path: String, mode: UInt16, rule: String)
    /// The file does not hold what it should (PEM certificate or key).
    case invalidContent(path: String, reason: String)
    /// The certificate does not name the node id it is used for.
    case identityMismatch(path: String, nodeID: String, names: [String])

    /// The file the error is about.
    public var path: String {
        switch self {
        case .unreadable(let path, _), .loosePermissions(let path, _, _), .invalidContent(let path, _),
             .identityMismatch(let path, _, _):
            return path
        }
    }

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .loosePermissions(let path, let mode, let rule):
            return "refusing \(path): mode \(String(mode, radix: 8)) is too open (\(rule))"
        case .invalidContent(let path, let reason):
            return "\(path): \(reason)"
        case .identityMismatch(let path, let nodeID, let names):
            return "\(path) is issued to \(names.isEmpty ? "no node id" : names.joined(separator: ", ")), not to node id \(nodeID)"
        }
    }
}

/// A node's credentials for the cluster channel: its certificate (CN and SAN DNS name = its
/// node id), its private key and the cluster CA (made by `scripts/cluster-ca`).
///
/// Loading refuses a key file with any group or other permission bit and a certificate or
/// CA file that group or others may write (whoever can swap the CA can join the cluster).
public struct ClusterCredentials {
    public let certificatePath: String
    public let keyPath: String
    public let caPath: String
    let certificateChain: [NIOSSLCertificate]
    let privateKey: NIOSSLPrivateKey
    let trustRoots: [NIOSSLCertificate]

    /// Reads and checks the three files.
    public init(certificatePath: String, keyPath: String, caPath: String) throws {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.caPath = caPath
        try Self.checkPermissions(keyPath, forbidden: 0o077, rule: "a key file must not be accessible by group or others")
        try Self.checkPermissions(certificatePath, forbidden: 0o022, rule: "a certificate must not be writable by group or others")
        try Self.checkPermissions(caPath, forbidden: 0o022, rule: "the CA certificate must not be writable by group or others")
        certificateChain = try Self.certificates(certificatePath)
        trustRoots = try Self.certificates(caPath)
        do {
            privateKey = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        } catch {
            throw ClusterCredentialError.invalidContent(path: keyPath, reason: "not a PEM private key")
        }
    }

    /// The node ids the certificate is issued to (its SAN DNS names).
    public var nodeNames: [String] {
        certificateChain.first.map(ClusterCredentials.nodeNames(of:)) ?? []
    }

    /// Throws unless the certificate names `nodeID`.
    public func checkIdentity(_ nodeID: NodeID) throws {
        guard nodeNames.contains(nodeID.name) else {
            throw ClusterCredentialError.identityMismatch(path: certificatePath, nodeID: nodeID.name, names: nodeNames)
        }
    }

    /// TLS 1.3 server side (the routing node): a client certificate from the cluster CA is required.
    public func serverConfiguration() -> TLSConfiguration {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: certificateChain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        configuration.minimumTLSVersion = .tlsv13
        configuration.maximumTLSVersion = .tlsv13
        configuration.trustRoots = .certificates(trustRoots)
        configuration.additionalTrustRoots = []
        configuration.certificateVerification = .noHostnameVerification
        configuration.shutdownTimeout = tlsShutdownTimeout
        return configuration
    }

    /// How long a closing channel waits for the other side's close_notify (NIOSSL's default,
    /// 5 s, would hold a stop up when the other side is frozen).
    public var tlsShutdownTimeout: TimeAmount { .milliseconds(500) }

    /// TLS 1.3 client side (an agent): the routing node's certificate must come from the cluster CA.
    public func clientConfiguration() -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateChain = certificateChain.map { .certificate($0) }
        configuration.privateKey = .privateKey(privateKey)
        configuration.minimumTLSVersion = .tlsv13
        configuration.maximumTLSVersion = .tlsv13
        configuration.trustRoots = .certificates(trustRoots)
        configuration.certificateVerification = .noHostnameVerification
        configuration.shutdownTimeout = tlsShutdownTimeout
        return configuration
    }

    /// The SAN DNS names of `certificate` (where `scripts/cluster-ca` puts the node id).
    public static func nodeNames(of certificate: NIOSSLCertificate) -> [String] {
        certificate._subjectAlternativeNames().compactMap { name in
            name.nameType == .dnsName ? String(decoding: name.contents, as: UTF8.self) : nil
        }
    }

    static func checkPermissions(_ path: String, forbidden: UInt16, rule: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ClusterCredentialError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw ClusterCredentialError.unreadable(path: path, reason: "not a regular file")
        }
        let mode = UInt16(info.st_mode & 0o7777)
        guard mode & forbidden == 0 else {
            throw ClusterCredentialError.loosePermissions(path: path, mode: mode, rule: rule)
        }
    }

    static func certificates(_ path: String) throws -> [NIOSSLCertificate] {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw ClusterCredentialError.invalidContent(path: path, reason: "not a PEM certificate")
        }
        guard !certificates.isEmpty else {
            throw ClusterCredentialError.invalidContent(path: path, reason: "holds no certificate")
        }
        return certificates
    }
}
