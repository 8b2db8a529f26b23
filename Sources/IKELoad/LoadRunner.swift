// The load's event loop: keeps `concurrency` initiators in flight until `count` setups have
// finished, over a pool of at most `concurrency` UDP sockets (a finished setup's socket goes
// to the next one), with poll(2). With `hold` > 0 every established IKE_SA is kept
// (HeldIKESAs) and answers the responder on its socket until the hold is over: datagrams
// are matched to IKE_SAs by SPI, so a port serves the setup in flight and the held ones.
// Single-threaded: the initiator's own CPU cost stays small and predictable next to the
// responder's.
#if canImport(Glibc)
import Glibc
#endif
import IKEv2

/// Monotonic seconds.
func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

struct LoadRunner {
    let plan: LoadPlan
    let provider: any IKECryptoProvider
    let source: [UInt8]
    let target: [UInt8]
    let targetPort: UInt16
    /// Give up on the setups after this many seconds.
    let deadline: Double
    /// Keep the established IKE_SAs this many seconds after the last setup (0: forget them).
    var hold: Double = 0

    /// What a run did: the setups' tally, their seconds, and what the held IKE_SAs answered.
    struct Result {
        var tally: LoadTally
        var seconds: Double
        var held: HeldIKESAs
        /// Held IKE_SAs established when the hold began.
        var heldAtStart = 0
        /// Seconds since the run's start when the last setup finished (the hold's start).
        var holdStart = 0.0
        /// The run's start (`monotonicNow()`): the clock of `held.rekeyTimes`.
        var startedAt = 0.0
    }

    /// Runs the load; `progress` is called every 5 s, `setupsDone` once the setups are over
    /// (before the hold, which then begins).
    func run(progress: (LoadTally, HeldIKESAs, _ holding: Bool) -> Void, setupsDone: (Result) -> Void) throws -> Result {
        var tally = LoadTally()
        var held = HeldIKESAs()
        let proposals = try plan.proposals()
        var receiveBuffer = [UInt8](repeating: 0, count: 65536)   // one for all reads
        var sockets: [UDPSocket] = []
        var socketByPort: [UInt16: Int] = [:]
        // The setup in flight on each socket (nil: the socket is free).
        var inFlight: [LoadInitiator?] = []
        var fds: [pollfd] = []
        let start = monotonicNow()
        var nextReport = start + 5
        var holdUntil: Double?
        var result = Result(tally: tally, seconds: 0, held: held, startedAt: start)
        defer { for socket in sockets { socket.close() } }

        while true {
            let now = monotonicNow()
            if holdUntil == nil, tally.finished >= plan.count || now - start > deadline {
                result.seconds = now - start
                result.tally = tally
                setupsDone(result)
                guard hold > 0 else { break }
                holdUntil = now + hold
                result.heldAtStart = held.established
                result.holdStart = now - start
            }
            if let end = holdUntil, now >= end { break }
            while holdUntil == nil, tally.started < plan.count, tally.started - tally.finished < plan.concurrency {
                let index = tally.started
                tally.started += 1
                let slot: Int
                if let free = inFlight.firstIndex(where: { $0 == nil }) {
                    slot = free
                } else {
                    let socket = try UDPSocket(bindTo: source)
                    slot = sockets.count
                    sockets.append(socket)
                    socketByPort[socket.port] = slot
                    inFlight.append(nil)
                }
                var initiator = try LoadInitiator(
                    index: index, configuration: plan.configuration(index, proposals: proposals), provider: provider,
                    local: IKEEndpoint(address: source, port: sockets[slot].port), remote: IKEEndpoint(address: target, port: targetPort),
                    retransmission: plan.retransmission, now: now)
                for datagram in initiator.start(now: now) { sockets[slot].send(datagram, to: target, port: targetPort) }
                inFlight[slot] = initiator
            }
            // Sleep until a datagram arrives or the next retransmission is due (at most 100 ms).
            let deadlines = inFlight.compactMap { $0?.timer?.deadline } + [held.nextDeadline, now + 0.1].compactMap { $0 }
            fds.removeAll(keepingCapacity: true)
            for socket in sockets { fds.append(pollfd(fd: socket.descriptor, events: Int16(POLLIN), revents: 0)) }
            let waitMs = Int32(max(0, min(0.1, deadlines.min()! - now)) * 1000)
            _ = poll(&fds, nfds_t(fds.count), waitMs)
            let after = monotonicNow()
            for i in sockets.indices {
                var sends: [[UInt8]] = []
                if fds[i].revents & Int16(POLLIN) != 0 {
                    for datagram in sockets[i].receiveAll(using: &receiveBuffer) {
                        if var initiator = inFlight[i], HeldIKESAs.localSPI(of: datagram) == initiator.sa.localSPI {
                            sends += initiator.receive(datagram, now: after)
                            inFlight[i] = initiator
                        } else if hold > 0 {
                            for (bytes, port) in held.receive(datagram, now: after) {
                                sockets[socketByPort[port] ?? i].send(bytes, to: target, port: targetPort)
                            }
                        }
                    }
                }
                if var initiator = inFlight[i] {
                    sends += initiator.timerDue(now: after)
                    inFlight[i] = initiator
                }
                for datagram in sends { sockets[i].send(datagram, to: target, port: targetPort) }
                guard let initiator = inFlight[i], initiator.outcome != .inProgress else { continue }
                switch initiator.outcome {
                case .inProgress: break
                case .completed:
                    tally.completed += 1
                    tally.latencies.append(after - initiator.startedAt)
                    tally.completionTimes.append(after - start)
                    if hold > 0 { held.add(initiator.sa, port: sockets[i].port) }
                case .failed(let reason):
                    tally.failed += 1
                    tally.reasons[reason, default: 0] += 1
                case .childFailed(let reason):
                    tally.childFailed += 1
                    tally.reasons[reason, default: 0] += 1
                }
                tally.retransmissions += initiator.retransmissions
                inFlight[i] = nil
            }
            for (bytes, port) in held.timersDue(now: after) {
                if let i = socketByPort[port] { sockets[i].send(bytes, to: target, port: targetPort) }
            }
            if after >= nextReport {
                progress(tally, held, holdUntil != nil)
                nextReport = after + 5
            }
        }
        result.tally = tally
        result.held = held
        if result.seconds == 0 { result.seconds = monotonicNow() - start }
        return result
    }
}
