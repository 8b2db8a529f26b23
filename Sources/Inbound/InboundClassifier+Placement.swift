// Which target gets a packet (claim 10): the connection table first; new flows by Maglev
// over the healthy targets holding the SA; TCP entries only on SYN without ACK (a mid-flow
// packet with no entry follows the hash without making one, so a lost entry lands on the
// same target); UDP/ICMP echo/other on the first packet; ICMP errors by the embedded flow;
// non-first fragments by the fragment table.

import Cluster

extension InboundClassifier {
    /// The tunnel check (claim 8) comes first, on every packet: tunnel mode, the inner
    /// source must lie in the peer's selectors and the inner destination in ours (each with
    /// the inner protocol); transport mode, the same with the packet's own addresses and the
    /// trailer's next header, the source left out when `checksSource` is false (ESP in UDP:
    /// the NAT's address). Encapsulated mode drops a mismatch (`tunnelCheck`); direct mode
    /// forwards it by hash, without an entry (the target's kernel enforces its policy).
    mutating func place(_ inner: InnerPacket, sa index: Int, now: ClusterInstant, checksSource: Bool = true) -> InboundDecision {
        // Fields read in place: binding the whole InboundSA would retain its arrays and key.
        let admitted = (!checksSource || sas[index].sa.remoteSelectors.admits(inner.source, ipProtocol: inner.ipProtocol))
            && sas[index].sa.localSelectors.admits(inner.destination, ipProtocol: inner.ipProtocol)
        if !admitted, sas[index].sa.forwarding == .encapsulated { return .drop(.tunnelCheck) }
        let candidates = sas[index].holderSet.intersection(healthySet)
        guard !candidates.isEmpty else { return .drop(.noHealthyTarget) }
        let lineage = sas[index].sa.lineage

        if inner.kind == .nonFirstFragment {
            let key = FragmentKey(lineage: lineage, source: inner.source, destination: inner.destination,
                                  ipProtocol: inner.ipProtocol, identification: inner.fragment?.identification ?? 0)
            guard let target = fragments.target(for: key, now: now.nanoseconds) else { return .drop(.fragmentUnknown) }
            counters.count(.fragment)
            return forward(target, sa: index)
        }

        let key = inner.flow.key(lineage)
        let nowSeconds = seconds(now)
        let target: UInt16
        if !admitted {
            // Direct mode: the target's kernel enforces its policy; no entry for such packets.
            counters.countSelectorMismatch()
            target = placement(for: candidates, sa: index).target(for: key.placementHash)
            counters.count(.hashed)
        } else if let slot = flows.find(key, now: nowSeconds) {
            var existing = flows.target(atSlot: slot)
            if !candidates.contains(existing) {
                // Its target no longer holds the SA (or is unhealthy): re-place it.
                existing = placement(for: candidates, sa: index).target(for: key.placementHash)
                flows.retarget(slot: slot, to: existing)
            }
            if inner.kind != .icmpError { flows.refresh(slot: slot, now: nowSeconds, closing: inner.isTCPFinOrRst) }
            target = existing
            counters.count(.entry)
        } else {
            target = placement(for: candidates, sa: index).target(for: key.placementHash)
            let creates = inner.kind != .icmpError
                && (inner.ipProtocol != IPProtocolNumber.tcp || inner.isTCPSynWithoutAck)
            if creates {
                guard sas[index].bucket.take(now: now.nanoseconds) else { return .drop(.rateLimited) }
                guard flows.insert(key, target: target, now: nowSeconds, closing: inner.isTCPFinOrRst) else {
                    return .drop(.tableFull)
                }
                counters.count(.created)
            } else {
                counters.count(.hashed)
            }
        }
        if let fragment = inner.fragment, fragment.isFirst {
            fragments.record(FragmentKey(lineage: lineage, source: inner.source, destination: inner.destination,
                                         ipProtocol: inner.ipProtocol, identification: fragment.identification),
                             target: target, now: now.nanoseconds)
        }
        return forward(target, sa: index)
    }

    @inline(__always) func forward(_ target: UInt16, sa index: Int) -> InboundDecision {
        let mark = marks[Int(target)]
        return .forward(TargetRef(index: target, mark: sas[index].sa.forwarding == .direct ? mark.0 : mark.1))
    }

    /// The Maglev placement for `candidates`, cached per SA and per candidate set.
    mutating func placement(for candidates: TargetSet, sa index: Int) -> Placement {
        if sas[index].placementGeneration == placementGeneration, sas[index].placementCandidates == candidates,
           let cached = sas[index].placement {
            return cached
        }
        let built: Placement
        if let shared = placements[candidates] {
            built = shared
        } else {
            let members = candidates.members
            let backends = members.map { member -> (name: String, weight: Int) in
                let target = targets[Int(member)]
                return (target?.id.name ?? "", target?.weight ?? 1)
            }
            built = Placement(table: MaglevTable(backends: backends, size: configuration.maglevSize), members: members)
            placements[candidates] = built
        }
        sas[index].placement = built
        sas[index].placementCandidates = candidates
        sas[index].placementGeneration = placementGeneration
        return built
    }
}
