// The `ha { }` subsection of `vipsec { cluster { } }` (issue 19, docs/takeover.md): several
// routing nodes with the same configuration, one active at a time, elected through an etcd
// lease. The active adds the DVIPA to `interface` and announces it; the others stand by.
//
//     vipsec {
//         cluster {
//             ...
//             ha {
//                 etcd = https://10.0.0.31:2379, https://10.0.0.32:2379, https://10.0.0.33:2379
//                 ca = /etc/vipsec/ha/ca.crt        # the HA CA (etcd's), not the cluster CA
//                 cert = /etc/vipsec/ha/router1.crt # this node's etcd client certificate
//                 key = /etc/vipsec/ha/router1.key  # mode 0600
//                 interface = wan0                  # where the DVIPA goes while active
//                 prefix = /vipsec/prod/            # this cluster's keys in etcd
//                 lease = 3s                        # takeover time vs etcd ride-through
//                 allow_small_etcd = no             # yes: accept fewer than 3 endpoints (tests)
//                 seal_key = /etc/vipsec/ha/seal.key # 32 random octets, mode 0600, the same on
//                                                   # every routing node: with it the active keeps
//                                                   # its IKE_SAs in etcd (sealed) and a takeover
//                                                   # continues them; without it a takeover
//                                                   # renegotiates (scripts/cluster-ca seal-key)
//             }
//         }
//     }
//
// Without `ha { }` nothing changes and no etcd is needed.

import Glibc

/// `vipsec { cluster { ha { ... } } }`.
public struct HASettings: Sendable, Equatable {
    /// `https://HOST:PORT`, in the order given.
    public var endpoints: [String]
    public var caPath: String
    public var certificatePath: String
    public var keyPath: String
    public var interface: String
    /// Ends with `/`.
    public var prefix: String
    /// Seconds.
    public var lease: Double
    /// The cluster's seal key file (HACoordination.RecordSealer); nil: no IKE state in etcd.
    public var sealKeyPath: String?
    /// Where each file key was written (for `--check`'s errors).
    var lines: [String: Int] = [:]

    /// The shortest lease: etcd raises a TTL below 1.5 × its election timeout (1 s by default),
    /// and a keepalive every TTL/6 must still fit round trips under load.
    public static let minimumLease = 2.0
    public static let maximumLease = 60.0

    init(reading reader: inout SectionReader) throws {
        guard let etcdEntry = reader.entry("etcd") else { throw reader.error(missing: "etcd") }
        endpoints = ConfigValue.list(etcdEntry.value)
        guard !endpoints.isEmpty else { throw reader.error(etcdEntry, "no endpoint (https://HOST:PORT, ...)") }
        for endpoint in endpoints where !Self.validEndpoint(endpoint) {
            throw reader.error(etcdEntry, "'\(endpoint)' is not https://HOST:PORT (etcd is reached over TLS only)")
        }
        let small = try reader.bool("allow_small_etcd", default: false)
        if endpoints.count < 3, !small {
            throw reader.error(etcdEntry, "\(endpoints.count) endpoint(s): etcd needs 3 members to survive one failure (allow_small_etcd = yes to accept)")
        }
        caPath = try reader.requiredString("ca")
        certificatePath = try reader.requiredString("cert")
        keyPath = try reader.requiredString("key")
        sealKeyPath = reader.entry("seal_key")?.value
        for key in ["ca", "cert", "key", "seal_key"] { lines[key] = reader.section.entry(key)?.line }
        guard let interfaceEntry = reader.entry("interface") else { throw reader.error(missing: "interface") }
        // IFNAMSIZ is 16 with the NUL; no '/', no blanks (dev_valid_name in the kernel).
        guard (1...15).contains(interfaceEntry.value.utf8.count),
              !interfaceEntry.value.contains(where: { $0 == "/" || $0 == ":" || $0.isWhitespace }) else {
            throw reader.error(interfaceEntry, "'\(interfaceEntry.value)' is not an interface name")
        }
        interface = interfaceEntry.value
        if let prefixEntry = reader.entry("prefix") {
            guard prefixEntry.value.hasPrefix("/"), prefixEntry.value.count > 1 else {
                throw reader.error(prefixEntry, "'\(prefixEntry.value)' must start with / (e.g. /vipsec/prod/)")
            }
            prefix = prefixEntry.value.hasSuffix("/") ? prefixEntry.value : prefixEntry.value + "/"
        } else {
            prefix = "/vipsec/"
        }
        lease = try reader.duration("lease", default: 3, range: Self.minimumLease...Self.maximumLease)
        if lease != lease.rounded(), let entry = reader.section.entry("lease") {
            throw reader.error(entry, "'\(entry.value)': etcd leases are whole seconds")
        }
        try reader.rejectUnknown()
    }

    static func validEndpoint(_ endpoint: String) -> Bool {
        guard endpoint.hasPrefix("https://") else { return false }
        let rest = endpoint.dropFirst("https://".count)
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]),
              (1...65535).contains(port) else { return false }
        var host = rest[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        return !host.isEmpty && !host.contains("/")
    }

    /// Refuses missing files, a key file group or others may access, and a certificate or CA
    /// that group or others may write (as the cluster's own key files are refused). `file`
    /// is the configuration file, for the error.
    public func checkFiles(configFile file: String) throws {
        let path = "vipsec.cluster.ha."
        for (key, value, forbidden, rule) in [
            ("key", keyPath, UInt32(0o077), "a key file must not be accessible by group or others; run: chmod 600 \(keyPath)"),
            ("cert", certificatePath, UInt32(0o022), "a certificate must not be writable by group or others"),
            ("ca", caPath, UInt32(0o022), "the CA certificate must not be writable by group or others"),
        ] + (sealKeyPath.map { [("seal_key", $0, UInt32(0o077), "a key file must not be accessible by group or others; run: chmod 600 \($0)")] } ?? []) {
            var info = stat()
            guard stat(value, &info) == 0 else {
                throw ConfigError(file: file, line: lines[key] ?? 0, key: path + key,
                                  message: "cannot read \(value): \(String(cString: strerror(errno)))")
            }
            guard (info.st_mode & S_IFMT) == S_IFREG, access(value, R_OK) == 0 else {
                throw ConfigError(file: file, line: lines[key] ?? 0, key: path + key, message: "\(value) is not a readable file")
            }
            let mode = UInt32(info.st_mode) & 0o777
            if mode & forbidden != 0 {
                throw ConfigError(file: file, line: lines[key] ?? 0, key: path + key,
                                  message: "\(value) has mode 0\(String(mode, radix: 8)): \(rule)")
            }
        }
    }
}
