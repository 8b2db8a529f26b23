import CMNL
import Foundation
import Glibc
import Netlink

/// One forwarding destination: packets the queue marks with `mark` go to `gateway` (the
/// target's cluster address) through routing table `table`.
public struct ForwardingTarget: Equatable, Sendable {
    public var mark: UInt32
    public var gateway: RouteAddress
    public var table: UInt32
    /// Rule preference of this target's fwmark rule (below `InboundForwarding.localRulePriority`).
    public var priority: UInt32
    /// Encapsulated mode: the GRE device to this target (nil: direct mode, via `gateway`).
    public var tunnel: GRETunnel?

    /// `table` defaults to the mark (must then be 1...0xffff_fff0 and not 253-255).
    public init(mark: UInt32, gateway: RouteAddress, table: UInt32? = nil, priority: UInt32 = 100,
                tunnel: GRETunnel? = nil) {
        self.mark = mark
        self.gateway = gateway
        self.table = table ?? mark
        self.priority = priority
        self.tunnel = tunnel
    }
}

/// A GRE device from this host (`local`, its cluster address) to a target (`gateway`).
public struct GRETunnel: Equatable, Sendable {
    /// The device name (at most 15 bytes), e.g. "vgre101".
    public var name: String
    public var local: RouteAddress

    public init(name: String, local: RouteAddress) {
        self.name = name
        self.local = local
    }
}

/// The routing node's kernel set-up for inbound distribution (direct mode): nft interception
/// to NFQUEUE, policy routing by mark to each target, the `local` rule moved, forwarding on.
/// Every step is idempotent, and `stop()` undoes all of it.
///
/// | method | command equivalent |
/// |---|---|
/// | `installInterception(_:)` | `nft -f -` with `InboundRuleset.script()` |
/// | `removeInterception()` | `nft delete table inet vipsec` |
/// | `moveLocalRule(family:)` | `ip rule add pref 1000 lookup local; ip rule del pref 0 lookup local` |
/// | `restoreLocalRule(family:)` | `ip rule add pref 0 lookup local; ip rule del pref 1000 lookup local` |
/// | `addTarget(_:)` | `ip rule add pref P fwmark M lookup T; ip route replace default via GW table T` |
/// | `removeTarget(_:)` | `ip rule del pref P fwmark M lookup T; ip route del default table T` |
/// | `addTarget(_:)` with a tunnel | `ip link add NAME type gre\|ip6gre local L remote GW; ip link set NAME up; ip route replace default dev NAME table T` |
/// | `enableForwarding(family:)` | `sysctl net.ipv4.ip_forward=1` / `net.ipv6.conf.all.forwarding=1` |
public final class InboundForwarding {
    /// Where the `local` rule goes: after every fwmark rule, before main (32766).
    public static let localRulePriority: UInt32 = 1000
    static let localTable = UInt32(RT_TABLE_LOCAL.rawValue)

    private let route: NetlinkSocket
    /// The `nft` program (found on PATH by /usr/bin/env).
    public var nftCommand = ["/usr/bin/env", "nft"]

    /// Opens NETLINK_ROUTE in this network namespace.
    public init() throws {
        route = try NetlinkSocket(family: NETLINK_ROUTE)
    }

    // MARK: Whole set-up

    /// Installs everything for direct mode: forwarding on, local rule moved, one rule and route
    /// per target, then the interception (last: packets are only queued once routes exist).
    public func start(ruleset: InboundRuleset, targets: [ForwardingTarget]) throws {
        let families = Set(targets.map(\.gateway.family)).sorted()
        for family in families {
            try enableForwarding(family: family)
            try moveLocalRule(family: family)
        }
        for target in targets { try addTarget(target) }
        try installInterception(ruleset)
    }

    /// Undoes `start` (interception first: from then on ESP to the DVIPA is no longer queued).
    /// Keeps going on errors and throws the first one at the end. Forwarding stays on.
    public func stop(targets: [ForwardingTarget]) throws {
        var first: Error?
        func attempt(_ body: () throws -> Void) { do { try body() } catch { first = first ?? error } }
        attempt { try removeInterception() }
        for target in targets { attempt { try removeTarget(target) } }
        for family in Set(targets.map(\.gateway.family)).sorted() { attempt { try restoreLocalRule(family: family) } }
        if let first { throw first }
    }

    // MARK: nftables

    public func installInterception(_ ruleset: InboundRuleset) throws {
        try runNft(ruleset.script())
    }

    public func removeInterception() throws {
        try runNft(InboundRuleset.removalScript())
    }

    func runNft(_ script: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: nftCommand[0])
        process.arguments = Array(nftCommand.dropFirst()) + ["-f", "-"]
        let input = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(script.utf8))
        try input.fileHandleForWriting.close()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw InboundForwardingError.nft(status: process.terminationStatus, message: text)
        }
    }

    // MARK: Rules and routes

    /// The rules of `family` (`ip rule show`).
    public func rules(family: Int32) throws -> [RouteMessages.Rule] {
        var rules: [RouteMessages.Rule] = []
        try route.dump(RouteMessages.ruleDump(family: family)) { message in
            guard message.type == UInt16(RTM_NEWRULE), let rule = try? RouteMessages.parseRule(message) else { return }
            rules.append(rule)
        }
        return rules
    }

    private func hasLocalRule(family: Int32, priority: UInt32) throws -> Bool {
        try rules(family: family).contains { $0.priority == priority && $0.table == Self.localTable && $0.fwmark == nil }
    }

    /// The DVIPA is a local address: the `local` table (pref 0) would deliver marked ESP to
    /// this host before any fwmark rule. Add it again at pref 1000, then delete pref 0.
    /// A pref-0 delete is only sent when that rule exists (the kernel treats pref 0 in a
    /// delete as "any", which would otherwise remove the pref-1000 copy).
    public func moveLocalRule(family: Int32) throws {
        try ignoring(EEXIST) {
            try route.acknowledged(RouteMessages.rule(add: true, family: family, priority: Self.localRulePriority,
                                                      fwmark: nil, table: Self.localTable))
        }
        if try hasLocalRule(family: family, priority: 0) {
            try route.acknowledged(RouteMessages.rule(add: false, family: family, priority: 0, fwmark: nil,
                                                      table: Self.localTable))
        }
    }

    /// Puts the `local` rule back at pref 0 and removes the pref-1000 copy.
    public func restoreLocalRule(family: Int32) throws {
        if try !hasLocalRule(family: family, priority: 0) {
            try route.acknowledged(RouteMessages.rule(add: true, family: family, priority: 0, fwmark: nil,
                                                      table: Self.localTable))
        }
        try ignoring(ENOENT) {
            try route.acknowledged(RouteMessages.rule(add: false, family: family, priority: Self.localRulePriority,
                                                      fwmark: nil, table: Self.localTable))
        }
    }

    /// The fwmark rule and the default route of one target (both idempotent).
    public func addTarget(_ target: ForwardingTarget) throws {
        guard target.table != 0, !(253...255).contains(target.table) else {
            throw InboundForwardingError.reservedTable(target.table)
        }
        if let tunnel = target.tunnel {
            let index = try addGRE(name: tunnel.name, local: tunnel.local, remote: target.gateway)
            try route.acknowledged(RouteMessages.defaultDeviceRoute(add: true, family: target.gateway.family,
                                                                    interfaceIndex: UInt32(index), table: target.table))
        } else {
            try route.acknowledged(RouteMessages.defaultRoute(add: true, gateway: target.gateway, interfaceIndex: nil,
                                                              table: target.table))
        }
        try ignoring(EEXIST) {
            try route.acknowledged(RouteMessages.rule(add: true, family: target.gateway.family,
                                                      priority: target.priority, fwmark: target.mark, table: target.table))
        }
    }

    /// Removes one target's rule and route; absent ones are fine.
    public func removeTarget(_ target: ForwardingTarget) throws {
        try ignoring(ENOENT) {
            try route.acknowledged(RouteMessages.rule(add: false, family: target.gateway.family,
                                                      priority: target.priority, fwmark: target.mark, table: target.table))
        }
        try ignoring(ESRCH, ENOENT) {
            try route.acknowledged(RouteMessages.defaultRoute(add: false, gateway: target.gateway, interfaceIndex: nil,
                                                              table: target.table))
        }
        if let tunnel = target.tunnel { try deleteLink(name: tunnel.name) }
    }

    // MARK: GRE devices

    /// `ip link add NAME type gre local L remote R; ip link set NAME up` (kind ip6gre between
    /// IPv6 endpoints, with IPv6 switched on for the device: `disable_ipv6` 0, else the kernel
    /// drops the IPv6 packets routed into it or decapsulated from it); an existing device of
    /// that name is kept (idempotent). Returns its interface index.
    @discardableResult
    public func addGRE(name: String, local: RouteAddress, remote: RouteAddress) throws -> Int32 {
        try ignoring(EEXIST) { try route.acknowledged(LinkMessages.addGRE(name: name, local: local, remote: remote)) }
        let index = Int32(bitPattern: if_nametoindex(name))
        guard index > 0 else { throw InboundForwardingError.noInterface(name) }
        if local.family == AF_INET6 { try Self.writeSysctl("/proc/sys/net/ipv6/conf/\(name)/disable_ipv6", "0") }
        try route.acknowledged(LinkMessages.setUp(interfaceIndex: index))
        return index
    }

    /// `ip link del NAME`; a missing device is fine.
    public func deleteLink(name: String) throws {
        let index = Int32(bitPattern: if_nametoindex(name))
        guard index > 0 else { return }
        try ignoring(ENODEV) { try route.acknowledged(LinkMessages.delete(interfaceIndex: index)) }
    }

    // MARK: sysctl

    /// `net.ipv4.ip_forward=1` or `net.ipv6.conf.all.forwarding=1` (this namespace).
    public func enableForwarding(family: Int32) throws {
        try Self.writeSysctl(family == AF_INET6 ? "/proc/sys/net/ipv6/conf/all/forwarding" : "/proc/sys/net/ipv4/ip_forward", "1")
    }

    /// Writes `value` to a /proc/sys file.
    public static func writeSysctl(_ path: String, _ value: String) throws {
        guard let file = fopen(path, "w") else { throw InboundForwardingError.sysctl(path: path, errno: Glibc.errno) }
        defer { fclose(file) }
        guard fputs(value + "\n", file) >= 0, fflush(file) == 0 else {
            throw InboundForwardingError.sysctl(path: path, errno: Glibc.errno)
        }
    }

    func ignoring(_ codes: Int32..., body: () throws -> Void) throws {
        do { try body() } catch let error as NetlinkError {
            guard case .kernel(let code, _) = error, codes.contains(code) else { throw error }
        }
    }
}

public enum InboundForwardingError: Error, CustomStringConvertible {
    case nft(status: Int32, message: String)
    case sysctl(path: String, errno: Int32)
    case reservedTable(UInt32)
    case noInterface(String)

    public var description: String {
        switch self {
        case .nft(let status, let message): return "nft -f - exited \(status): \(message)"
        case .sysctl(let path, let code): return "cannot write \(path): \(NetlinkError.errnoText(code))"
        case .reservedTable(let table): return "routing table \(table) is reserved (0, 253-255)"
        case .noInterface(let name): return "no interface \(name)"
        }
    }
}
