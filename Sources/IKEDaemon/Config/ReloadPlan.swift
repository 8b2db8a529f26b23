// What a live reload (`vipsec reload`, SIGHUP) does, worked out from the running and the new
// configuration; pure, no I/O (Operator/ConfigReload.swift carries it out).
//
// The rule (README, Operations): connections are matched by name. A new name is added (and
// initiated if a child has start_action = start); a name gone is removed (its IKE_SAs and
// CHILD_SAs deleted with the peer); a connection whose settings, children, certificates or
// matching secrets differ is changed, which is handled as libreswan's `auto --replace`: its
// SAs are deleted with the peer and it is set up again as new; an unchanged one keeps its
// IKE_SAs and CHILD_SAs untouched. The `vipsec { }` section cannot change live: a reload
// that changes it is refused, naming the keys, and nothing is applied.

/// The connections of a reload, by what happens to them (names in the new file's order,
/// removed ones in the old file's).
public struct ReloadPlan: Equatable, Sendable {
    public var added: [String] = []
    public var removed: [String] = []
    public var changed: [String] = []
    public var unchanged: [String] = []
    /// `vipsec.cluster.inbound.verify`, when the reload changes it (the one `vipsec { }` key
    /// that changes live: an operator switches ICV verification on under attack without
    /// dropping the IKE_SAs a restart would).
    public var inboundVerify: InboundSettings.Verify?

    /// Refuses (`ReloadRefusal`) when `vipsec { }` differs.
    public init(running: DaemonConfig, new: DaemonConfig) throws {
        let restartKeys = Self.settingsNeedingRestart(running.settings, new.settings)
        guard restartKeys.isEmpty else { throw ReloadRefusal(keys: restartKeys) }
        if let verify = new.settings.cluster?.inbound?.verify, verify != running.settings.cluster?.inbound?.verify {
            inboundVerify = verify
        }
        let old = Dictionary(running.connections.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let newNames = Set(new.connections.map(\.name))
        for connection in new.connections {
            guard let before = old[connection.name] else { added.append(connection.name); continue }
            if Self.same(before, in: running, connection, in: new) {
                unchanged.append(connection.name)
            } else {
                changed.append(connection.name)
            }
        }
        removed = running.connections.map(\.name).filter { !newNames.contains($0) }
    }

    /// Connections whose IKE_SAs go (deleted with the peer).
    public var deleted: Set<String> { Set(removed + changed) }
    /// Connections set up as new (initiated when a child has start_action = start).
    public var setUp: Set<String> { Set(added + changed) }

    /// One line per kind, for the CLI and the log (names only, never keys).
    public var summary: [String] {
        [("added", added), ("removed", removed), ("changed", changed), ("unchanged", unchanged)].map { kind, names in
            "\(kind): \(names.isEmpty ? "none" : names.joined(separator: ", "))"
        } + (inboundVerify.map { ["inbound verify: \($0.rawValue)"] } ?? [])
    }

    /// Whether connection `a` of `aConfig` works exactly as `b` of `bConfig`: the same keys
    /// and children, certificates of the same contents, and the same secrets that may match it.
    static func same(_ a: ConnectionConfig, in aConfig: DaemonConfig, _ b: ConnectionConfig, in bConfig: DaemonConfig) -> Bool {
        var plainA = a, plainB = b
        plainA.credentials = nil
        plainB.credentials = nil
        guard plainA == plainB else { return false }
        switch (a.credentials, b.credentials) {
        case (nil, nil): break
        case (let x?, let y?): guard x.publicMaterial == y.publicMaterial else { return false }
        default: return false
        }
        return candidateSecrets(a, in: aConfig) == candidateSecrets(b, in: bConfig)
    }

    /// The secrets the PSK lookup (`DaemonConfig.sharedSecret`) could pick for `connection`:
    /// those without ids, and those naming one of its identities (its addresses when it
    /// has no `id`); every secret when a side may be any address.
    static func candidateSecrets(_ connection: ConnectionConfig, in config: DaemonConfig) -> [SharedSecret] {
        guard connection.local.method == .psk || connection.remote.method == .psk else { return [] }
        func names(_ identity: String?, _ addresses: [String]) -> [String]? {
            if let identity { return [identity] }
            return addresses.isEmpty || addresses.contains("%any") ? nil : addresses
        }
        guard let local = names(connection.local.identity, connection.localAddresses),
              let remote = names(connection.remote.identity, connection.remoteAddresses) else { return config.secrets }
        return config.secrets.filter { secret in
            secret.identities.isEmpty || secret.identities.contains { local.contains($0) || remote.contains($0) }
        }
    }

    /// The `vipsec { }` keys whose values differ (each needs a restart).
    static func settingsNeedingRestart(_ a: DaemonSettings, _ b: DaemonSettings) -> [String] {
        // `cluster.inbound.verify` changes live: compared with it set alike.
        var b = b
        if let verify = a.cluster?.inbound?.verify, b.cluster?.inbound != nil { b.cluster?.inbound?.verify = verify }
        func differs<T: Equatable>(_ path: KeyPath<DaemonSettings, T>) -> Bool { a[keyPath: path] != b[keyPath: path] }
        let keys: [(String, Bool)] = [
            ("listen", differs(\.listenAddresses)), ("port", differs(\.ikePort)), ("port_nat_t", differs(\.natTraversalPort)),
            ("half_open_limit", differs(\.halfOpenLimit)), ("half_open_per_peer", differs(\.halfOpenPerPeer)),
            ("child_sas_per_ike_sa", differs(\.childSAsPerIKESA)), ("cookie_threshold", differs(\.cookieThreshold)),
            ("half_open_timeout", differs(\.halfOpenTimeout)), ("retransmit_timeout", differs(\.retransmitTimeout)),
            ("retransmit_base", differs(\.retransmitBase)), ("retransmit_tries", differs(\.retransmitTries)),
            ("delete_rekeyed_delay", differs(\.deleteRekeyedDelay)), ("workers", differs(\.workers)),
            ("fragment_size", differs(\.fragmentSize)), ("cluster", differs(\.cluster)), ("control", differs(\.control)),
            ("metrics", differs(\.metrics)), ("redirect", differs(\.redirect)),
            ("user", differs(\.runAs.user) || differs(\.runAs.uid)), ("group", differs(\.runAs.group) || differs(\.runAs.gid)),
        ]
        let named = keys.filter(\.1).map { "vipsec.\($0.0)" }
        // A setting added to DaemonSettings but not to this list still refuses the reload.
        return named.isEmpty && a != b ? ["vipsec"] : named
    }
}

/// A reload that would change what only a restart can change; nothing was applied.
public struct ReloadRefusal: Error, Equatable, CustomStringConvertible {
    public var keys: [String]
    public var description: String {
        "\(keys.joined(separator: ", ")): changed, needs a restart (nothing reloaded; the running configuration stays)"
    }
}
