import LabToolSupport
import XFRM

/// Canonical text for an SA read back through our layer, one fact per line, so the
/// scenario can compare it with what it gave `ip` (keys never printed, only compared).
func describe(_ state: XFRMStateInfo) -> [String] {
    var lines = [
        "spi \(hex(state.id.spi)) src \(state.id.source?.description ?? "-") dst \(state.id.destination) proto \(state.id.proto) reqid \(state.reqid) mode \(state.mode)",
    ]
    for algorithm in [state.aead, state.encryption, state.integrity].compactMap({ $0 }) {
        switch algorithm.kind {
        case .aead: lines.append("aead \(algorithm.name) keybits \(algorithm.key.count * 8) icv \(algorithm.bits)")
        case .encryption: lines.append("enc \(algorithm.name) keybits \(algorithm.key.count * 8)")
        case .integrity: lines.append("auth-trunc \(algorithm.name) keybits \(algorithm.key.count * 8) trunc \(algorithm.bits)")
        }
    }
    let replay = state.replay
    lines.append("replay-window \(replay.window) esn \(replay.extendedSequenceNumbers ? "yes" : "no") seq \(hex(replay.sequence)) oseq \(hex(replay.outputSequence))")
    if let encap = state.encap {
        lines.append("encap type \(encap.type) sport \(encap.sourcePort) dport \(encap.destinationPort)")
    }
    if let mark = state.id.mark { lines.append("mark \(hex(mark.value))/\(hex(mark.mask))") }
    if let interfaceID = state.interfaceID { lines.append("if_id \(hex(interfaceID))") }
    lines.append("sel \(state.selector)")
    let lft = state.lifetime
    func text(_ value: UInt64?) -> String { value.map(String.init) ?? "inf" }
    lines.append("limit bytes \(text(lft.softByteLimit))/\(text(lft.hardByteLimit)) packets \(text(lft.softPacketLimit))/\(text(lft.hardPacketLimit)) add \(text(lft.softAddExpireSeconds))/\(text(lft.hardAddExpireSeconds)) use \(text(lft.softUseExpireSeconds))/\(text(lft.hardUseExpireSeconds))")
    lines.append("current bytes \(state.current.bytes) packets \(state.current.packets) add \(state.current.addTime > 0 ? "set" : "0") use \(state.current.useTime > 0 ? "set" : "0")")
    lines.append("stats replay-window \(state.statistics.replayWindow) replay \(state.statistics.replay) failed \(state.statistics.integrityFailed)")
    if let offload = state.offload {
        lines.append("offload dev \(offload.interfaceIndex) dir \(offload.inbound ? "in" : "out")")
    }
    return lines
}

func describe(_ policy: XFRMPolicy) -> [String] {
    var lines = ["policy \(policy.selector) dir \(policy.direction) priority \(policy.priority) action \(policy.action == .allow ? "allow" : "block")"]
    if let mark = policy.mark { lines.append("mark \(hex(mark.value))/\(hex(mark.mask))") }
    if let interfaceID = policy.interfaceID { lines.append("if_id \(hex(interfaceID))") }
    for template in policy.templates {
        lines.append("tmpl src \(template.source?.description ?? "any") dst \(template.destination?.description ?? "any") proto \(template.proto) reqid \(template.reqid) mode \(template.mode)")
    }
    return lines
}

func describe(_ event: XFRMEvent) -> String {
    switch event {
    case .expire(let state, let hard):
        return "event expire \(hard ? "hard" : "soft") spi \(hex(state.id.spi)) dst \(state.id.destination)"
    case .acquire(let acquire):
        return "event acquire src \(acquire.source) dst \(acquire.destination) proto \(acquire.proto)"
    case .asyncEvent(let event):
        let cause = event.causedByReplay ? "replay" : event.causedByTimer ? "timer" : event.causedByUpdate ? "update" : "flags \(event.flags)"
        return "event newae spi \(hex(event.id.spi)) cause \(cause) seq \(hex(event.replay.sequence)) oseq \(hex(event.replay.outputSequence))"
    case .stateAdded(let state): return "event newsa spi \(hex(state.id.spi))"
    case .stateUpdated(let state): return "event updsa spi \(hex(state.id.spi))"
    case .stateDeleted(let id): return "event delsa spi \(hex(id.spi))"
    case .policyAdded(let policy): return "event newpolicy dir \(policy.direction)"
    case .policyDeleted(let direction): return "event delpolicy dir \(direction)"
    case .policyExpire(let policy, let hard): return "event polexpire \(hard ? "hard" : "soft") dir \(policy.direction)"
    case .statesFlushed: return "event flushsa"
    case .policiesFlushed: return "event flushpolicy"
    case .other(let type): return "event \(type)"
    }
}
