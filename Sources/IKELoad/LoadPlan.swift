// What each initiator of the load is: its IKE_SA configuration (identity, traffic
// selector, proposals, PSK), derived from its index alone, and the tally of outcomes. Pure.
import IKEv2

/// The load's parameters (from the command line).
struct LoadPlan: Sendable {
    /// IKE_SA + CHILD_SA setups to make in all.
    var count: Int
    /// Setups in flight at once.
    var concurrency: Int
    /// IKE proposal (strongSwan syntax), e.g. `aes256gcm16-prfsha256-x25519`.
    var ikeProposal: String
    /// ESP proposal, e.g. `aes256gcm16`.
    var espProposal: String
    /// The PSK every initiator uses.
    var psk: String
    /// The responder's identity (an IPv4 address), checked in its IDr.
    var responderIdentity: [UInt8]
    /// The responder's protected subnet (our TSr).
    var responderSubnet: TrafficSelector
    /// First address of the /32s handed out as our TSi (one per initiator: distinct policies).
    var initiatorSubnetBase: [UInt8]
    /// Retransmission policy of each initiator.
    var retransmission: RetransmissionPolicy

    /// Initiator `index`'s inner address: base + index (10.128.0.0 + 1 = 10.128.0.1).
    func innerAddress(_ index: Int) -> [UInt8] {
        var value = initiatorSubnetBase.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        value &+= UInt32(truncatingIfNeeded: index)
        return (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32($0))) }
    }

    /// Initiator `index`'s identity: FQDN `load-<index>.vipsec.lab` (unique per IKE_SA).
    func identity(_ index: Int) -> IdentificationPayload {
        IdentificationPayload(idType: .fqdn, identificationData: Array("load-\(index).vipsec.lab".utf8))
    }

    /// The IKE_SA configuration of initiator `index`.
    func configuration(_ index: Int) throws -> IKESAConfiguration {
        configuration(index, proposals: try proposals())
    }

    /// The parsed IKE and ESP proposals (the runner parses them once, not per initiator:
    /// the load generator shares the responder's CPUs, so its own cost is kept small).
    func proposals() throws -> (ike: [Proposal], esp: [Proposal]) {
        (try ProposalSyntax.parse(ikeProposal, protocolID: .ike), try ProposalSyntax.parse(espProposal, protocolID: .esp))
    }

    /// The IKE_SA configuration of initiator `index`, with proposals from `proposals()`.
    func configuration(_ index: Int, proposals: (ike: [Proposal], esp: [Proposal])) -> IKESAConfiguration {
        let inner = innerAddress(index)
        let child = ChildSAConfiguration(
            name: "load", espProposals: proposals.esp,
            localTrafficSelectors: [.ipv4(inner, inner)], remoteTrafficSelectors: [responderSubnet])
        return IKESAConfiguration(
            name: "load-\(index)", ikeProposals: proposals.ike,
            localIdentity: identity(index),
            remoteIdentity: IdentificationPayload(idType: .ipv4Address, identificationData: responderIdentity),
            presharedKey: SecretBytes(Array(psk.utf8)), child: child, reqid: UInt32(truncatingIfNeeded: index + 1))
    }
}

/// How setups ended.
struct LoadTally: Sendable, Equatable {
    var started = 0
    var completed = 0
    /// IKE_SA failed (refused, retransmissions exhausted, bad AUTH).
    var failed = 0
    /// IKE_SA up but the CHILD_SA refused.
    var childFailed = 0
    var retransmissions = 0
    /// Seconds from IKE_SA_INIT sent to CHILD_SA made, of completed setups.
    var latencies: [Double] = []
    /// Why setups failed, by reason (for the log).
    var reasons: [String: Int] = [:]
    /// Seconds since the run's start at which each completed setup finished, in order.
    var completionTimes: [Double] = []

    var finished: Int { completed + failed + childFailed }

    /// Setups per second of each run of `block` consecutive completions (the first block
    /// counted from the run's start): does the rate hold up as the responder fills?
    func blockRates(block: Int) -> [Double] {
        guard block > 0 else { return [] }
        var rates: [Double] = []
        var previous = 0.0
        var end = block - 1
        while end < completionTimes.count {
            rates.append(Double(block) / max(completionTimes[end] - previous, 1e-9))
            previous = completionTimes[end]
            end += block
        }
        return rates
    }

    /// The `p`-th percentile (0...100) of the latencies, nil without any.
    func latency(percentile p: Double) -> Double? {
        guard !latencies.isEmpty else { return nil }
        let sorted = latencies.sorted()
        let rank = Int((p / 100 * Double(sorted.count - 1)).rounded())
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }
}
