// The `connections { <name> { ... } }` part of the config: swanctl.conf's keys and defaults.
import IKECertificates

/// How a peer authenticates (the `auth` key of `local`/`remote`).
public enum AuthMethod: String, Sendable, Equatable {
    /// Pre-shared key (RFC 7296 2.15, "Shared Key Message Integrity Code").
    case psk
    /// A signature with the key of an X.509 certificate (RFC 7427; `auth = pubkey`, or
    /// `rsa/pss` to sign with RSASSA-PSS).
    case pubkey
}

/// One side's authentication round (`local { auth = psk; id = ... }`).
public struct AuthConfig: Sendable, Equatable {
    public var method: AuthMethod
    /// The IKE identity (`id`): an IP address, `@fqdn` or `fqdn`, `user@fqdn`, or a DN
    /// (`C=CH, O=Example, CN=gw`); nil means "the IP address" / the certificate's subject
    /// (local) or "any" (remote).
    public var identity: String?
    /// `local`: our certificate, then intermediates sent with it (`certs`; relative paths in
    /// `x509/` beside the config file, as swanctl's).
    public var certificates: [String] = []
    /// `remote`: trust anchors (`cacerts`, relative: `x509ca/`) and CRLs (`crls`, relative: `x509crl/`).
    public var caCertificates: [String] = []
    public var crls: [String] = []
    /// `auth = rsa/pss`: RSA signatures with RSASSA-PSS.
    public var rsaPSS = false
    /// The line of each key, for errors found when the files are loaded (not compared).
    var lines: [String: Int] = [:]
    var path = ""

    public static func == (a: AuthConfig, b: AuthConfig) -> Bool {
        a.method == b.method && a.identity == b.identity && a.certificates == b.certificates
            && a.caCertificates == b.caCertificates && a.crls == b.crls && a.rsaPSS == b.rsaPSS
    }
}

/// A configured traffic selector (`local_ts` / `remote_ts` items).
public enum TrafficSelectorConfig: Sendable, Equatable, CustomStringConvertible {
    /// The tunnel endpoint's own address (strongSwan's `dynamic`, the default).
    case dynamic
    /// An address prefix, all protocols and ports.
    case prefix(IPPrefix)

    public var description: String {
        switch self {
        case .dynamic: return "dynamic"
        case .prefix(let prefix): return prefix.description
        }
    }
}

/// IPsec mode of a CHILD_SA.
public enum IPsecMode: String, Sendable, Equatable {
    case tunnel
    case transport
}

/// IKE fragmentation (RFC 7383) of a connection (`fragmentation`, strongSwan's values).
public enum FragmentationMode: String, Sendable, Equatable {
    /// Announce, accept, and fragment our large messages (the default).
    case yes
    /// Announce and accept, never fragment ours.
    case accept
    /// strongSwan fragments even the first IKE_AUTH without asking (IKEv1's need): in IKEv2
    /// fragments are only sent once negotiated, so this behaves as `yes`.
    case force
    /// Neither announce nor accept.
    case no

    /// Whether our own large messages go out as fragments (once negotiated).
    public var sendsFragments: Bool { self == .yes || self == .force }
}

/// What to do with a CHILD_SA when the config is loaded (`start_action`). strongSwan's
/// `trap` (policies without SAs, an XFRM acquire starts IKE) is not implemented: a file
/// asking for it is refused (`ChildConfig.init(reading:)`), never loaded and ignored.
public enum StartAction: String, Sendable, Equatable {
    /// Wait for the peer.
    case none
    /// Initiate the IKE_SA and this CHILD_SA at once.
    case start
}

/// One `children { <name> { ... } }` entry.
public struct ChildConfig: Sendable, Equatable {
    public var name: String
    public var localTrafficSelectors: [TrafficSelectorConfig]
    public var remoteTrafficSelectors: [TrafficSelectorConfig]
    /// ESP proposals in strongSwan syntax (`aes256gcm16-x25519`, ...), tried in order.
    public var espProposals: [String]
    public var mode: IPsecMode
    /// Seconds until rekeying (`rekey_time`, default 1h; 0 disables).
    public var rekeyTime: Double
    /// Seconds until the CHILD_SA expires (`life_time`, default rekey_time + 10%).
    public var lifeTime: Double
    /// Bytes per SA until rekeying (`rekey_bytes`, 0 = never) / expiry (`life_bytes`) and
    /// the rekey limit's jitter (`rand_bytes`); see VolumeLimits.swift for the defaults.
    public var bytes: VolumeLimits
    /// The same in packets (`rekey_packets`, `life_packets`, `rand_packets`).
    public var packets: VolumeLimits
    public var rekeyBytes: UInt64 { bytes.rekey }
    public var lifeBytes: UInt64 { bytes.life }
    public var startAction: StartAction
}

/// One `connections { <name> { ... } }` entry.
public struct ConnectionConfig: Sendable, Equatable {
    public var name: String
    /// IKE version (only 2; strongSwan's 0 = "any" is accepted and means 2 here).
    public var version: Int
    /// Local addresses the connection uses (`local_addrs`; empty = any).
    public var localAddresses: [String]
    /// Remote addresses (`remote_addrs`; empty = any, responder only).
    public var remoteAddresses: [String]
    /// IKE proposals in strongSwan syntax (`aes256gcm16-prfsha256-x25519`, ...), tried in order.
    public var proposals: [String]
    /// Seconds until the IKE_SA is rekeyed (`rekey_time`, default 4h).
    public var rekeyTime: Double
    /// Extra seconds before a failed rekey tears the IKE_SA down (`over_time`, default 10% of rekey_time).
    public var overTime: Double
    /// Seconds of silence before a liveness check (`dpd_delay`, 0 = off).
    public var dpdDelay: Double
    /// IKE fragmentation (`fragmentation`, default yes).
    public var fragmentation: FragmentationMode
    public var local: AuthConfig
    public var remote: AuthConfig
    public var children: [ChildConfig]
    /// `send_certreq` (default yes) and `send_cert` (`ifasked`, the default, or `always`).
    public var sendCertificateRequest = true
    public var sendCertificateAlways = false
    /// The loaded certificates and key of a connection with `auth = pubkey` on either side
    /// (set when the file is loaded: CertificateCredentials.swift).
    public var credentials: ConnectionCredentials?
}

extension ConnectionConfig {
    /// The default proposal when `proposals` is not set (strongSwan's "default" narrowed to what vipsec implements).
    public static let defaultProposals = ["aes256gcm16-prfsha256-x25519", "aes128-sha256-ecp256"]

    init(reading reader: inout SectionReader) throws {
        name = reader.section.name
        if let versionEntry = reader.entry("version") {
            guard versionEntry.value == "2" || versionEntry.value == "0" else {
                throw reader.error(versionEntry, "only IKE version 2 is supported")
            }
        }
        version = 2
        localAddresses = reader.list("local_addrs")
        remoteAddresses = reader.list("remote_addrs")
        for (key, addresses) in [("local_addrs", localAddresses), ("remote_addrs", remoteAddresses)] {
            if let bad = addresses.first(where: { $0 != "%any" && IPPrefix.parseAddress($0) == nil }),
               let entry = reader.section.entry(key) {
                throw reader.error(entry, "'\(bad)' is not an IP address")
            }
        }
        sendCertificateRequest = try reader.bool("send_certreq", default: true)
        sendCertificateAlways = try reader.choice("send_cert", default: false, ["ifasked": false, "always": true])
        proposals = reader.list("proposals")
        if proposals.isEmpty || proposals == ["default"] { proposals = Self.defaultProposals }
        rekeyTime = try reader.duration("rekey_time", default: 4 * 3600)
        overTime = try reader.optionalDuration("over_time") ?? rekeyTime * 0.1
        dpdDelay = try reader.duration("dpd_delay", default: 0)
        fragmentation = try reader.choice("fragmentation", default: FragmentationMode.yes,
                                          ["yes": .yes, "accept": .accept, "force": .force, "no": .no])

        guard var localReader = reader.subsection("local") else { throw reader.error(missing: "local") }
        local = try Self.readAuth(&localReader, local: true)
        guard var remoteReader = reader.subsection("remote") else { throw reader.error(missing: "remote") }
        remote = try Self.readAuth(&remoteReader, local: false)

        children = []
        if var childrenReader = reader.subsection("children") {
            for var childReader in childrenReader.allSubsections() {
                children.append(try ChildConfig(reading: &childReader))
            }
            try childrenReader.rejectUnknown()
        }
        try reader.rejectUnknown()
    }

    private static func readAuth(_ reader: inout SectionReader, local: Bool) throws -> AuthConfig {
        let method = try reader.choice("auth", default: "psk", ["psk": "psk", "pubkey": "pubkey", "rsa/pss": "rsa/pss"])
        let identity = reader.string("id")
        var auth = AuthConfig(method: method == "psk" ? .psk : .pubkey, identity: identity)
        auth.rsaPSS = method == "rsa/pss"
        auth.path = reader.path
        if let identity, let entry = reader.section.entry("id"), DistinguishedNameText.looksLikeDN(identity) {
            do { _ = try DistinguishedNameText.der(identity) } catch { throw reader.error(entry, "not a Distinguished Name: \(error)") }
        }
        // `certs` is ours to send (local), `cacerts`/`crls` judge the peer's (remote).
        for (key, isLocalKey) in [("certs", true), ("cacerts", false), ("crls", false)] {
            guard let entry = reader.entry(key) else { continue }
            guard isLocalKey == local else { throw reader.error(entry, "belongs in the \(isLocalKey ? "local" : "remote") section") }
            guard auth.method == .pubkey else { throw reader.error(entry, "needs auth = pubkey") }
            let files = ConfigValue.list(entry.value)
            guard !files.isEmpty else { throw reader.error(entry, "names no file") }
            auth.lines[key] = entry.line
            switch key {
            case "certs": auth.certificates = files
            case "cacerts": auth.caCertificates = files
            default: auth.crls = files
            }
        }
        auth.lines["auth"] = reader.section.entry("auth")?.line ?? reader.section.line
        if auth.method == .pubkey {
            if local && auth.certificates.isEmpty { throw reader.error(missing: "certs") }
            if !local && auth.caCertificates.isEmpty { throw reader.error(missing: "cacerts") }
        }
        try reader.rejectUnknown()
        return auth
    }
}

extension ChildConfig {
    init(reading reader: inout SectionReader) throws {
        name = reader.section.name
        localTrafficSelectors = try Self.readSelectors(&reader, "local_ts")
        remoteTrafficSelectors = try Self.readSelectors(&reader, "remote_ts")
        espProposals = reader.list("esp_proposals")
        if espProposals.isEmpty || espProposals == ["default"] { espProposals = ["aes256gcm16", "aes128-sha256"] }
        mode = try reader.choice("mode", default: IPsecMode.tunnel, ["tunnel": .tunnel, "transport": .transport])
        rekeyTime = try reader.duration("rekey_time", default: 3600)
        lifeTime = try reader.optionalDuration("life_time") ?? rekeyTime * 1.1
        bytes = try reader.volumeLimits("bytes")
        packets = try reader.volumeLimits("packets")
        if let entry = reader.section.entry("start_action"), entry.value == "trap" {
            throw reader.error(entry, "'trap' is not supported: vipsec installs no trap policies, so no packet would "
                               + "ever start this child; use start (initiate at load) or none (wait for the peer)")
        }
        startAction = try reader.choice("start_action", default: StartAction.none, ["none": .none, "start": .start])
        if rekeyTime > 0, lifeTime > 0, lifeTime < rekeyTime, let entry = reader.section.entry("life_time") {
            throw reader.error(entry, "life_time must not be shorter than rekey_time")
        }
        try reader.rejectUnknown()
    }

    private static func readSelectors(_ reader: inout SectionReader, _ key: String) throws -> [TrafficSelectorConfig] {
        guard let entry = reader.entry(key) else { return [.dynamic] }
        return try ConfigValue.list(entry.value).map { item in
            if item == "dynamic" { return .dynamic }
            if item.contains("[") {
                throw reader.error(entry, "'\(item)': protocol/port selectors are not supported yet")
            }
            guard let prefix = IPPrefix(item) else {
                throw reader.error(entry, "'\(item)' is not a prefix (e.g. 10.1.0.0/24) or 'dynamic'")
            }
            return .prefix(prefix)
        }
    }
}

extension SectionReader {
    mutating func optionalCount(_ key: String) throws -> UInt64? {
        guard section.entry(key) != nil else { _ = entry(key); return nil }
        return try count(key, default: 0)
    }
}
