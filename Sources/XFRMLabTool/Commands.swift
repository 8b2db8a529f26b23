import LabToolSupport
import Glibc
import XFRM

/// Each lab subcommand; the scenario (bash) runs them and checks the kernel with `ip`.
enum Commands {
    static func addSuite(_ kernel: XFRMKernel, _ args: Arguments) throws {
        let device = Int32(if_nametoindex(try args.string("offload-dev")))
        guard device > 0 else { throw LabError("no such device for --offload-dev") }
        let states = suiteStates(source: try args.address("src"), destination: try args.address("dst"),
                                 source6: try args.address("src6"), destination6: try args.address("dst6"),
                                 offloadDevice: device)
        for state in states {
            let outcome = try kernel.addState(state)
            print("added spi \(hex(state.id.spi)) offload \(outcome)")
        }
        for policy in suitePolicies(source: try args.address("src"), destination: try args.address("dst")) {
            try kernel.addPolicy(policy)
            print("added policy dir \(policy.direction) priority \(policy.priority)")
        }
        // update: same SA, new lifetime; update a policy's priority.
        var updated = states[0]
        updated.lifetime = XFRMLifetime(softPacketLimit: 111, hardPacketLimit: 222)
        try kernel.updateState(updated)
        print("updated spi \(hex(updated.id.spi))")
        var policy = suitePolicies(source: try args.address("src"), destination: try args.address("dst"))[3]
        policy.priority = 6
        try kernel.updatePolicy(policy)
        print("updated policy priority 6")
    }

    static func show(_ kernel: XFRMKernel, _ args: Arguments) throws {
        let state = try kernel.getState(try args.stateID())
        describe(state).forEach { print($0) }
        if let expected = args.optional("expect-key"), let key = XFRMKey(hex: expected) {
            let actual = state.aead?.key ?? state.encryption?.key
            print(actual == key ? "key matches" : "key differs")
        }
        if let expected = args.optional("expect-auth-key"), let key = XFRMKey(hex: expected) {
            print(state.integrity?.key == key ? "auth key matches" : "auth key differs")
        }
    }

    static func dump(_ kernel: XFRMKernel) throws {
        let states = try kernel.states()
        for state in states { print("sa spi \(hex(state.id.spi)) dst \(state.id.destination) reqid \(state.reqid)") }
        print("count \(states.count)")
    }

    static func policies(_ kernel: XFRMKernel) throws {
        let policies = try kernel.policies()
        for policy in policies { describe(policy).forEach { print($0) } }
        print("count \(policies.count)")
    }

    static func getPolicy(_ kernel: XFRMKernel, _ args: Arguments, delete: Bool) throws {
        let policy = suitePolicies(source: try args.address("src"), destination: try args.address("dst"))[Int(try args.u32("index"))]
        if delete {
            try kernel.deletePolicy(policy.id)
            print("deleted policy dir \(policy.direction)")
        } else {
            describe(try kernel.getPolicy(policy.id)).forEach { print($0) }
        }
    }

    static func allocateSPI(_ kernel: XFRMKernel, _ args: Arguments) throws {
        let spi = try kernel.allocateSPI(XFRMAllocateSPI(
            source: try args.address("src"), destination: try args.address("dst"), mode: .transport,
            reqid: try args.u32("reqid", default: 0),
            range: try args.u32("min")...(try args.u32("max"))))
        print("spi \(hex(spi))")
    }

    /// Completes a larval SA (from allocspi) with UPDSA, or adds one SA: gcm-128, transport.
    static func addOne(_ kernel: XFRMKernel, _ args: Arguments, update: Bool) throws {
        var state = XFRMAddState(id: try args.stateID(), reqid: try args.u32("reqid", default: 0), mode: .transport,
                                 aead: .aesGCM(key: labKey(20, seed: UInt8(truncatingIfNeeded: try args.u32("spi")))),
                                 replay: XFRMReplayState(window: try args.u32("window", default: 32),
                                                         extendedSequenceNumbers: args.optional("esn") == "yes"))
        if let seconds = args.optional("soft-seconds") {
            state.lifetime.softAddExpireSeconds = UInt64(seconds)
            state.lifetime.hardAddExpireSeconds = try args.number("hard-seconds")
        }
        if let packets = args.optional("soft-packets") { state.lifetime.softPacketLimit = UInt64(packets) }
        if let packets = args.optional("replay-thresh") {
            state.eventThresholds = XFRMEventThresholds(replayPackets: UInt32(packets), timer: 10)
        }
        if update { try kernel.updateState(state) } else { try kernel.addState(state) }
        print("\(update ? "updated" : "added") spi \(hex(state.id.spi))")
    }

    static func delete(_ kernel: XFRMKernel, _ args: Arguments) throws {
        try kernel.deleteState(try args.stateID())
        print("deleted spi \(hex(try args.u32("spi")))")
    }

    static func counters(_ kernel: XFRMKernel, _ args: Arguments) throws {
        let state = try kernel.getState(try args.stateID())
        print("bytes \(state.current.bytes) packets \(state.current.packets) seq \(hex(state.replay.sequence)) oseq \(hex(state.replay.outputSequence)) replay \(state.statistics.replay) failed \(state.statistics.integrityFailed) replay-window-drops \(state.statistics.replayWindow) bitmap \(state.replay.bitmap.map { hex($0) }.joined(separator: ","))")
    }

    static func setOutputSequence(_ kernel: XFRMKernel, _ args: Arguments) throws {
        let value = try args.number("oseq")
        try kernel.setOutputSequence(try args.stateID(), to: value)
        print("oseq set \(hex(value))")
    }

    static func setThresholds(_ kernel: XFRMKernel, _ args: Arguments) throws {
        try kernel.setEventThresholds(try args.stateID(), XFRMEventThresholds(
            replayPackets: try args.u32("replay"), timer: try args.u32("timer")))
        let state = try kernel.asyncEventState(try args.stateID())
        print("thresholds replay \(state.thresholds.replayPackets.map(String.init) ?? "-") timer \(state.thresholds.timer.map(String.init) ?? "-")")
    }

    static func monitor(_ args: Arguments) throws {
        let monitor = try XFRMEventMonitor(groups: [.expire, .acquire, .asyncEvents, .sa, .policy])
        print("monitor ready")
        fflush(stdout)
        let end = ContinuousClock.now + .seconds(Int(try args.number("seconds")))
        let stopFile = args.optional("stop-file")
        while ContinuousClock.now < end {
            if let stopFile, access(stopFile, F_OK) == 0 { break }
            for event in try monitor.next(timeout: .milliseconds(200)) {
                print(describe(event))
                fflush(stdout)
            }
        }
        print("monitor done malformed \(monitor.malformedEvents)")
    }

    /// A host-to-host transport pair in the current namespace: outbound SA + policy,
    /// inbound SA + policy (run once in each namespace with the roles swapped).
    static func pair(_ kernel: XFRMKernel, _ args: Arguments) throws {
        let local = try args.address("local")
        let remote = try args.address("remote")
        let spiOut = try args.u32("spi-out")
        let spiIn = try args.u32("spi-in")
        let replayThreshold = try args.u32("replay-thresh", default: 2)
        func sa(_ source: XFRMAddress, _ destination: XFRMAddress, _ spi: UInt32) -> XFRMAddState {
            XFRMAddState(id: XFRMStateID(source: source, destination: destination, spi: spi), reqid: 42, mode: .transport,
                         aead: .aesGCM(key: labKey(36, seed: UInt8(truncatingIfNeeded: spi ^ (spi >> 8)))),
                         replay: XFRMReplayState(window: 128, extendedSequenceNumbers: true),
                         eventThresholds: XFRMEventThresholds(replayPackets: replayThreshold))
        }
        try kernel.addState(sa(local, remote, spiOut))
        try kernel.addState(sa(remote, local, spiIn))
        let outSelector = XFRMSelector(source: XFRMPrefix(local), destination: XFRMPrefix(remote))
        let inSelector = XFRMSelector(source: XFRMPrefix(remote), destination: XFRMPrefix(local))
        try kernel.addPolicy(XFRMPolicy(selector: outSelector, direction: .outbound,
                                        templates: [XFRMTemplate(proto: .esp, reqid: 42, mode: .transport, family: local.family)]))
        try kernel.addPolicy(XFRMPolicy(selector: inSelector, direction: .inbound,
                                        templates: [XFRMTemplate(proto: .esp, reqid: 42, mode: .transport, family: local.family)]))
        print("pair out \(hex(spiOut)) in \(hex(spiIn))")
    }

    static func flush(_ kernel: XFRMKernel) throws {
        try kernel.flushStates()
        try kernel.flushPolicies()
        print("flushed")
    }
}
