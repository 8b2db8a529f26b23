import Glibc
import InboundRouting

/// `setup` / `teardown`: the routing node's inbound kernel set-up through InboundForwarding.
enum SetupCommand {
    static func plan(_ args: Arguments) throws -> (InboundRuleset, [ForwardingTarget]) {
        let mode = args.optional("mode") ?? "direct"
        guard mode == "direct" || mode == "encap" else { throw LabError("--mode wants direct or encap") }
        var tunnelLocal: RouteAddress?
        if mode == "encap" {
            let text = try args.string("local")
            guard let address = RouteAddress(text) else { throw LabError("--local '\(text)' is not an address") }
            tunnelLocal = address
        }
        let dvipas = try args.string("dvipa").split(separator: ",").map(String.init)
        let queues = try args.string("queues").split(separator: "-").compactMap { parseNumber($0) }
        guard (1...2).contains(queues.count), queues.allSatisfy({ $0 <= UInt16.max }), queues.first! <= queues.last! else {
            throw LabError("--queues wants N or A-B")
        }
        let ruleset = try InboundRuleset(dvipas: dvipas,
                                         queues: UInt16(queues.first!)...UInt16(queues.last!))
        let targets = try args.pairs("target") { mark, address in
            parseNumber(mark).flatMap { m in RouteAddress(String(address)).map { (m, $0) } }
        }.map { mark, gateway in
            ForwardingTarget(mark: mark, gateway: gateway,
                             tunnel: tunnelLocal.map { GRETunnel(name: "vgre" + String(mark, radix: 16), local: $0) })
        }
        return (ruleset, targets)
    }

    static func setup(_ args: Arguments) throws {
        let (ruleset, targets) = try plan(args)
        let forwarding = try InboundForwarding()
        try forwarding.start(ruleset: ruleset, targets: targets)
        print("inbound set-up: \(ruleset.queueStatement) for \((ruleset.dvipa4 + ruleset.dvipa6).joined(separator: " ")); "
            + targets.map { "mark \(hex($0.mark)) -> table \($0.table) via \($0.tunnel.map { "GRE \($0.name) to " } ?? "")\($0.gateway)" }.joined(separator: ", "))
    }

    static func teardown(_ args: Arguments) throws {
        let (_, targets) = try plan(args)
        try InboundForwarding().stop(targets: targets)
        print("inbound set-up removed")
    }

    /// `target-setup` / `target-teardown --router R --local L`: a target's GRE decapsulation.
    static func target(_ args: Arguments, start: Bool) throws {
        let router = try args.string("router"), local = try args.string("local")
        guard let routerAddress = RouteAddress(router), let localAddress = RouteAddress(local) else {
            throw LabError("--router and --local want addresses")
        }
        let decapsulation = TargetDecapsulation(router: routerAddress, local: localAddress)
        let forwarding = try InboundForwarding()
        if start {
            try decapsulation.start(using: forwarding)
            print("target: GRE \(decapsulation.deviceName) from \(router) to \(local); other GRE dropped")
        } else {
            try decapsulation.stop(using: forwarding)
            print("target: GRE decapsulation removed")
        }
    }
}
