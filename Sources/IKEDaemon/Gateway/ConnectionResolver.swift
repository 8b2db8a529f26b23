// From the config file's `connections` to what one IKE_SA needs (IKEv2.IKESAConfiguration):
// proposals parsed, identities as ID payloads, the PSK looked up, `dynamic` selectors
// replaced by the tunnel addresses.
import IKECertificates
import IKEv2

/// A connection resolved for one pair of addresses.
struct ResolvedConnection {
    var connection: ConnectionConfig
    var configuration: IKESAConfiguration
}

/// Errors resolving a connection (named after the connection; never containing secrets).
struct ConnectionResolutionError: Error, CustomStringConvertible {
    var description: String
}

struct ConnectionResolver {
    let config: DaemonConfig
    /// Where every CHILD_SA's reqid comes from (one per selector pair, daemon-wide).
    let reqids: ReqidAllocator
    /// Per connection, what does not depend on the peer: parsed once here, not for every
    /// IKE_SA_INIT (parsing the proposal strings was a tenth of a responder's CPU per setup).
    private let prepared: [PreparedConnection]
    /// Connection index by name: the per-IKE_SA timers (DPD, rekey) look theirs up by name.
    private let byName: [String: Int]

    /// The parts of a connection that are the same for every IKE_SA made from it.
    private struct PreparedConnection {
        /// `local_addrs` / `remote_addrs`: nil = any (empty or `%any` among them), else the
        /// parsed addresses (an entry that is not an address matches nothing, as before).
        var localAddresses: [[UInt8]]?
        var remoteAddresses: [[UInt8]]?
        /// The parsed `proposals` and each child's `esp_proposals`, or the parse error.
        var ikeProposals: Result<[Proposal], Error>
        var espProposals: [Result<[Proposal], Error>]
    }

    init(config: DaemonConfig, reqids: ReqidAllocator = ReqidAllocator()) {
        self.config = config
        self.reqids = reqids
        byName = Dictionary(config.connections.enumerated().map { ($0.element.name, $0.offset) }) { first, _ in first }
        prepared = config.connections.map { connection in
            func addresses(_ configured: [String]) -> [[UInt8]]? {
                if configured.isEmpty || configured.contains("%any") { return nil }
                return configured.compactMap { IPPrefix.parseAddress($0) }
            }
            return PreparedConnection(
                localAddresses: addresses(connection.localAddresses),
                remoteAddresses: addresses(connection.remoteAddresses),
                ikeProposals: Result { try ProposalSyntax.parse(connection.proposals.joined(separator: ","), protocolID: .ike) },
                espProposals: connection.children.map { child in
                    Result { try ProposalSyntax.parse(child.espProposals.joined(separator: ","), protocolID: .esp) }
                })
        }
    }

    /// The connection named `name` (the first, as `first(where:)` would), in O(1).
    func connection(named name: String) -> ConnectionConfig? {
        byName[name].map { config.connections[$0] }
    }

    /// The first connection whose addresses allow `local` ↔ `remote`.
    func connection(local: [UInt8], remote: [UInt8]) -> (index: Int, ConnectionConfig)? {
        for (index, connection) in prepared.enumerated() {
            if matches(connection.localAddresses, local) && matches(connection.remoteAddresses, remote) {
                return (index, config.connections[index])
            }
        }
        return nil
    }

    private func matches(_ configured: [[UInt8]]?, _ address: [UInt8]) -> Bool {
        guard let configured else { return true }
        return configured.contains(address)
    }

    /// The IKE_SA configuration of connection number `index` between `local` and `remote`.
    func resolve(index: Int, local: [UInt8], remote: [UInt8]) throws -> IKESAConfiguration {
        let connection = config.connections[index]
        func fail(_ message: String) -> ConnectionResolutionError {
            ConnectionResolutionError(description: "connection \(connection.name): \(message)")
        }
        let ikeProposals = try prepared[index].ikeProposals.get()
        guard !connection.children.isEmpty else { throw fail("has no children") }
        let children = try connection.children.enumerated().map { number, child in
            try Self.childConfiguration(child, espProposals: prepared[index].espProposals[number].get(),
                                        local: local, remote: remote)
        }
        var localIdentity = Self.identification(connection.local.identity, address: local)
        // strongSwan's default identity with a certificate: its subject.
        if connection.local.identity == nil, connection.local.method == .pubkey, let subject = connection.credentials?.subjectDER {
            localIdentity = IdentificationPayload(idType: .derASN1DN, identificationData: subject)
        }
        let remoteIdentity = connection.remote.identity.map { Self.identification($0, address: remote) }
        var presharedKey = SecretBytes([UInt8]())
        if connection.local.method == .psk || connection.remote.method == .psk {
            guard let secret = config.sharedSecret(local: connection.local.identity ?? IPPrefix.format(local),
                                                   remote: connection.remote.identity ?? IPPrefix.format(remote)) else {
                throw fail("no secret in `secrets` matches its identities")
            }
            presharedKey = SecretBytes(secret.secret)
        }
        var configuration = IKESAConfiguration(name: connection.name, ikeProposals: ikeProposals, localIdentity: localIdentity,
                                               remoteIdentity: remoteIdentity, presharedKey: presharedKey,
                                               children: children)
        configuration.maximumChildSAs = config.settings.childSAsPerIKESA
        configuration.fragmentation = FragmentationPolicy(supported: connection.fragmentation != .no,
                                                          sendsFragments: connection.fragmentation.sendsFragments,
                                                          maximumDatagramSize: config.settings.fragmentSize)
        configuration.localAuthentication = connection.local.method == .pubkey ? .publicKey : .psk
        configuration.remoteAuthentication = connection.remote.method == .pubkey ? .publicKey : .psk
        if configuration.usesPublicKeys {
            guard let credentials = connection.credentials else { throw fail("certificates not loaded") }
            configuration.publicKeyAuthenticator = credentials.authenticator
            configuration.sendCertificateRequest = connection.sendCertificateRequest
            configuration.sendCertificateAlways = connection.sendCertificateAlways
        }
        configuration.reqids = reqids
        configuration.deleteRekeyedDelay = config.settings.deleteRekeyedDelay
        configuration.followRedirects = config.settings.followRedirects
        return configuration
    }

    static func childConfiguration(_ child: ChildConfig, espProposals: [Proposal],
                                   local: [UInt8], remote: [UInt8]) -> ChildSAConfiguration {
        let lifetime = ChildSALifetime(softSeconds: UInt64(child.rekeyTime), hardSeconds: UInt64(child.lifeTime),
                                       softBytes: child.bytes.rekey, hardBytes: child.bytes.life,
                                       softPackets: child.packets.rekey, hardPackets: child.packets.life,
                                       softBytesJitter: child.bytes.rand, softPacketsJitter: child.packets.rand)
        var configuration = ChildSAConfiguration(
            name: child.name, espProposals: espProposals,
            localTrafficSelectors: child.localTrafficSelectors.map { selector($0, dynamic: local) },
            remoteTrafficSelectors: child.remoteTrafficSelectors.map { selector($0, dynamic: remote) },
            mode: child.mode == .tunnel ? .tunnel : .transport, lifetime: lifetime)
        return configuration
    }

    /// strongSwan's identity syntax: an IP address, `@fqdn` / `fqdn`, `user@fqdn` (RFC 822),
    /// a Distinguished Name (`C=CH, O=Example, CN=gw`, checked when the config was read).
    static func identification(_ text: String?, address: [UInt8]) -> IdentificationPayload {
        guard let text else {
            return IdentificationPayload(idType: address.count == 4 ? .ipv4Address : .ipv6Address, identificationData: address)
        }
        if let bytes = IPPrefix.parseAddress(text) {
            return IdentificationPayload(idType: bytes.count == 4 ? .ipv4Address : .ipv6Address, identificationData: bytes)
        }
        if DistinguishedNameText.looksLikeDN(text), let der = try? DistinguishedNameText.der(text) {
            return IdentificationPayload(idType: .derASN1DN, identificationData: der)
        }
        if text.hasPrefix("@") {
            return IdentificationPayload(idType: .fqdn, identificationData: Array(text.dropFirst().utf8))
        }
        if text.contains("@") {
            return IdentificationPayload(idType: .rfc822Address, identificationData: Array(text.utf8))
        }
        return IdentificationPayload(idType: .fqdn, identificationData: Array(text.utf8))
    }

    static func selector(_ configured: TrafficSelectorConfig, dynamic: [UInt8]) -> TrafficSelector {
        switch configured {
        case .dynamic:
            return dynamic.count == 4 ? .ipv4(dynamic, dynamic) : .ipv6(dynamic, dynamic)
        case .prefix(let prefix):
            return prefix.isIPv4 ? .ipv4(prefix.firstAddress, prefix.lastAddress) : .ipv6(prefix.firstAddress, prefix.lastAddress)
        }
    }
}
