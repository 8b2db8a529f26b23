// The gateway's side of the control socket: its IKE_SAs as `vipsec list-sas` entries, and
// the operator's commands (initiate, terminate, rekey) as gateway actions. No I/O.
import IKEv2

/// When each IKE_SA was established and each CHILD_SA installed, and when their timers
/// fire, read off the actions `IKEGateway.store` returns (so no exchange code changes).
struct SATimes {
    var established: [UInt64: Double] = [:]
    var ikeRekeyAt: [UInt64: Double] = [:]
    var ikeExpireAt: [UInt64: Double] = [:]
    var installed: [UInt32: Double] = [:]
    var childRekeyAt: [UInt32: Double] = [:]
    /// For the metrics: IKE_SAs that closed before they were established, by reason
    /// (`IKESetupFailure`); established ones that closed because the peer stopped
    /// answering; CHILD_SA rekeys installed; liveness checks (DPD) sent.
    var setupFailures: [String: Int] = [:]
    var deadPeers = 0
    var childRekeys = 0
    var livenessChecks = 0

    /// Called by `store` with the SA it stored, the SA's actions and the gateway's.
    mutating func record(_ sa: IKESA, _ ikeActions: [IKEAction], _ actions: [GatewayAction], now: Double) {
        let spi = sa.localSPI
        var closed = false
        for case .closed(let reason) in ikeActions {
            closed = true
            if established[spi] == nil {
                setupFailures[IKESetupFailure.reason(reason), default: 0] += 1
            } else if IKESetupFailure.reason(reason) == "timeout" {
                deadPeers += 1
            }
        }
        if closed {
            for table in [\SATimes.established, \.ikeRekeyAt, \.ikeExpireAt] { self[keyPath: table][spi] = nil }
        } else if sa.phase == .established, established[spi] == nil {
            established[spi] = now
        }
        for action in actions {
            switch action {
            case .install(let child, _):
                installed[child.inbound.spi] = now
                if child.rekeyOf != nil { childRekeys += 1 }
            case .delete(let child):
                installed[child.inbound.spi] = nil
                childRekeyAt[child.inbound.spi] = nil
            case .deleteOutbound(let child):
                childRekeyAt[child.inbound.spi] = nil
            case .scheduleCommand(.rekeyChildSA(_, let inboundSPI), let deadline): childRekeyAt[inboundSPI] = deadline
            case .scheduleCommand(.rekeyIKESA(let ike), let deadline): ikeRekeyAt[ike] = deadline
            case .scheduleCommand(.expireIKESA(let ike), let deadline): ikeExpireAt[ike] = deadline
            default: break
            }
        }
    }
}

/// The metrics' `reason` label of an IKE_SA that closed: a few stable words from the
/// free-text reason the IKE core gives.
enum IKESetupFailure {
    static func reason(_ text: String) -> String {
        let lower = text.lowercased()
        if lower.contains("did not answer") { return "timeout" }
        if lower.contains("auth") { return "authentication" }
        if lower.contains("proposal") { return "no_proposal" }
        if lower.contains("deleted") || lower.contains("rekeyed") { return "deleted" }
        return "other"
    }
}

extension IKEGateway {
    /// Every IKE_SA of this gateway (closed ones are gone already), by connection name and SPI.
    func operatorListing(now: Double) -> [IKESAEntry] {
        func seconds(since time: Double?) -> Int? { time.map { max(0, Int(now - $0)) } }
        func seconds(until time: Double?) -> Int? { time.map { max(0, Int(($0 - now).rounded(.up))) } }
        return sas.values.sorted { ($0.configuration.name, $0.localSPI) < ($1.configuration.name, $1.localSPI) }.map { sa in
            let spi = sa.localSPI
            func entry(_ child: ChildSAInstallation, state: String, rekeyAt: Double?, expiresAt: Double?) -> ChildSAEntry {
                ChildSAEntry(
                    name: child.name, uniqueID: hex8(child.inbound.spi), state: state,
                    mode: child.mode.rawValue.uppercased(), reqid: child.reqid,
                    spiIn: "0x" + hex8(child.inbound.spi), spiOut: "0x" + hex8(child.outbound.spi),
                    proposal: Self.proposal(child), encapsulated: child.udpEncapsulation != nil,
                    localTS: child.localTrafficSelectors.map(Self.selectorText),
                    remoteTS: child.remoteTrafficSelectors.map(Self.selectorText),
                    installedSeconds: seconds(since: times.installed[child.inbound.spi]),
                    rekeyInSeconds: seconds(until: rekeyAt), expiresInSeconds: seconds(until: expiresAt))
            }
            let children = sa.childSAs.map { child -> ChildSAEntry in
                let installedAt = times.installed[child.inbound.spi]
                let hard = child.lifetime.hardSeconds
                return entry(child, state: child.outboundDeferred ? "INSTALLED_INBOUND" : "INSTALLED",
                             rekeyAt: times.childRekeyAt[child.inbound.spi],
                             expiresAt: hard > 0 ? installedAt.map { $0 + Double(hard) } : nil)
            }
            // Replaced by a rekey: only the inbound SA is left, until delete_rekeyed_delay is over.
            + sa.rekeyedChildSAs.map { entry($0.child, state: "REKEYED", rekeyAt: nil, expiresAt: $0.removeAt) }
            let established = sa.phase == .established
            return IKESAEntry(
                name: sa.configuration.name, uniqueID: hex16(spi), state: Self.state(sa.phase),
                localHost: IPPrefix.format(sa.local.address), localPort: Int(sa.local.port),
                remoteHost: IPPrefix.format(sa.remote.address), remotePort: Int(sa.remote.port),
                initiator: sa.isOriginalInitiator, initiatorSPI: hex16(sa.initiatorSPI), responderSPI: hex16(sa.responderSPI),
                proposal: sa.negotiatedProposal, rekeys: sa.rekeyGeneration,
                establishedSeconds: seconds(since: times.established[spi]),
                rekeyInSeconds: established ? seconds(until: times.ikeRekeyAt[spi]) : nil,
                expiresInSeconds: established ? seconds(until: times.ikeExpireAt[spi]) : nil,
                childSAs: children)
        }
    }

    static func state(_ phase: IKESA.Phase) -> String {
        switch phase {
        case .negotiatingInit, .authenticating: return "CONNECTING"
        case .established: return "ESTABLISHED"
        case .rekeyed: return "REKEYED"
        case .closed: return "DELETING"
        }
    }

    /// "ENCR_AES_GCM_16-256/ESN", "ENCR_AES_CBC-128/AUTH_HMAC_SHA2_256_128/NO_ESN".
    static func proposal(_ child: ChildSAInstallation) -> String {
        let sa = child.inbound
        let key = sa.encryptionKeyLengthBits.map { "-\($0)" } ?? ""
        var parts = ["\(sa.encryption)\(key)"]
        if !sa.encryption.isAEAD { parts.append("\(sa.integrity)") }
        parts.append(child.extendedSequenceNumbers ? "ESN" : "NO_ESN")
        return parts.joined(separator: "/")
    }

    /// "10.2.0.0/25", or a range "10.2.0.1..10.2.0.9"; "[proto/port]" when narrowed.
    static func selectorText(_ ts: TrafficSelector) -> String {
        var text: String
        if let length = prefixLength(ts.startAddress, ts.endAddress) {
            text = IPPrefix.format(ts.startAddress) + "/\(length)"
        } else {
            text = IPPrefix.format(ts.startAddress) + ".." + IPPrefix.format(ts.endAddress)
        }
        if ts.ipProtocolID != 0 || ts.startPort != 0 || ts.endPort != 65535 {
            let ports = ts.startPort == ts.endPort ? "\(ts.startPort)" : "\(ts.startPort)-\(ts.endPort)"
            text += "[\(ts.ipProtocolID)/\(ports)]"
        }
        return text
    }

    /// The prefix length when start..end is exactly one prefix.
    static func prefixLength(_ start: [UInt8], _ end: [UInt8]) -> Int? {
        guard start.count == end.count, !start.isEmpty else { return nil }
        var length = 0
        var inHost = false
        for (s, e) in zip(start, end) {
            for bit in (0..<8).reversed() {
                let sb = (s >> bit) & 1, eb = (e >> bit) & 1
                if !inHost, sb == eb { length += 1; continue }
                inHost = true
                guard sb == 0, eb == 1 else { return nil }
            }
        }
        return length
    }

    // MARK: Commands

    /// Initiates the connection `index` with child `child` (nil: its first `start_action =
    /// start` child, else its first). When an IKE_SA of it is up already, only the CHILD_SA.
    mutating func operatorInitiate(index: Int, child: String?, local: IKEEndpoint, remote: IKEEndpoint,
                                   now: Double) -> [GatewayAction] {
        let connection = resolver.config.connections[index]
        let childName = child ?? connection.children.first { $0.startAction == .start }?.name ?? connection.children.first?.name
        if let existing = sas.values.first(where: { $0.configuration.name == connection.name && $0.phase == .established }) {
            guard let childName else { return [.log("operator: connection \(connection.name) is established already")] }
            if existing.childSAs.contains(where: { $0.name == childName }) {
                return [.log("operator: CHILD_SA \(childName) of \(connection.name) is installed already")]
            }
            return commandTimerFired(.createConfiguredChildSA(sa: existing.localSPI, child: childName), now: now)
        }
        do {
            let configuration = try resolver.resolve(index: index, local: local.address, remote: remote.address)
            var sa = try IKESA.initiator(configuration: configuration, provider: provider, local: local, remote: remote,
                                         child: childName, retransmission: retransmission)
            let actions = sa.start(now: now)
            return [.log("operator: initiating connection \(configuration.name) to \(remote)")] + store(sa, actions, now: now)
        } catch {
            return [.log("operator: cannot initiate connection \(connection.name): \(error)")]
        }
    }

    /// Deletes the IKE_SA with local SPI `spi` (and its CHILD_SAs) with the peer.
    mutating func operatorTerminate(ikeSA spi: UInt64, now: Double) -> [GatewayAction] {
        guard sas[spi]?.phase == .established else { return [] }
        return deleteIKESA(spi, by: "operator", now: now)
    }

    /// Deletes the IKE_SA with local SPI `spi` (with the peer when established), logged as
    /// done `by` the operator or a reload.
    mutating func deleteIKESA(_ spi: UInt64, by who: String, now: Double) -> [GatewayAction] {
        guard var sa = sas[spi] else { return [] }
        let actions = sa.delete(now: now)
        return [.log("\(who): deleting IKE_SA \(sa.configuration.name) #\(hex16(spi)) with \(sa.remote)")]
            + store(sa, actions, now: now)
    }

    /// Rekeys the IKE_SA with local SPI `spi` now (retried while busy).
    mutating func operatorRekey(ikeSA spi: UInt64, now: Double) -> [GatewayAction] {
        guard sas[spi]?.phase == .established else { return [] }
        return rekeyIKESATimerFired(sa: spi, now: now)
    }
}
