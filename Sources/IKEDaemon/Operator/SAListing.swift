// What `vipsec list-sas` shows: every IKE_SA and its CHILD_SAs, as a stable JSON document
// (README, "Operations": the keys below are the contract; new keys may be added, none
// renamed or removed) and as text in the style of strongSwan's `swanctl --list-sas`.
// Pure values and formatting: the daemon fills them (IKEGateway+Operator.swift), the
// socket carries them (OperatorSocket.swift). Never keys: only SPIs, names and counters.
import Foundation

/// `vipsec list-sas --json`: `{"ike_sas": [...]}`.
public struct SAList: Codable, Equatable, Sendable {
    public var ikeSAs: [IKESAEntry]

    public init(ikeSAs: [IKESAEntry]) { self.ikeSAs = ikeSAs }

    enum CodingKeys: String, CodingKey { case ikeSAs = "ike_sas" }

    /// Pretty JSON with sorted keys: the same document for the same SAs.
    public var json: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return ((try? encoder.encode(self)) ?? Data("{}".utf8)) + Data("\n".utf8)
    }
}

/// One IKE_SA.
public struct IKESAEntry: Codable, Equatable, Sendable {
    /// The connection's name (`connections { NAME { } }`).
    public var name: String
    /// Our SPI of this IKE_SA, 16 hex digits: `vipsec terminate --ike-id` takes it. A rekeyed
    /// IKE_SA has new SPIs, hence a new id (as strongSwan's unique ids).
    public var uniqueID: String
    /// CONNECTING, ESTABLISHED, REKEYED (replaced, waiting for its Delete) or DELETING.
    public var state: String
    public var localHost: String
    public var localPort: Int
    public var remoteHost: String
    public var remotePort: Int
    /// True when this end sent the IKE_SA_INIT request.
    public var initiator: Bool
    public var initiatorSPI: String
    public var responderSPI: String
    /// "ENCR_AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519"; nil before IKE_SA_INIT completed.
    public var proposal: String?
    /// IKE_SA rekeys since the first IKE_SA of this line.
    public var rekeys: Int
    /// Seconds since this IKE_SA (these SPIs) was established; nil when not (yet) known.
    public var establishedSeconds: Int?
    /// Seconds until this end rekeys it (`rekey_time` less jitter); nil when not scheduled.
    public var rekeyInSeconds: Int?
    /// Seconds until it is deleted unless rekeyed (`rekey_time + over_time`); nil when none.
    public var expiresInSeconds: Int?
    public var childSAs: [ChildSAEntry]

    public init(name: String, uniqueID: String, state: String, localHost: String, localPort: Int, remoteHost: String,
                remotePort: Int, initiator: Bool, initiatorSPI: String, responderSPI: String, proposal: String?,
                rekeys: Int, establishedSeconds: Int?, rekeyInSeconds: Int?, expiresInSeconds: Int?, childSAs: [ChildSAEntry]) {
        self.name = name
        self.uniqueID = uniqueID
        self.state = state
        self.localHost = localHost
        self.localPort = localPort
        self.remoteHost = remoteHost
        self.remotePort = remotePort
        self.initiator = initiator
        self.initiatorSPI = initiatorSPI
        self.responderSPI = responderSPI
        self.proposal = proposal
        self.rekeys = rekeys
        self.establishedSeconds = establishedSeconds
        self.rekeyInSeconds = rekeyInSeconds
        self.expiresInSeconds = expiresInSeconds
        self.childSAs = childSAs
    }

    enum CodingKeys: String, CodingKey {
        case name, state, initiator, proposal, rekeys
        case uniqueID = "unique_id", localHost = "local_host", localPort = "local_port", remoteHost = "remote_host"
        case remotePort = "remote_port", initiatorSPI = "initiator_spi", responderSPI = "responder_spi"
        case establishedSeconds = "established_seconds", rekeyInSeconds = "rekey_in_seconds"
        case expiresInSeconds = "expires_in_seconds", childSAs = "child_sas"
    }

    // Optional keys are written as null (not left out): every document has every key.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(uniqueID, forKey: .uniqueID)
        try c.encode(state, forKey: .state)
        try c.encode(localHost, forKey: .localHost)
        try c.encode(localPort, forKey: .localPort)
        try c.encode(remoteHost, forKey: .remoteHost)
        try c.encode(remotePort, forKey: .remotePort)
        try c.encode(initiator, forKey: .initiator)
        try c.encode(initiatorSPI, forKey: .initiatorSPI)
        try c.encode(responderSPI, forKey: .responderSPI)
        try c.encode(proposal, forKey: .proposal)
        try c.encode(rekeys, forKey: .rekeys)
        try c.encode(establishedSeconds, forKey: .establishedSeconds)
        try c.encode(rekeyInSeconds, forKey: .rekeyInSeconds)
        try c.encode(expiresInSeconds, forKey: .expiresInSeconds)
        try c.encode(childSAs, forKey: .childSAs)
    }
}

/// One CHILD_SA (a pair of ESP SAs).
public struct ChildSAEntry: Codable, Equatable, Sendable {
    /// The child's name (`children { NAME { } }`).
    public var name: String
    /// The inbound SPI, 8 hex digits: `vipsec terminate --child-id` takes it.
    public var uniqueID: String
    /// INSTALLED, INSTALLED_INBOUND while the outbound SA waits (a rekey in progress), or
    /// REKEYED: replaced by a rekey and deleted with the peer, only its inbound SA is left
    /// until `delete_rekeyed_delay` is over (`expires_in_seconds` counts down to then).
    public var state: String
    /// TUNNEL or TRANSPORT.
    public var mode: String
    public var reqid: UInt32
    /// `ip xfrm state`'s form: "0xc1234567".
    public var spiIn: String
    public var spiOut: String
    /// "ENCR_AES_GCM_16-256/ESN" (ESN or NO_ESN; INTEG after the ENCR when not an AEAD).
    public var proposal: String
    /// ESP in UDP (NAT traversal).
    public var encapsulated: Bool
    public var localTS: [String]
    public var remoteTS: [String]
    /// The kernel's counters of each SA (standalone: this host's XFRM; in a cluster: the
    /// targets' lifesize reports, so no more recent than the last report); nil: unknown.
    public var bytesIn: UInt64?
    public var packetsIn: UInt64?
    public var bytesOut: UInt64?
    public var packetsOut: UInt64?
    public var installedSeconds: Int?
    /// Seconds until this end rekeys it (`rekey_time` less jitter; a lifesize rekey may come
    /// earlier); nil when not scheduled.
    public var rekeyInSeconds: Int?
    /// Seconds until its hard lifetime (`life_time`), or for a REKEYED one until its
    /// inbound SA is removed; nil when none.
    public var expiresInSeconds: Int?
    /// In a cluster: the targets holding the inbound and the outbound SA; nil standalone.
    public var holdersIn: [String]?
    public var holdersOut: [String]?

    public init(name: String, uniqueID: String, state: String, mode: String, reqid: UInt32, spiIn: String, spiOut: String,
                proposal: String, encapsulated: Bool, localTS: [String], remoteTS: [String], installedSeconds: Int?,
                rekeyInSeconds: Int?, expiresInSeconds: Int?) {
        self.name = name
        self.uniqueID = uniqueID
        self.state = state
        self.mode = mode
        self.reqid = reqid
        self.spiIn = spiIn
        self.spiOut = spiOut
        self.proposal = proposal
        self.encapsulated = encapsulated
        self.localTS = localTS
        self.remoteTS = remoteTS
        self.installedSeconds = installedSeconds
        self.rekeyInSeconds = rekeyInSeconds
        self.expiresInSeconds = expiresInSeconds
    }

    enum CodingKeys: String, CodingKey {
        case name, state, mode, reqid, proposal, encapsulated
        case uniqueID = "unique_id", spiIn = "spi_in", spiOut = "spi_out", localTS = "local_ts", remoteTS = "remote_ts"
        case bytesIn = "bytes_in", packetsIn = "packets_in", bytesOut = "bytes_out", packetsOut = "packets_out"
        case installedSeconds = "installed_seconds", rekeyInSeconds = "rekey_in_seconds", expiresInSeconds = "expires_in_seconds"
        case holdersIn = "holders_in", holdersOut = "holders_out"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(uniqueID, forKey: .uniqueID)
        try c.encode(state, forKey: .state)
        try c.encode(mode, forKey: .mode)
        try c.encode(reqid, forKey: .reqid)
        try c.encode(spiIn, forKey: .spiIn)
        try c.encode(spiOut, forKey: .spiOut)
        try c.encode(proposal, forKey: .proposal)
        try c.encode(encapsulated, forKey: .encapsulated)
        try c.encode(localTS, forKey: .localTS)
        try c.encode(remoteTS, forKey: .remoteTS)
        try c.encode(bytesIn, forKey: .bytesIn)
        try c.encode(packetsIn, forKey: .packetsIn)
        try c.encode(bytesOut, forKey: .bytesOut)
        try c.encode(packetsOut, forKey: .packetsOut)
        try c.encode(installedSeconds, forKey: .installedSeconds)
        try c.encode(rekeyInSeconds, forKey: .rekeyInSeconds)
        try c.encode(expiresInSeconds, forKey: .expiresInSeconds)
        try c.encode(holdersIn, forKey: .holdersIn)
        try c.encode(holdersOut, forKey: .holdersOut)
    }
}

// MARK: Text

extension SAList {
    /// `swanctl --list-sas`-like text, one block per IKE_SA.
    public var text: String {
        guard !ikeSAs.isEmpty else { return "no IKE_SAs\n" }
        return ikeSAs.map(\.text).joined()
    }
}

extension IKESAEntry {
    var text: String {
        var lines = ["\(name): #\(uniqueID), \(state), IKEv2, \(initiatorSPI)_i\(initiator ? "*" : "") \(responderSPI)_r\(initiator ? "" : "*")"]
        lines.append("  local  \(localHost)[\(localPort)]")
        lines.append("  remote \(remoteHost)[\(remotePort)]")
        if let proposal { lines.append("  \(proposal)") }
        var times: [String] = []
        if let establishedSeconds { times.append("established \(establishedSeconds)s ago") }
        if let rekeyInSeconds { times.append("rekeying in \(rekeyInSeconds)s") }
        if let expiresInSeconds { times.append("expires in \(expiresInSeconds)s") }
        if rekeys > 0 { times.append("rekeyed \(rekeys) times") }
        if !times.isEmpty { lines.append("  " + times.joined(separator: ", ")) }
        for child in childSAs { lines += child.textLines }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension ChildSAEntry {
    var textLines: [String] {
        var lines = ["  \(name): #\(uniqueID), reqid \(reqid), \(state), \(mode)\(encapsulated ? "-in-UDP" : ""), ESP:\(proposal)"]
        var times: [String] = []
        if let installedSeconds { times.append("installed \(installedSeconds)s ago") }
        if let rekeyInSeconds { times.append("rekeying in \(rekeyInSeconds)s") }
        if let expiresInSeconds { times.append("expires in \(expiresInSeconds)s") }
        if !times.isEmpty { lines.append("    " + times.joined(separator: ", ")) }
        func counters(_ bytes: UInt64?, _ packets: UInt64?) -> String {
            guard let bytes, let packets else { return "" }
            return ", \(bytes) bytes, \(packets) packets"
        }
        lines.append("    in  \(spiIn)\(counters(bytesIn, packetsIn))")
        lines.append("    out \(spiOut)\(counters(bytesOut, packetsOut))")
        lines.append("    local  \(localTS.joined(separator: " "))")
        lines.append("    remote \(remoteTS.joined(separator: " "))")
        if holdersIn != nil || holdersOut != nil {
            func names(_ list: [String]?) -> String { (list ?? []).isEmpty ? "none" : (list ?? []).joined(separator: ",") }
            lines.append("    holders in: \(names(holdersIn)) out: \(names(holdersOut))")
        }
        return lines
    }
}
