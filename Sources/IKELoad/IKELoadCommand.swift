// vipsec-ike-load: many concurrent IKEv2 initiators (IKE_SA_INIT + IKE_AUTH with PSK and a
// CHILD_SA) against one responder, from vipsec's IKEv2 core; nothing goes into a kernel on
// this side. Counts completed setups per second. Used by scripts/bench-ike, which runs the
// same load against vipsec routing and against strongSwan's charon.
//
//   vipsec-ike-load --target 192.0.2.100 --count 2000 --concurrency 64 \
//       --proposal aes256gcm16-prfsha256-x25519 --psk-file FILE --responder-subnet 10.2.0.0/24
//
// Each initiator in flight has its own UDP port (a finished one's port goes to the next),
// its own identity (FQDN load-<n>.vipsec.lab) and asks for its own /32 (from
// --initiator-base) as TSi, so every CHILD_SA gets distinct policies.
// With --hold S every established IKE_SA is kept S seconds after the last setup and answers
// the responder (liveness checks, rekeys, Deletes; HeldIKESAs.swift), as real peers do.
// Machine-readable lines:
//   result proposal=... count=... completed=... failed=... child_failed=... seconds=... rate=... p50_ms=... p99_ms=...
//          block=B block_rates=r1,r2,...  (setups/s of each B consecutive completions)
//   hold seconds=... held_start=... held_end=... informational=... create_child_sa=... ike_sa_rekeys=... closed=...
//        setup_first=... (the setups' spread in time, s since start) rekey_first=... (the CREATE_CHILD_SA
//        requests' spread) ..._peak_per_s=...
import ArgumentParser
import Foundation
import IKECrypto
import IKEv2
#if canImport(Glibc)
import Glibc
#endif

@main
struct IKELoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vipsec-ike-load",
        abstract: "Concurrent IKEv2 initiators (PSK) against one responder; prints setups per second.")

    @Option(help: "The responder's IPv4 address.") var target: String
    @Option(help: "The responder's IKE port.") var port: UInt16 = 500
    @Option(help: "Local IPv4 address to send from.") var source: String = "0.0.0.0"
    @Option(help: "IKE_SA + CHILD_SA setups in all.") var count: Int = 1000
    @Option(help: "Setups in flight at once.") var concurrency: Int = 32
    @Option(help: "IKE proposal, strongSwan syntax.") var proposal: String = "aes256gcm16-prfsha256-x25519"
    @Option(help: "ESP proposal, strongSwan syntax.") var espProposal: String = "aes256gcm16"
    @Option(help: "File holding the PSK (first line).") var pskFile: String
    @Option(help: "The responder's identity (IPv4 address; default: --target).") var responderId: String?
    @Option(help: "The responder's protected subnet (TSr).") var responderSubnet: String = "10.2.0.0/24"
    @Option(help: "First inner address handed out as TSi /32s.") var initiatorBase: String = "10.128.0.1"
    @Option(help: "First retransmission timeout, seconds.") var retransmitTimeout: Double = 2
    @Option(help: "Retransmissions before a setup fails.") var retransmitTries: Int = 3
    @Option(help: "Stop after this many seconds even if unfinished.") var deadline: Double = 600
    @Option(help: "Keep the established IKE_SAs this many seconds after the last setup, answering the responder's liveness checks, rekeys and Deletes.")
    var hold: Double = 0
    @Option(help: "Setups per block for the rate of each block of completions (default: count/10, at most 1000).")
    var block: Int?

    mutating func run() throws {
        guard let targetAddress = IPv4Text.parse(target) else { throw ValidationError("--target: '\(target)' is not an IPv4 address") }
        guard let sourceAddress = IPv4Text.parse(source) else { throw ValidationError("--source: '\(source)' is not an IPv4 address") }
        guard let base = IPv4Text.parse(initiatorBase) else { throw ValidationError("--initiator-base: not an IPv4 address") }
        guard let identity = IPv4Text.parse(responderId ?? target) else { throw ValidationError("--responder-id: not an IPv4 address") }
        guard let subnet = IPv4Text.parsePrefix(responderSubnet) else { throw ValidationError("--responder-subnet: not a.b.c.d/n") }
        guard count > 0, concurrency > 0 else { throw ValidationError("--count and --concurrency must be positive") }
        guard hold >= 0 else { throw ValidationError("--hold: seconds must not be negative") }
        guard (block ?? 1) > 0 else { throw ValidationError("--block must be positive") }
        guard let psk = readFirstLine(pskFile), !psk.isEmpty else { throw ValidationError("--psk-file: cannot read a PSK from \(pskFile)") }
        let plan = LoadPlan(count: count, concurrency: concurrency, ikeProposal: proposal, espProposal: espProposal, psk: psk,
                            responderIdentity: identity, responderSubnet: subnet, initiatorSubnetBase: base,
                            retransmission: RetransmissionPolicy(timeout: retransmitTimeout, base: 1.5, tries: retransmitTries))
        _ = try plan.configuration(0)   // proposals parse, or a clear error now
        var runner = LoadRunner(plan: plan, provider: OpenSSLCryptoProvider(), source: sourceAddress, target: targetAddress,
                                targetPort: port, deadline: deadline)
        runner.hold = hold
        let result = try runner.run(progress: { tally, held, holding in
            print("progress completed=\(tally.completed) failed=\(tally.failed + tally.childFailed) in_flight=\(tally.started - tally.finished)"
                + (holding ? " held=\(held.count) informational=\(held.counts.informational) create_child_sa=\(held.counts.createChildSA)" : ""))
            fflush(stdout)
        }, setupsDone: { result in
            // Printed as soon as the setups are over: a bench measures the hold while it runs.
            let tally = result.tally
            for (reason, n) in tally.reasons.sorted(by: { $0.value > $1.value }).prefix(5) { print("failure \(n)x: \(reason)") }
            let rate = Double(tally.completed) / max(result.seconds, 1e-9)
            let ms = { (p: Double) in tally.latency(percentile: p).map { String(Int(($0 * 1000).rounded())) } ?? "-" }
            let blockSize = block ?? max(1, min(1000, count / 10))
            let blockRates = tally.blockRates(block: blockSize).map { String(format: "%.1f", $0) }.joined(separator: ",")
            print("result proposal=\(proposal) count=\(count) concurrency=\(concurrency) completed=\(tally.completed) "
                + "failed=\(tally.failed) child_failed=\(tally.childFailed) retransmissions=\(tally.retransmissions) "
                + "seconds=\(String(format: "%.2f", result.seconds)) rate=\(String(format: "%.1f", rate)) p50_ms=\(ms(50)) p99_ms=\(ms(99)) "
                + "block=\(blockSize) block_rates=\(blockRates.isEmpty ? "-" : blockRates)")
            if hold > 0 { print("holding \(Int(hold)) s") }
            fflush(stdout)
        })
        let tally = result.tally
        if hold > 0 {
            let held = result.held
            var line = "hold seconds=\(Int(hold)) start_s=\(String(format: "%.1f", result.holdStart)) held_start=\(result.heldAtStart) "
                + "held_end=\(held.established) informational=\(held.counts.informational) create_child_sa=\(held.counts.createChildSA) "
                + "ike_sa_rekeys=\(held.counts.ikeSARekeys) closed=\(held.counts.closed) unknown_spi=\(held.counts.unknownSPI)"
            if let setups = TimeSpread(tally.completionTimes) { line += " " + setups.fields("setup") }
            if let rekeys = TimeSpread(held.rekeyTimes.map { $0 - result.startedAt }) { line += " " + rekeys.fields("rekey") }
            print(line)
        }
        fflush(stdout)
        if tally.completed == 0 { throw ExitCode(1) }
    }

    private func readFirstLine(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 4096)
        guard fgets(&line, Int32(line.count), file) != nil else { return nil }
        return String(cString: line).trimmingNewlines()
    }
}

/// Dotted-quad parsing (pure).
enum IPv4Text {
    static func parse(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        let octets = parts.compactMap { UInt8($0) }
        return octets.count == 4 ? octets : nil
    }

    /// `a.b.c.d/n` as the traffic selector range it covers.
    static func parsePrefix(_ text: String) -> TrafficSelector? {
        let pieces = text.split(separator: "/")
        guard pieces.count == 2, let address = parse(String(pieces[0])), let length = Int(pieces[1]), (0...32).contains(length) else {
            return nil
        }
        let value = address.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << (32 - UInt32(length))
        let octets = { (v: UInt32) in (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32($0))) } }
        return .ipv4(octets(value & mask), octets(value | ~mask))
    }
}

private extension String {
    func trimmingNewlines() -> String {
        var result = self
        while let last = result.last, last == "\n" || last == "\r" { result.removeLast() }
        return result
    }
}
