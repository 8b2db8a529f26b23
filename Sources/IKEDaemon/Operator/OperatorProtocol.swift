// The control socket's protocol (`vipsec list-sas`, `initiate`, `terminate`, `rekey`, `redirect`, `reload`):
// the client writes one JSON request and a newline, the daemon answers with one JSON
// response and closes. Pure: the requests, the responses, which SAs a selector names, and
// when a command's effect is visible in a listing (the CLI waits for it, as swanctl does).
import Cluster
import Foundation

/// One request on the control socket.
public struct OperatorRequest: Codable, Equatable, Sendable {
    public enum Command: String, Codable, Sendable {
        case listSAs = "list-sas"
        case initiate
        case terminate
        case rekey
        case redirect
        /// Read the configuration file again and apply it (ConfigReload.swift).
        case reload
        /// The inbound distributor's connection table (`vipsec status --connections`).
        case connections
    }

    public var command: Command
    /// initiate: the connection and, optionally, the child.
    public var connection: String?
    public var child: String?
    /// terminate and rekey: what they act on.
    public var selector: SASelector?
    /// redirect: where new peers go (nil: redirect off) and from how many IKE_SAs on.
    public var gateway: String?
    public var aboveIKESAs: Int?
    /// redirect: the IKE_SAs already up go too (RFC 5685 5).
    public var established: Bool?
    /// connections: the most entries to list (nil: `defaultConnectionLimit`; 0: only the totals).
    public var limit: Int?
    public static let defaultConnectionLimit = 1000
    public static let maximumConnectionLimit = 100_000
    /// Seconds to wait for the effect (0: answer at once; at most `maximumTimeout`).
    public var timeout: Double
    public static let maximumTimeout = 3600.0

    /// `timeout` as the daemon uses it: a request's number comes from a socket, and one that
    /// is negative, not finite or enormous must not trap a conversion.
    public var boundedTimeout: Double { timeout.isFinite ? min(max(timeout, 0), Self.maximumTimeout) : 0 }

    public init(command: Command, connection: String? = nil, child: String? = nil, selector: SASelector? = nil,
                timeout: Double = 30) {
        self.command = command
        self.connection = connection
        self.child = child
        self.selector = selector
        self.timeout = timeout
    }

    /// `vipsec initiate CONN[/CHILD]`.
    public static func initiate(_ argument: String, timeout: Double) throws -> OperatorRequest {
        let parts = argument.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else {
            throw OperatorError("'\(argument)' is not CONNECTION or CONNECTION/CHILD")
        }
        return OperatorRequest(command: .initiate, connection: parts[0], child: parts.count == 2 ? parts[1] : nil,
                               timeout: timeout)
    }
}

/// What `terminate` and `rekey` act on, as swanctl's `--ike`, `--ike-id`, `--child`, `--child-id`.
public enum SASelector: Codable, Equatable, Sendable, CustomStringConvertible {
    /// Every IKE_SA of this connection.
    case ikeName(String)
    /// The IKE_SA with this unique id (our SPI).
    case ikeID(UInt64)
    /// Every CHILD_SA of this child name.
    case childName(String)
    /// The CHILD_SA with this unique id (its inbound SPI).
    case childID(UInt32)

    /// From the CLI's options; exactly one must be given.
    public static func from(ike: String?, ikeID: String?, child: String?, childID: String?) throws -> SASelector {
        let given = [ike, ikeID, child, childID].compactMap { $0 }
        guard given.count == 1 else { throw OperatorError("name exactly one of --ike, --ike-id, --child, --child-id") }
        if let ike { return .ikeName(ike) }
        if let child { return .childName(child) }
        if let ikeID {
            guard let value = parseHex(ikeID, digits: 16) else { throw OperatorError("--ike-id '\(ikeID)' is not an IKE_SA id (16 hex digits)") }
            return .ikeID(value)
        }
        let text = childID ?? ""
        guard let value = parseHex(text, digits: 8) else { throw OperatorError("--child-id '\(text)' is not a CHILD_SA id (8 hex digits)") }
        return .childID(UInt32(value))
    }

    static func parseHex(_ text: String, digits: Int) -> UInt64? {
        let body = text.lowercased().hasPrefix("0x") ? String(text.dropFirst(2)) : text
        guard !body.isEmpty, body.count <= digits else { return nil }
        return UInt64(body, radix: 16)
    }

    public var description: String {
        switch self {
        case .ikeName(let name): return "IKE_SA '\(name)'"
        case .ikeID(let id): return "IKE_SA #\(hex16(id))"
        case .childName(let name): return "CHILD_SA '\(name)'"
        case .childID(let id): return "CHILD_SA #\(hex8(id))"
        }
    }
}

/// The SAs a selector names in a listing: IKE_SAs by unique id, CHILD_SAs by inbound SPI
/// (with their IKE_SA's id). Only ESTABLISHED IKE_SAs are acted on.
public struct SelectedSAs: Sendable {
    public var ikeSAs: [UInt64] = []
    public var childSAs: [(ikeSA: UInt64, inboundSPI: UInt32)] = []
    public var isEmpty: Bool { ikeSAs.isEmpty && childSAs.isEmpty }

    public init(_ selector: SASelector, in list: [IKESAEntry]) {
        for ike in list where ike.state == "ESTABLISHED" {
            guard let ikeID = UInt64(ike.uniqueID, radix: 16) else { continue }
            switch selector {
            case .ikeName(let name) where ike.name == name: ikeSAs.append(ikeID)
            case .ikeID(let id) where id == ikeID: ikeSAs.append(ikeID)
            case .childName(let name):
                for child in ike.childSAs where child.name == name {
                    if let spi = UInt32(child.uniqueID, radix: 16) { childSAs.append((ikeID, spi)) }
                }
            case .childID(let id):
                if ike.childSAs.contains(where: { UInt32($0.uniqueID, radix: 16) == id }) { childSAs.append((ikeID, id)) }
            default: break
            }
        }
    }

    /// True when none of these SAs is still in `list` (terminated, or replaced by a rekey).
    public func allGone(from list: [IKESAEntry]) -> Bool {
        let liveIKE = Set(list.filter { $0.state == "ESTABLISHED" }.compactMap { UInt64($0.uniqueID, radix: 16) })
        let liveChildren = Set(list.flatMap(\.childSAs).compactMap { UInt32($0.uniqueID, radix: 16) })
        return ikeSAs.allSatisfy { !liveIKE.contains($0) } && childSAs.allSatisfy { !liveChildren.contains($0.inboundSPI) }
    }
}

/// The daemon's answer.
public struct OperatorResponse: Codable, Equatable, Sendable {
    public var ok: Bool
    /// Why the command failed (never key material).
    public var error: String?
    /// What was done, for the operator.
    public var messages: [String]
    /// list-sas (and every command's result): the SAs after it.
    public var sas: SAList?
    /// connections: the connection table's entries (ConnectionList.swift in Cluster).
    public var connections: ConnectionList?

    public init(ok: Bool, error: String? = nil, messages: [String] = [], sas: SAList? = nil, connections: ConnectionList? = nil) {
        self.ok = ok
        self.error = error
        self.messages = messages
        self.sas = sas
        self.connections = connections
    }

    public static func failure(_ text: String) -> OperatorResponse { OperatorResponse(ok: false, error: text) }
}

/// A refused request or CLI argument.
public struct OperatorError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// When a command's effect shows in the listing (pure; the server polls until it does).
enum OperatorOutcome {
    /// initiate: an ESTABLISHED IKE_SA of `connection` with a CHILD_SA `child` (any child when nil).
    static func initiated(connection: String, child: String?, in list: [IKESAEntry]) -> Bool {
        list.contains { ike in
            ike.name == connection && ike.state == "ESTABLISHED"
                && (child.map { name in ike.childSAs.contains { $0.name == name } } ?? !ike.childSAs.isEmpty)
        }
    }

    /// rekey: the old SAs are gone and as many SAs of the same names are up again.
    static func rekeyed(_ selected: SelectedSAs, before: [IKESAEntry], in list: [IKESAEntry]) -> Bool {
        guard selected.allGone(from: list) else { return false }
        func names(_ entries: [IKESAEntry]) -> [String: Int] {
            var counts: [String: Int] = [:]
            for ike in entries where ike.state == "ESTABLISHED" {
                counts["ike:" + ike.name, default: 0] += 1
                for child in ike.childSAs { counts["child:" + child.name, default: 0] += 1 }
            }
            return counts
        }
        let was = names(before), now = names(list)
        return was.allSatisfy { now[$0.key, default: 0] >= $0.value }
    }
}

/// An IKE SPI or unique id as 16 hex digits (the logs', the status's and the CLI's form).
func hex16(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
}

func hex8(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
