// The inbound distributor's decision per packet (claims 2-10, 21): outer headers → SA by
// (DVIPA, SPI) → check-only replay window → [ICV, when verifying: ICVVerification.swift]
// → peek decryption of the inner headers → sanity
// and tunnel check → connection table / Maglev → forward (mark), local or drop (reason).
// A value with no I/O and no clock, time handed in; several queue workers share one through
// `SharedClassifier` (nft fanout spreads one SA over the queues).

import Cluster

/// The largest `InboundConfiguration.maximumPeek` honoured (plaintext octets per decision).
public let maximumPeekLimit = 512

public struct InboundClassifier {
    public internal(set) var configuration: InboundConfiguration
    let peekers: ESPPeekerFactory
    public internal(set) var counters = InboundCounters()
    var sas: [SAEntry] = []
    /// (DVIPA, SPI) → position in `sas`: the per-packet lookup, changed in place per SA.
    var saLookup = SAIndex()
    var targets: [InboundTarget?] = []
    /// Per target index: the lineages of the SAs it holds, with how many of its SAs have each
    /// (flow-end reports look a target's entries up under these; InboundClassifier+FlowEnds).
    var lineagesByTarget: [[SALineageID: Int]] = []
    /// Lineages gathered and entries probed by flow-end reports (tests: a report costs the
    /// same with 100,000 SAs as with 1,000).
    var flowEndWork = 0
    var targetIndex: [NodeID: UInt16] = [:]
    /// (direct, encapsulated) mark per target index.
    var marks: [(UInt32, UInt32)] = []
    var healthySet = TargetSet()
    var placements: [TargetSet: Placement] = [:]
    var placementGeneration = 0
    public internal(set) var flows: FlowTable
    var fragments: FragmentTable

    public init(configuration: InboundConfiguration = InboundConfiguration(), peekers: ESPPeekerFactory) {
        var configuration = configuration
        configuration.maximumPeek = max(64, min(configuration.maximumPeek, maximumPeekLimit))
        configuration.initialPeek = max(16, min(configuration.initialPeek, configuration.maximumPeek))
        self.configuration = configuration
        self.peekers = peekers
        flows = FlowTable(maximumEntries: configuration.maximumFlows, timeouts: configuration.timeouts,
                          seed: configuration.tableSeed)
        fragments = FragmentTable(capacity: configuration.fragmentCapacity, lifetime: configuration.fragmentLifetime)
    }

    /// The decision for one packet (`packet` starts at the outer IP header), counted.
    public mutating func classify(_ packet: UnsafeRawBufferPointer, now: ClusterInstant) -> InboundDecision {
        let decision = decide(packet, now: now)
        counters.count(decision)
        if configuration.sweepBudgetPerPacket > 0 {
            flows.sweep(now: seconds(now), budget: configuration.sweepBudgetPerPacket)
        }
        return decision
    }

    /// Convenience for tests and tools.
    public mutating func classify(_ packet: [UInt8], now: ClusterInstant) -> InboundDecision {
        packet.withUnsafeBytes { classify($0, now: now) }
    }

    @inline(__always) func seconds(_ now: ClusterInstant) -> UInt32 { UInt32(clamping: now.nanoseconds / 1_000_000_000) }

    mutating func decide(_ packet: UnsafeRawBufferPointer, now: ClusterInstant) -> InboundDecision {
        let esp: ESPPacket
        switch ESPPacketParser.parse(packet) {
        case .esp(let parsed): esp = parsed
        case .local(let reason): return .local(reason)
        case .drop(let reason): return .drop(reason)
        }
        guard let index = saLookup.find(SAKey(destination: esp.outerDestination, spi: esp.spi)) else { return .drop(.noSA) }
        let sequence: UInt64
        switch sas[index].replay.check(esp.sequenceNumber) {
        case .pass(let number): sequence = number
        case .replay: return .drop(.replay)
        case .tooOld: return .drop(.tooOld)
        }
        let decision = decide(packet, esp: esp, sa: index, sequence: sequence, now: now)
        if case .drop(let reason) = decision, configuration.verification == .underAttack, AttackRule.isEvidence(reason) {
            sas[index].verifyUntil = now.nanoseconds &+ UInt64(configuration.attackRule.quietPeriod.components.seconds) * 1_000_000_000
        }
        return decision
    }

    /// After the replay check: the ICV (when verifying), then the peek and the placement.
    mutating func decide(_ packet: UnsafeRawBufferPointer, esp: ESPPacket, sa index: Int, sequence: UInt64,
                         now: ClusterInstant) -> InboundDecision {
        let layout: ESPLayout
        switch sas[index].sa.suite.layout(of: esp) {
        case .success(let value): layout = value
        case .failure(let reason): return .drop(reason)
        }
        if verifying(index, now: now) {
            if let reason = verify(packet, esp: esp, sa: index, sequence: sequence) { return .drop(reason) }
        }
        // A constant size keeps the scratch on the stack.
        let peeked = withUnsafeTemporaryAllocation(byteCount: maximumPeekLimit + 64, alignment: 16) { buffer in
            readInner(packet, esp: esp, layout: layout, sa: index, buffer: buffer)
        }
        let inner: InnerPacket
        switch peeked {
        case .success(let value): inner = value
        case .failure(let reason): return .drop(reason)
        }
        // Transport mode's addresses are the packet's own; behind a NAT (ESP in UDP) the
        // source is the NAT's, not the peer's selector address, so only the destination and
        // the protocol are checked then (README, "The tunnel check").
        let checksSource = !(esp.udpEncapsulated && sas[index].sa.mode == .transport)
        return place(inner, sa: index, now: now, checksSource: checksSource)
    }

    /// True when this SA's packets are verified now (`verify`, and under attack: per SA).
    @inline(__always) func verifying(_ index: Int, now: ClusterInstant) -> Bool {
        switch configuration.verification {
        case .never: return false
        case .always: return true
        case .underAttack: return now.nanoseconds < sas[index].verifyUntil
        }
    }

    /// The whole packet's ICV; nil when right (counted `verified`, and the window moves:
    /// RFC 4303 §3.4.3), else the drop reason (`icv`; the copy must hold the whole packet).
    mutating func verify(_ packet: UnsafeRawBufferPointer, esp: ESPPacket, sa index: Int, sequence: UInt64) -> DropReason? {
        guard let verifier = sas[index].verifier, esp.available >= esp.espOffset + esp.espLength else { return .icv }
        let whole = UnsafeRawBufferPointer(rebasing: packet[esp.espOffset..<(esp.espOffset + esp.espLength)])
        guard verifier.verify(whole, sequence: sequence) else { return .icv }
        counters.countVerified()
        sas[index].replay.verified(sequence)
        return nil
    }

    /// Peeks the trailer (transport mode; tunnel mode when present) and the inner headers.
    func readInner(_ packet: UnsafeRawBufferPointer, esp: ESPPacket, layout: ESPLayout, sa index: Int,
                   buffer: UnsafeMutableRawBufferPointer) -> Result<InnerPacket, DropReason> {
        // Scalars only: binding the whole InboundSA would retain and release its arrays and key.
        let mode = sas[index].sa.mode
        let peeker = sas[index].peeker
        let length = layout.ciphertextLength
        var payloadLimit = length - 2
        var nextHeader: UInt8 = 0
        let trailer = max(0, length - 16)..<length
        let hasTrailer = layout.contains(trailer)
        // The first peek: the inner headers (into padding, harmlessly, on short packets).
        var want = min(configuration.initialPeek, length)
        if !layout.contains(0..<want) { want = max(0, min(want, layout.available - layout.ciphertextOffset)) }
        guard want > 0 else { return .failure(.tooShort) }
        var peeked = false
        if mode == .transport || (configuration.checksTrailerInTunnelMode && hasTrailer) {
            guard hasTrailer else { return .failure(.tooShort) }
            let trailerBytes = buffer.baseAddress! + maximumPeekLimit + 16
            guard peeker.peek(packet, layout: layout, head: 0..<want, into: buffer.baseAddress!,
                              trailer: trailer, into: trailerBytes) else {
                return .failure(.peekFailed)
            }
            peeked = true
            let seen = trailer.count
            nextHeader = trailerBytes.load(fromByteOffset: seen - 1, as: UInt8.self)
            let padLength = Int(trailerBytes.load(fromByteOffset: seen - 2, as: UInt8.self))
            if nextHeader == IPProtocolNumber.noNextHeader { return .failure(.dummy) }
            guard padLength + 2 <= length else { return .failure(.malformedInner) }
            if configuration.checksPadding {
                // Pad octet k (1-based) sits at L-2-padLength+k-1; check the ones in the window.
                let firstPad = length - 2 - padLength
                for position in max(firstPad, trailer.lowerBound)..<(length - 2)
                where trailerBytes.load(fromByteOffset: position - trailer.lowerBound, as: UInt8.self)
                    != UInt8(truncatingIfNeeded: position - firstPad + 1) {
                    return .failure(.malformedInner)
                }
            }
            payloadLimit = length - 2 - padLength
            if mode == .tunnel, nextHeader != IPProtocolNumber.ipv4, nextHeader != IPProtocolNumber.ipv6 {
                return .failure(.malformedInner)
            }
        }
        var attempts = 0
        while true {
            attempts += 1
            if !peeked {
                guard peeker.peek(packet, layout: layout, range: 0..<want, into: buffer.baseAddress!) else {
                    return .failure(.peekFailed)
                }
            }
            peeked = false
            let plain = UnsafeRawBufferPointer(start: buffer.baseAddress, count: want)
            let parsed: InnerParse
            if mode == .tunnel {
                if nextHeader != 0, Int(plain[0] >> 4) != (nextHeader == IPProtocolNumber.ipv4 ? 4 : 6) {
                    return .failure(.malformedInner)
                }
                parsed = InnerPacketParser.parseTunnel(plain, payloadLimit: payloadLimit)
            } else {
                parsed = InnerPacketParser.parseTransport(plain, nextHeader: nextHeader, payloadEnd: payloadLimit,
                                                          source: esp.outerSource, destination: esp.outerDestination)
            }
            switch parsed {
            case .packet(let inner): return .success(inner)
            case .malformed: return .failure(.malformedInner)
            case .needBytes(let count):
                guard attempts < 4, count > want, count <= configuration.maximumPeek, layout.contains(0..<count) else {
                    return .failure(.tooShort)
                }
                // Double (IPv6 extension headers come 8 octets at a time), within what is there.
                let doubled = min(max(count, 2 * want), configuration.maximumPeek, length)
                want = layout.contains(0..<doubled) ? doubled : count
            }
        }
    }
}
