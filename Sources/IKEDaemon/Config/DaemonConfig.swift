// vipsec's whole configuration file: `connections`, `secrets` (as in swanctl.conf) and a
// `vipsec { ... }` section for the daemon itself.
//
//     vipsec {
//         listen = 192.0.2.1        # addresses to bind UDP 500/4500 on (default: any)
//         half_open_limit = 1000    # half-open IKE_SAs kept at most
//         cookie_threshold = 10     # half-open IKE_SAs above which COOKIEs are demanded
//         half_open_timeout = 30s   # a responder IKE_SA without IKE_AUTH is forgotten after
//         delete_rekeyed_delay = 5s # a rekeyed CHILD_SA's inbound SA stays this long after its Delete
//         follow_redirects = yes    # as initiator, announce and follow RFC 5685 redirects
//         user = vipsec             # run as this user once the sockets are bound [root]
//         group = vipsec            # and this group [the user's]
//     }
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pre-shared key from `secrets { ike-<x> { id = ...; secret = ... } }`.
/// Its bytes never appear in descriptions; `wipe()` zeroes them.
public struct SharedSecret: Sendable, Equatable, CustomStringConvertible {
    /// The section name (`ike-gw`).
    public var name: String
    /// The identities the secret is for (`id`, `id-1`, ...); empty = any peer.
    public var identities: [String]
    /// The key bytes.
    public private(set) var secret: [UInt8]

    public init(name: String, identities: [String], secret: [UInt8]) {
        self.name = name
        self.identities = identities
        self.secret = secret
    }

    /// Overwrites the key bytes with zeros.
    public mutating func wipe() {
        for i in secret.indices { secret[i] = 0 }
    }

    public var description: String { "SharedSecret(\(name), ids: \(identities), <\(secret.count) bytes redacted>)" }
}

/// Settings of the daemon (`vipsec { ... }`).
public struct DaemonSettings: Sendable, Equatable {
    /// Addresses to bind UDP 500 and 4500 on (default: the IPv4 wildcard).
    public var listenAddresses: [String] = ["0.0.0.0"]
    /// UDP port for IKE (500).
    public var ikePort: Int = 500
    /// UDP port for NAT traversal (4500).
    public var natTraversalPort: Int = 4500
    /// Half-open IKE_SAs kept at most; IKE_SA_INIT requests beyond are dropped.
    public var halfOpenLimit: Int = 1000
    /// Half-open IKE_SAs one peer address may hold (strongSwan's `block_threshold`); its
    /// IKE_SA_INIT requests beyond are dropped, so one source cannot fill the table.
    public var halfOpenPerPeer: Int = 5
    /// CHILD_SAs one IKE_SA may hold; a peer's CREATE_CHILD_SA for more is answered
    /// NO_ADDITIONAL_SAS (RFC 7296 1.3), so one peer cannot fill the kernel. Rekeys pass.
    public var childSAsPerIKESA: Int = 1000
    /// Half-open IKE_SAs above which a COOKIE is demanded (RFC 7296 2.6).
    public var cookieThreshold: Int = 10
    /// Seconds a responder IKE_SA may stay half-open before it is forgotten (strongSwan: 30).
    public var halfOpenTimeout: Double = 30
    /// First retransmission timeout in seconds (strongSwan: 4).
    public var retransmitTimeout: Double = 4
    /// Backoff base (strongSwan: 1.8).
    public var retransmitBase: Double = 1.8
    /// Retransmissions before giving up (strongSwan: 5).
    public var retransmitTries: Int = 5
    /// Seconds the inbound SA of a CHILD_SA replaced by a rekey stays after the CHILD_SA's
    /// Delete (strongSwan's `charon.delete_rekeyed_delay`, also 5 s there), so that packets
    /// the peer sent on it before moving to the new SA are not lost; 0: removed at once.
    public var deleteRekeyedDelay: Double = 5
    /// IKE workers (event loops the IKE_SAs are sharded over); 0 = one per CPU. Default 1:
    /// on 2-CPU machines two workers were not reliably faster (README, Architecture).
    public var workers: Int = 1
    /// The largest IP datagram an IKE fragment (RFC 7383) may make, headers included
    /// (strongSwan's `charon.fragment_size`, 1280).
    public var fragmentSize: Int = 1280
    /// `cluster { }`: hand CHILD_SAs to the cluster's targets (nil: this host's kernel).
    public var cluster: ClusterSettings?
    /// `control { }` and `metrics { }` (OperatorSettings.swift).
    public var control = ControlSettings()
    public var metrics: MetricsSettings?
    /// `redirect { }` (RedirectSettings.swift): send new peers to another gateway.
    public var redirect: RedirectSettings?
    /// As initiator, announce REDIRECT_SUPPORTED and follow a gateway's N(REDIRECT) (RFC 5685;
    /// strongSwan's `charon.follow_redirects`, also on by default; IKEGateway+FollowRedirect.swift).
    public var followRedirects = true
    /// `user` and `group` (OperatorSettings.swift): the ids to run as once the sockets are bound.
    public var runAs = RunAs()

    public init() {}
}

/// The parsed configuration file.
public struct DaemonConfig: Sendable, Equatable {
    public var settings: DaemonSettings
    public var connections: [ConnectionConfig]
    public var secrets: [SharedSecret]
    /// `secrets { private-<name> { file = ... } }`: private key files for certificates.
    public var privateKeyFiles: [PrivateKeyFile] = []

    /// Parses `text`; `file` names the source in errors.
    public init(parsing text: String, file: String) throws {
        let root = try ConfigSyntax.parse(text, file: file)
        var reader = SectionReader(root, file: file, path: "")
        settings = DaemonSettings()
        if var vipsecReader = reader.subsection("vipsec") {
            let listen = vipsecReader.list("listen")
            if let bad = listen.first(where: { IPPrefix.parseAddress($0) == nil }), let entry = vipsecReader.section.entry("listen") {
                throw vipsecReader.error(entry, "'\(bad)' is not an IP address")
            }
            if !listen.isEmpty { settings.listenAddresses = listen }
            settings.ikePort = try vipsecReader.integer("port", default: 500, range: 1...65535)
            settings.natTraversalPort = try vipsecReader.integer("port_nat_t", default: 4500, range: 1...65535)
            settings.halfOpenLimit = try vipsecReader.integer("half_open_limit", default: 1000, range: 1...1_000_000)
            settings.cookieThreshold = try vipsecReader.integer("cookie_threshold", default: 10, range: 0...1_000_000)
            settings.halfOpenPerPeer = try vipsecReader.integer("half_open_per_peer", default: 5, range: 1...1_000_000)
            settings.childSAsPerIKESA = try vipsecReader.integer("child_sas_per_ike_sa", default: 1000, range: 1...1_000_000)
            settings.halfOpenTimeout = try vipsecReader.duration("half_open_timeout", default: 30)
            settings.retransmitTimeout = try vipsecReader.duration("retransmit_timeout", default: 4)
            settings.retransmitBase = try vipsecReader.duration("retransmit_base", default: 1.8)
            settings.retransmitTries = try vipsecReader.integer("retransmit_tries", default: 5, range: 0...20)
            settings.workers = try vipsecReader.integer("workers", default: 1, range: 0...256)
            // 576: the IPv4 minimum; below it the fragments' framing would leave little room.
            settings.fragmentSize = try vipsecReader.integer("fragment_size", default: 1280, range: 576...65535)
            settings.deleteRekeyedDelay = try vipsecReader.duration("delete_rekeyed_delay", default: 5, range: 0...Self.maximumDeleteRekeyedDelay)
            settings.runAs = try RunAs(reading: &vipsecReader)
            if var clusterReader = vipsecReader.subsection("cluster") {
                settings.cluster = try ClusterSettings(reading: &clusterReader)
            }
            if var reader = vipsecReader.subsection("control") { settings.control = try ControlSettings(reading: &reader) }
            if var reader = vipsecReader.subsection("metrics") { settings.metrics = try MetricsSettings(reading: &reader) }
            if var reader = vipsecReader.subsection("redirect") { settings.redirect = try RedirectSettings(reading: &reader) }
            settings.followRedirects = try vipsecReader.bool("follow_redirects", default: true)
            try vipsecReader.rejectUnknown()
        }
        connections = []
        if var connectionsReader = reader.subsection("connections") {
            for var connectionReader in connectionsReader.allSubsections() {
                connections.append(try ConnectionConfig(reading: &connectionReader))
            }
            try connectionsReader.rejectUnknown()
        }
        secrets = []
        if var secretsReader = reader.subsection("secrets") {
            for var secretReader in secretsReader.allSubsections() {
                let name = secretReader.section.name
                if ["private", "rsa", "ecdsa", "pkcs8", "eddsa"].contains(where: { name.hasPrefix($0) }) {
                    let path = try secretReader.requiredString("file")
                    if let entry = secretReader.entry("secret") {
                        throw secretReader.error(entry, "encrypted private keys are not supported; store the key unencrypted with mode 0600")
                    }
                    try secretReader.rejectUnknown()
                    privateKeyFiles.append(PrivateKeyFile(name: name, file: path, line: secretReader.section.entry("file")?.line ?? 0))
                    continue
                }
                guard name.hasPrefix("ike") else {
                    throw ConfigError(file: file, line: secretReader.section.line, key: secretReader.path,
                                      message: "only ike-<name> and private-<name> secrets are supported")
                }
                var identities: [String] = []
                for entry in secretReader.section.entries where entry.key.hasPrefix("id") {
                    identities.append(secretReader.entry(entry.key)?.value ?? "")
                }
                guard let secretEntry = secretReader.entry("secret") else { throw secretReader.error(missing: "secret") }
                guard let bytes = ConfigValue.secret(secretEntry.value) else {
                    // Never echo the value: it is key material.
                    throw secretReader.error(secretEntry, "malformed secret (use a string, 0x<hex> or 0s<base64>)")
                }
                try secretReader.rejectUnknown()
                secrets.append(SharedSecret(name: name, identities: identities, secret: bytes))
            }
            try secretsReader.rejectUnknown()
        }
        try reader.rejectUnknown()
        if let duplicate = Self.firstDuplicate(connections.map(\.name)) {
            throw ConfigError(file: file, line: 0, key: "connections.\(duplicate)", message: "connection defined twice")
        }
        // Certificates and keys are read now, so that `--check` reports a missing or loose file.
        for index in connections.indices where connections[index].local.method == .pubkey || connections[index].remote.method == .pubkey {
            connections[index].credentials = try CredentialLoader(file: file, keyFiles: privateKeyFiles).load(connections[index])
        }
    }

    /// The longest `delete_rekeyed_delay`: an old inbound SA (and its keys) must not stay
    /// in the kernel for long.
    public static let maximumDeleteRekeyedDelay = 3600.0

    /// Reads and parses `path`, refusing a file that holds secrets and is readable or
    /// writable by group or others.
    public static func load(path: String) throws -> DaemonConfig {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ConfigError(file: path, line: 0, message: "cannot read: \(String(cString: strerror(errno)))")
        }
        guard let text = readFile(path) else {
            throw ConfigError(file: path, line: 0, message: "cannot read: \(String(cString: strerror(errno)))")
        }
        let config = try DaemonConfig(parsing: text, file: path)
        // etcd's TLS files are checked now, so that `--check` reports a missing or loose file.
        try config.settings.cluster?.ha?.checkFiles(configFile: path)
        let loose = UInt32(info.st_mode) & 0o077
        if !config.secrets.isEmpty, loose != 0 {
            let mode = String(UInt32(info.st_mode) & 0o777, radix: 8)
            throw ConfigError(file: path, line: 0, message:
                "holds secrets but has mode 0\(mode) (group/others may access it); run: chmod 600 \(path)")
        }
        return config
    }

    private static func readFile(_ path: String) -> String? {
        guard let handle = fopen(path, "r") else { return nil }
        defer { fclose(handle) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&chunk, 1, chunk.count, handle)
            if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
            if n < chunk.count { break }
            if bytes.count > 4 << 20 { return nil }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func firstDuplicate(_ names: [String]) -> String? {
        var seen: Set<String> = []
        for name in names where !seen.insert(name).inserted { return name }
        return nil
    }

    /// The pre-shared key for a pair of identities, strongSwan-style: the secret whose ids
    /// match both best (an id-less secret matches anyone).
    public func sharedSecret(local: String?, remote: String?) -> SharedSecret? {
        var best: (score: Int, secret: SharedSecret)?
        for secret in secrets {
            var score = 0
            if secret.identities.isEmpty { score = 1 } else {
                if let local, secret.identities.contains(local) { score += 2 }
                if let remote, secret.identities.contains(remote) { score += 4 }
                if score == 0 { continue }
            }
            if score > (best?.score ?? 0) { best = (score, secret) }
        }
        return best?.secret
    }
}
