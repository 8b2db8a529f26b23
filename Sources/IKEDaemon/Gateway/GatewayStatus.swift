// The gateway's counters as one status line, for operators and the lab: what was dropped
// and why, what was refused with which notify, how many IKE_SAs are up. `vipsec routing`
// logs it on SIGUSR1 (and at shutdown).
import IKEv2

/// Per-SA counters summed over IKE_SAs (those alive and those already closed).
struct IKESATotals: Equatable {
    var sa = IKESACounters()
    var sequencer = TaskManagerCounters()

    mutating func add(_ counters: IKESACounters, _ sequencer: TaskManagerCounters) {
        sa.malformed += counters.malformed
        sa.integrityFailures += counters.integrityFailures
        sa.unexpected += counters.unexpected
        for (type, count) in counters.refusals { sa.refusals[type, default: 0] += count }
        for (reason, count) in counters.authenticationFailures { sa.authenticationFailures[reason, default: 0] += count }
        self.sequencer.retransmissionsSent += sequencer.retransmissionsSent
        self.sequencer.cachedResponsesResent += sequencer.cachedResponsesResent
        self.sequencer.requestsDroppedOutOfWindow += sequencer.requestsDroppedOutOfWindow
        self.sequencer.responsesDroppedUnexpected += sequencer.responsesDroppedUnexpected
        self.sequencer.requestsDroppedNotRetransmission += sequencer.requestsDroppedNotRetransmission
        sa.ikeRekeyCollisionsWon += counters.ikeRekeyCollisionsWon
        sa.ikeRekeyCollisionsLost += counters.ikeRekeyCollisionsLost
        sa.retransmitsAbsorbedWhileInstalling += counters.retransmitsAbsorbedWhileInstalling
        sa.retransmitsAbsorbedWhileVerifying += counters.retransmitsAbsorbedWhileVerifying
        sa.fragmentsReceived += counters.fragmentsReceived
        sa.fragmentedMessagesReassembled += counters.fragmentedMessagesReassembled
        sa.fragmentedMessagesSent += counters.fragmentedMessagesSent
        sa.redirectsIgnored += counters.redirectsIgnored
        for (reason, count) in counters.fragmentsDropped { sa.fragmentsDropped[reason, default: 0] += count }
    }
}

extension IKEGateway {
    /// Totals over every IKE_SA the gateway has had.
    var saTotals: IKESATotals {
        var totals = closedSATotals
        for sa in sas.values { totals.add(sa.counters, sa.sequencerCounters) }
        return totals
    }

    /// `name=value` pairs, in a fixed order; refusals as `refused_<NOTIFY>=n`.
    var statusFields: [(String, Int)] {
        let totals = saTotals
        var fields: [(String, Int)] = [
            ("ike_sas", sas.values.filter { $0.phase == .established }.count),
            ("half_open", halfOpenCount),
            ("child_sas", sas.values.reduce(0) { $0 + $1.childSAs.count }),
            ("established_total", establishedTotal),
            ("malformed", counters.malformed + totals.sa.malformed),
            ("unknown_spi", counters.unknownSPI),
            ("no_connection", counters.noConnection),
            ("half_open_limit_drops", counters.halfOpenLimitDrops),
            ("half_open_per_peer_drops", counters.halfOpenPerPeerDrops),
            ("half_open_timeouts", counters.halfOpenTimeouts),
            ("cookies_sent", counters.cookiesSent),
            ("bad_cookies", counters.badCookies),
            ("integrity_failures", totals.sa.integrityFailures),
            ("unexpected", totals.sa.unexpected),
            ("retransmissions_sent", totals.sequencer.retransmissionsSent),
            ("cached_responses_resent", totals.sequencer.cachedResponsesResent),
            ("requests_dropped_out_of_window", totals.sequencer.requestsDroppedOutOfWindow),
            ("responses_dropped_unexpected", totals.sequencer.responsesDroppedUnexpected),
            ("requests_dropped_not_retransmission", totals.sequencer.requestsDroppedNotRetransmission),
            ("ike_rekeys", counters.ikeRekeys),
            ("ike_rekeys_failed", counters.ikeRekeysFailed),
            ("ike_rekey_collisions_won", totals.sa.ikeRekeyCollisionsWon),
            ("ike_rekey_collisions_lost", totals.sa.ikeRekeyCollisionsLost),
            ("rekeyed_sas_forgotten", counters.rekeyedSAsForgotten),
            ("child_sa_install_failures", counters.childSAInstallFailures),
            ("initial_contact_deletes", counters.initialContactDeletes),
            ("retransmits_absorbed_while_installing", totals.sa.retransmitsAbsorbedWhileInstalling),
            ("retransmits_absorbed_while_verifying", totals.sa.retransmitsAbsorbedWhileVerifying),
            ("cookie_failures", counters.cookieFailures),
            ("redirects_sent", counters.redirectsSent),
            ("redirects_followed", counters.redirectsFollowed),
            ("redirects_ignored", totals.sa.redirectsIgnored),
            ("redirects_refused", counters.redirectsRefused),
            ("redirect_loops", counters.redirectLoops),
            ("fragments_received", totals.sa.fragmentsReceived),
            ("fragmented_messages_reassembled", totals.sa.fragmentedMessagesReassembled),
            ("fragmented_messages_sent", totals.sa.fragmentedMessagesSent),
        ]
        for reason in FragmentDropReason.allCases {
            fields.append(("fragments_dropped_\(reason.rawValue)", totals.sa.fragmentsDropped[reason, default: 0]))
        }
        for (type, count) in totals.sa.refusals.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            fields.append(("refused_\(type)", count))
        }
        // Peer authentications refused, by reason (certificate expired, untrusted, revoked, ...).
        for reason in PeerAuthenticationFailure.allCases {
            if let count = totals.sa.authenticationFailures[reason] { fields.append(("auth_failed_\(reason.rawValue)", count)) }
        }
        return fields
    }

    /// One line per IKE_SA, by SPI: `IKE_SA lab 0123..._i 4567..._r established rekeys=2 child_sas=1 (in 0xc1.. out 0xc2..)`,
    /// then ` rekeyed (in 0xc3..)` while a rekeyed CHILD_SA's inbound SA is kept.
    /// The SPIs are the current ones: after a rekey the new IKE_SA's.
    var ikeSALines: [String] {
        sas.values.sorted { $0.localSPI < $1.localSPI }.map { sa in
            let children = sa.childSAs.map { "in 0x\(String($0.inbound.spi, radix: 16)) out 0x\(String($0.outbound.spi, radix: 16))" }
            return "IKE_SA \(sa.configuration.name) \(hex16(sa.initiatorSPI))_i \(hex16(sa.responderSPI))_r \(sa.phase)"
                + " rekeys=\(sa.rekeyGeneration) child_sas=\(sa.childSAs.count)"
                + (children.isEmpty ? "" : " (" + children.joined(separator: ", ") + ")")
                + rekeyed(sa)
        }
    }

    /// ` rekeyed (in 0xc3..)`: the kept inbound SAs of rekeyed CHILD_SAs (delete_rekeyed_delay).
    func rekeyed(_ sa: IKESA) -> String {
        guard !sa.rekeyedChildSAs.isEmpty else { return "" }
        return " rekeyed (" + sa.rekeyedChildSAs.map { "in 0x\(String($0.child.inbound.spi, radix: 16))" }.joined(separator: ", ") + ")"
    }

    /// One line: `counters: ike_sas=1 half_open=0 ... refused_NO_PROPOSAL_CHOSEN=1`.
    var statusLine: String {
        "counters: " + statusFields.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
    }
}
