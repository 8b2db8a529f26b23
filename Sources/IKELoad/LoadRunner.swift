// The load's event loop: keeps `concurrency` initiators in flight until `count` setups have
// finished, over one UDP socket each (reused by the next setup once one ends), with poll(2).
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
    /// Give up on the whole run after this many seconds.
    let deadline: Double

    /// Runs the load; returns the tally and the seconds it took.
    func run(progress: (LoadTally) -> Void) throws -> (LoadTally, Double) {
        var tally = LoadTally()
        var slots: [(socket: UDPSocket, initiator: LoadInitiator)] = []
        let proposals = try plan.proposals()
        var receiveBuffer = [UInt8](repeating: 0, count: 65536)   // one for all reads
        var fds: [pollfd] = []
        // Sockets of finished setups, for the next ones: at most `concurrency` ports, each
        // used by one setup at a time (opening and closing a socket per setup cost the load
        // generator, which shares the vCPUs with the responder, several system calls each).
        var spareSockets: [UDPSocket] = []
        let start = monotonicNow()
        var nextReport = start + 5
        while tally.finished < plan.count {
            let now = monotonicNow()
            if now - start > deadline { break }
            while slots.count < plan.concurrency, tally.started < plan.count {
                let index = tally.started
                tally.started += 1
                let socket = try spareSockets.popLast() ?? UDPSocket(bindTo: source)
                var initiator = try LoadInitiator(
                    index: index, configuration: plan.configuration(index, proposals: proposals), provider: provider,
                    local: IKEEndpoint(address: source, port: socket.port), remote: IKEEndpoint(address: target, port: targetPort),
                    retransmission: plan.retransmission, now: now)
                for datagram in initiator.start(now: now) { socket.send(datagram, to: target, port: targetPort) }
                slots.append((socket, initiator))
            }
            // Sleep until a datagram arrives or the next retransmission is due (at most 100 ms).
            let nextTimer = slots.compactMap { $0.initiator.timer?.deadline }.min() ?? now + 0.1
            fds.removeAll(keepingCapacity: true)
            for slot in slots { fds.append(pollfd(fd: slot.socket.descriptor, events: Int16(POLLIN), revents: 0)) }
            let waitMs = Int32(max(0, min(0.1, nextTimer - now)) * 1000)
            _ = poll(&fds, nfds_t(fds.count), waitMs)
            let after = monotonicNow()
            for i in slots.indices {
                var sends: [[UInt8]] = []
                if fds[i].revents & Int16(POLLIN) != 0 {
                    for datagram in slots[i].socket.receiveAll(using: &receiveBuffer) {
                        sends += slots[i].initiator.receive(datagram, now: after)
                    }
                }
                sends += slots[i].initiator.timerDue(now: after)
                for datagram in sends { slots[i].socket.send(datagram, to: target, port: targetPort) }
            }
            slots.removeAll { slot in
                switch slot.initiator.outcome {
                case .inProgress: return false
                case .completed:
                    tally.completed += 1
                    tally.latencies.append(after - slot.initiator.startedAt)
                case .failed(let reason):
                    tally.failed += 1
                    tally.reasons[reason, default: 0] += 1
                case .childFailed(let reason):
                    tally.childFailed += 1
                    tally.reasons[reason, default: 0] += 1
                }
                tally.retransmissions += slot.initiator.retransmissions
                spareSockets.append(slot.socket)
                return true
            }
            if after >= nextReport {
                progress(tally)
                nextReport = after + 5
            }
        }
        for slot in slots { slot.socket.close() }
        for socket in spareSockets { socket.close() }
        return (tally, monotonicNow() - start)
    }
}
