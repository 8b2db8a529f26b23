// vipsec-inbound-bench (scripts/bench inbound-classifier): the classifier's user-space time
// per packet (peek + classify, table hit) per cipher suite, beside the naive reference
// measured in the same run on the same packets: full ICV verification and decryption with
// OpenSSL (what the routing node would pay without peeking, INBOUND.md §3 option A); and the
// connection table's bytes per entry and lookup time at 1 M flows.
//
// And the SA table's churn: N SAs installed one by one, a table hit classified among them,
// then N removed (the SA authority's adds and deletes; ENCR_NULL peekers, so only the
// table's own work is timed).
//
//   vipsec-inbound-bench [--packets N] [--rounds N] [--flows N] [--sas N,N...]

import Cluster
import Foundation
import Inbound
import InboundCrypto
import Secrets

var packetCount = 4096, rounds = 200, tableFlows = 1_000_000, churnSAs = [1_000, 10_000]
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--packets": packetCount = Int(arguments.next() ?? "") ?? packetCount
    case "--rounds": rounds = Int(arguments.next() ?? "") ?? rounds
    case "--flows": tableFlows = Int(arguments.next() ?? "") ?? tableFlows
    case "--sas": churnSAs = (arguments.next() ?? "").split(separator: ",").compactMap { Int($0) }
    default:
        print("usage: vipsec-inbound-bench [--packets N] [--rounds N] [--flows N] [--sas N,N...]")
        exit(2)
    }
}

/// This thread's CPU time (user + system; the loops make no system calls): on a shared,
/// loaded machine it excludes the time other processes run, unlike the wall clock.
func nanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

struct Generator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

let dvipa = InboundAddress.v4(192, 0, 2, 10), peer = InboundAddress.v4(198, 51, 100, 7)
let targets = try ["t1", "t2", "t3"].map { try NodeID($0) }
let start = ClusterInstant(nanoseconds: 1_000_000_000_000)

struct Row { var name: String; var classify: Double; var verify: Double; var reference: Double }

/// ns per packet of peek+classify and of the full-decryption reference for one suite.
func measure(_ name: String, suite: ESPCipherSuite, mode: IPsecMode, chacha: ChaCha20Backend) throws -> Row {
    var rng = Generator(state: 42)
    let keymat = SecretBytes((0..<(suite.keyLength + suite.saltLength)).map { _ in UInt8.random(in: 0...255, using: &rng) })
    let integrity = SecretBytes((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) })
    let sa = InboundSA(spi: 0x1000, destination: dvipa, suite: suite, encryptionKey: keymat, integrityKey: integrity, mode: mode,
                       remoteSelectors: mode == .tunnel ? [InboundTrafficSelector(prefix: .v4(10, 1, 0, 0), length: 16)] : [],
                       localSelectors: [InboundTrafficSelector(prefix: dvipa, length: 32)],
                       lineage: SALineageID(1), holders: targets, forwarding: .direct)
    var classifier = InboundClassifier(peekers: OpenSSLPeekerFactory(chacha20: chacha))
    for (i, id) in targets.enumerated() { try classifier.upsertTarget(InboundTarget(id: id, directMark: UInt32(i + 1), encapsulatedMark: UInt32(i + 11))) }
    try classifier.addSA(sa, now: start)
    // The same with `verify = always`: the whole ICV checked before the peek.
    var verifyConfiguration = InboundConfiguration()
    verifyConfiguration.verification = .always
    var verifying = InboundClassifier(configuration: verifyConfiguration, peekers: OpenSSLPeekerFactory(chacha20: chacha))
    for (i, id) in targets.enumerated() { try verifying.upsertTarget(InboundTarget(id: id, directMark: UInt32(i + 1), encapsulatedMark: UInt32(i + 11))) }
    try verifying.addSA(sa, now: start)
    let sealer = try ESPReferenceCipher(suite: suite, encryptionKey: keymat, integrityKey: integrity)
    // 1400-octet packets, flows of 4 packets each (SYN first), all entries made before timing.
    var packets: [[UInt8]] = []
    for n in 0..<packetCount {
        let flow = n / 4
        let host = InboundAddress.v4(10, 1, UInt8(flow >> 8 & 0xFF), UInt8(flow & 0xFF))
        let tcp = PacketBuilder.tcp(source: UInt16(10000 + flow % 50000), destination: 443, flags: n % 4 == 0 ? 0x02 : 0x10,
                                    payload: [UInt8](repeating: UInt8(n & 0xFF), count: 1300))
        let payload = mode == .tunnel ? PacketBuilder.ipv4(source: host, destination: dvipa, protocol: 6, payload: tcp) : tcp
        let plain = PacketBuilder.espPlaintext(payload: payload, nextHeader: mode == .tunnel ? 4 : 6, multiple: suite.lengthMultiple)
        let iv = (0..<suite.ivLength).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let esp = try sealer.seal(spi: 0x1000, sequence: UInt64(n + 1), iv: iv, plaintext: plain)
        packets.append(PacketBuilder.outer(source: peer, destination: dvipa, esp: esp))
    }
    for packet in packets {
        guard case .forward = classifier.classify(packet, now: start) else {
            throw NSError(domain: "bench", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(name): not forwarded: \(classifier.counters)"])
        }
    }
    // Verified once each (entries made, window moved to the last); the timed rounds below
    // would then be replays: timing them after a window reset keeps every packet verified.
    for packet in packets {
        guard case .forward = verifying.classify(packet, now: start) else {
            throw NSError(domain: "bench", code: 2, userInfo: [NSLocalizedDescriptionKey: "\(name): not verified: \(verifying.counters)"])
        }
    }
    // Peek + classify, then the reference; each the best of 5 runs (the machine is shared).
    var sink: UInt64 = 0
    var output = [UInt8](repeating: 0, count: 2048)
    var classifyNs = Double.infinity, verifyNs = Double.infinity, referenceNs = Double.infinity
    for _ in 0..<5 {
        let t0 = nanoseconds()
        for _ in 0..<max(1, rounds / 5) {
            for packet in packets {
                packet.withUnsafeBytes { raw in
                    if case .forward(let ref) = classifier.classify(raw, now: start) { sink &+= UInt64(ref.mark) }
                }
            }
        }
        classifyNs = min(classifyNs, Double(nanoseconds() - t0) / Double(max(1, rounds / 5) * packets.count))
        let verifyRounds = max(1, rounds / 50)
        var verifyTime: UInt64 = 0
        for _ in 0..<verifyRounds {
            // A fresh window each round (re-adding the SA keeps the flows): every packet is
            // verified, none is a replay; the re-add is outside the timed part.
            try verifying.addSA(sa, now: start)
            let t = nanoseconds()
            for packet in packets {
                packet.withUnsafeBytes { raw in
                    if case .forward(let ref) = verifying.classify(raw, now: start) { sink &+= UInt64(ref.mark) }
                }
            }
            verifyTime += nanoseconds() - t
        }
        verifyNs = min(verifyNs, Double(verifyTime) / Double(verifyRounds * packets.count))
        let referenceRounds = max(1, rounds / 50)
        let t1 = nanoseconds()
        for _ in 0..<referenceRounds {
            for packet in packets {
                let length = try packet.withUnsafeBytes { raw in
                    try output.withUnsafeMutableBytes { try sealer.open(UnsafeRawBufferPointer(rebasing: raw[20...]), sequence: 0, into: $0.baseAddress!) }
                }
                sink &+= UInt64(length)
            }
        }
        referenceNs = min(referenceNs, Double(nanoseconds() - t1) / Double(referenceRounds * packets.count))
    }
    if sink == 42 { print("") }
    guard verifying.counters.verified == verifying.counters.forwarded, verifying.counters.droppedTotal == 0 else {
        throw NSError(domain: "bench", code: 3, userInfo: [NSLocalizedDescriptionKey: "\(name): verify run: \(verifying.counters)"])
    }
    return Row(name: name, classify: classifyNs, verify: verifyNs, reference: referenceNs)
}

/// `vipsec status --connections` at `flows` entries: what the NFQUEUE workers wait for at
/// most, one piece of a listing (the default `--limit 1000`; the longest piece of a listing
/// of every entry: `slotsPerPiece` slots, all their entries copied), beside the reference, a scan of
/// the whole table in one lock hold (an unbounded listing).
func listingCost(_ table: FlowTable) -> (defaultUs: Double, longestPieceUs: Double, pieces: Int, wholeMs: Double) {
    var sink = 0
    let t0 = nanoseconds()
    for _ in 0..<20 { sink &+= table.entries(from: 0, limit: 1000, examining: SharedClassifier.slotsPerPiece, now: 2).entries.count }
    let defaultUs = Double(nanoseconds() - t0) / 20 / 1000
    var start: Int? = 0, pieces = 0, longest: UInt64 = 0
    while let from = start {
        let t = nanoseconds()
        let piece = table.entries(from: from, limit: Int.max, examining: SharedClassifier.slotsPerPiece, now: 2)
        longest = max(longest, nanoseconds() - t)
        sink &+= piece.entries.count
        start = piece.next
        pieces += 1
    }
    let t1 = nanoseconds()
    sink &+= table.entries(from: 0, limit: Int.max, examining: table.capacity, now: 2).entries.count
    let wholeMs = Double(nanoseconds() - t1) / 1e6
    if sink == 42 { print("") }
    return (defaultUs, Double(longest) / 1000, pieces, wholeMs)
}

func tableFootprint(flows: Int) -> (bytesPerEntry: Double, rssPerEntry: Double, lookupNs: Double, insertNs: Double,
                                    listing: (defaultUs: Double, longestPieceUs: Double, pieces: Int, wholeMs: Double)) {
    func rss() -> Double {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = statm.split(separator: " ")
        return fields.count > 1 ? (Double(fields[1]) ?? 0) * 4096 : 0
    }
    let before = rss()
    var table = FlowTable(maximumEntries: flows, seed: 0xFEED)
    func key(_ n: Int) -> FlowKey {
        FlowKey(lineage: SALineageID(UInt32(n % 8)), source: .v4(10, UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)),
                destination: dvipa, sourcePort: UInt16(truncatingIfNeeded: n >> 24 | 1024), destinationPort: 443, ipProtocol: 6)
    }
    let t0 = nanoseconds()
    for n in 0..<flows { _ = table.insert(key(n), target: UInt16(n % 3), now: 1) }
    let insertNs = Double(nanoseconds() - t0) / Double(flows)
    let after = rss()
    var rng = Generator(state: 7)
    var hits = 0
    let lookups = 2_000_000
    let t1 = nanoseconds()
    for _ in 0..<lookups {
        if table.find(key(Int(rng.next() % UInt64(flows))), now: 2) != nil { hits += 1 }
    }
    let lookupNs = Double(nanoseconds() - t1) / Double(lookups)
    precondition(hits == lookups)
    return (Double(table.storageBytes) / Double(table.count), (after - before) / Double(flows), lookupNs, insertNs, listingCost(table))
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func fmt(_ x: Double, _ digits: Int = 0) -> String { String(format: "%.\(digits)f", x) }

print("vipsec-inbound-bench: \(packetCount) packets of 1400 B, \(rounds) rounds, one thread, thread CPU time, best of 5")
print("peek+classify = parse, SA lookup, replay check, peek (inner headers + trailer), sanity, table hit")
print("verify        = the same classifier with `verify = always`: the whole ICV checked first (OpenSSL, contexts keyed once)")
print("reference     = OpenSSL full ICV verification + decryption of the same packet (contexts keyed once)")
print("")
print(pad("suite", 34) + pad("peek+classify ns", 18) + pad("verify ns", 11) + pad("verify/classify", 17) + pad("reference ns", 14)
    + "reference/classify")
let cases: [(String, ESPCipherSuite, IPsecMode, ChaCha20Backend)] = [
    ("AES-GCM-256 tunnel", .aesGCM16(keyLength: 32), .tunnel, .swift),
    ("AES-GCM-256 transport", .aesGCM16(keyLength: 32), .transport, .swift),
    ("AES-CBC-256/SHA-256 tunnel", .aesCBC(keyLength: 32, integrity: .hmacSHA256_128), .tunnel, .swift),
    ("ChaCha20-Poly1305 tunnel (Swift)", .chacha20Poly1305, .tunnel, .swift),
    ("ChaCha20-Poly1305 tunnel (EVP)", .chacha20Poly1305, .tunnel, .openSSL),
]
for (name, suite, mode, chacha) in cases {
    let row = try measure(name, suite: suite, mode: mode, chacha: chacha)
    print(pad(row.name, 34) + pad(fmt(row.classify), 18) + pad(fmt(row.verify), 11) + pad(fmt(row.verify / row.classify, 1) + "x", 17)
        + pad(fmt(row.reference), 14) + fmt(row.reference / row.classify, 1) + "x")
}
print("")
let footprint = tableFootprint(flows: tableFlows)
print("connection table at \(tableFlows) flows: \(fmt(footprint.bytesPerEntry, 1)) B/entry (slot array), "
    + "\(fmt(footprint.rssPerEntry, 1)) B/entry (RSS growth), \(fmt(footprint.bytesPerEntry * Double(tableFlows) / 1e6, 1)) MB; "
    + "lookup \(fmt(footprint.lookupNs, 1)) ns, insert \(fmt(footprint.insertNs, 1)) ns")
let listing = footprint.listing
print("status --connections at \(tableFlows) flows, lock held per piece: --limit 1000 \(fmt(listing.defaultUs, 1)) us; "
    + "every entry, longest of \(listing.pieces) pieces of \(SharedClassifier.slotsPerPiece) slots \(fmt(listing.longestPieceUs, 1)) us; "
    + "reference: the whole table in one hold \(fmt(listing.wholeMs, 1)) ms")

/// N SAs added one by one, a packet classified among them, N removed: CPU time per change.
func saChurn(_ count: Int) throws -> (addUs: Double, removeUs: Double, classifyNs: Double) {
    var classifier = InboundClassifier(peekers: NullPeekerFactory())
    for (i, id) in targets.enumerated() { try classifier.upsertTarget(InboundTarget(id: id, directMark: UInt32(i + 1), encapsulatedMark: UInt32(i + 11))) }
    func sa(_ n: Int) -> InboundSA {
        InboundSA(spi: UInt32(0x1000 + n), destination: dvipa, suite: .null(integrity: .hmacSHA256_128), encryptionKey: SecretBytes([]),
                  integrityKey: SecretBytes([UInt8](repeating: 1, count: 32)), mode: .tunnel,
                  remoteSelectors: [InboundTrafficSelector(prefix: .v4(10, 1, 0, 0), length: 16)],
                  localSelectors: [InboundTrafficSelector(prefix: dvipa, length: 32)],
                  lineage: SALineageID(UInt32(n + 1)), holders: targets, forwarding: .direct)
    }
    let sas = (0..<count).map(sa)
    let t0 = nanoseconds()
    for entry in sas { try classifier.addSA(entry, now: start) }
    let added = nanoseconds() - t0
    // One packet on the last SA, classified many times: after the first, a table hit (the
    // window is check-only: packets never move it, so sequence 1 passes every time).
    let tcp = PacketBuilder.tcp(source: 10000, destination: 443, flags: 0x02, payload: [UInt8](repeating: 0, count: 64))
    let inner = PacketBuilder.ipv4(source: .v4(10, 1, 0, 1), destination: dvipa, protocol: 6, payload: tcp)
    let plain = PacketBuilder.espPlaintext(payload: inner, nextHeader: 4, multiple: 4)
    let body = PacketBuilder.espHeader(spi: UInt32(0x1000 + count - 1), sequenceNumber: 1) + plain + [UInt8](repeating: 0xAA, count: 16)
    let probe = PacketBuilder.outer(source: peer, destination: dvipa, esp: body)
    guard case .forward = classifier.classify(probe, now: start) else {
        throw NSError(domain: "bench", code: 5, userInfo: [NSLocalizedDescriptionKey: "churn probe not forwarded: \(classifier.counters)"])
    }
    var best = Double.infinity
    for _ in 0..<5 {
        let t = nanoseconds()
        for _ in 0..<20_000 { _ = classifier.classify(probe, now: start) }
        best = min(best, Double(nanoseconds() - t) / 20_000)
    }
    let t1 = nanoseconds()
    for entry in sas { classifier.removeSA(destination: entry.destination, spi: entry.spi) }
    let removed = nanoseconds() - t1
    guard classifier.saCount == 0 else { throw NSError(domain: "bench", code: 4) }
    return (Double(added) / Double(count) / 1000, Double(removed) / Double(count) / 1000, best)
}
if !churnSAs.isEmpty {
    print("")
    print("SA table churn (ENCR_NULL, one by one): " + pad("SAs", 9) + pad("add us/SA", 11) + pad("remove us/SA", 14) + "peek+classify ns (table hit) among them")
    for count in churnSAs {
        let churn = try saChurn(count)
        print(pad("", 40) + pad("\(count)", 9) + pad(fmt(churn.addUs, 2), 11) + pad(fmt(churn.removeUs, 2), 14) + fmt(churn.classifyNs, 1))
    }
}
