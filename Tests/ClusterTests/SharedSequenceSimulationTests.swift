import XCTest
@testable import Cluster

/// The shared-SA sequence path end to end: the routing node's allocator (inside the SA
/// authority), each agent's shadow cache and sequencer, and a model of each agent's kernel
/// SA with the Linux rules that make the fence (hard packet limit checked before every
/// packet; XFRM_MSG_NEWAE setting the output sequence and the packet count together).
final class SharedSequenceSimulationTests: XCTestCase {
    /// One target's kernel state of the shared SA.
    private struct KernelSA {
        var outputSequence: UInt64
        var packets: UInt64 = 0
        var hardPacketLimit: UInt64
        var softPacketLimit: UInt64
        var softFired = false

        init(grant: ClusterMessage.SequenceBlockGrant) {
            outputSequence = grant.block.first - 1
            hardPacketLimit = grant.hardPacketLimit
            softPacketLimit = grant.softPacketLimit
        }

        enum Outcome { case sent(UInt64), soft(UInt64), expired }

        /// xfrm_output: check the hard limit, then number the packet.
        mutating func send() -> Outcome {
            guard packets < hardPacketLimit else { return .expired }
            packets += 1
            outputSequence += 1
            if packets >= softPacketLimit && !softFired {
                softFired = true
                return .soft(outputSequence)
            }
            return .sent(outputSequence)
        }

        /// XFRM_MSG_NEWAE with the replay state and XFRMA_LTIME_VAL.
        mutating func switchTo(_ grant: ClusterMessage.SequenceBlockGrant) {
            outputSequence = grant.block.first - 1
            packets = 0
            softFired = false
        }
    }

    private struct Target {
        var node: NodeID
        var incarnation: UInt64
        var cache = AgentShadowCache(grace: .seconds(60))
        var kernel: KernelSA?
        var inbox: [ClusterMessage] = []
        var connected = true
    }

    func testNoSequenceNumberIsEverSentTwiceAcrossCrashesAndSlowAgents() throws {
        var totalSent = 0, totalExpired = 0, totalRestarts = 0
        for seed in UInt64(1)...30 {
            var generator = SeededGenerator(seed: seed)
            let blockSize = UInt64.random(in: 4...64, using: &generator)
            let window = blockSize * UInt64.random(in: 2...16, using: &generator)   // 2: the default (16, 32)
            var clock = ClusterInstant(nanoseconds: 1)
            let epoch = ClusterEpoch(rawValue: seed)
            var authority = SAAuthority(epoch: epoch, configuration: .init(
                membership: .init(failureTimeout: .seconds(1000)), installTimeout: .seconds(1000),
                outboundMode: .shared(blockSize: blockSize, peerReplayWindow: window)))
            var targets = (0..<Int.random(in: 2...5, using: &generator)).map {
                Target(node: Fixture.node("t\($0)"), incarnation: generator.next())
            }
            let saID = ClusterSAID(1)
            var sent: [UInt64: NodeID] = [:]

            func route(_ actions: [AuthorityAction]) {
                for case .send(let message, let node) in actions {
                    if let index = targets.firstIndex(where: { $0.node == node }), targets[index].connected {
                        targets[index].inbox.append(message)
                    }
                }
            }
            func join(_ index: Int) {
                targets[index].connected = true
                route(authority.receivedHello(.init(nodeID: targets[index].node, clusterAddress: .v4(10, 0, 0, 1), capabilities: [],
                                                    maximumReplayWindow: 4096, incarnation: targets[index].incarnation,
                                                    heldEpoch: targets[index].cache.epoch), now: clock))
            }
            func apply(_ effects: [AgentShadowCache.Effect], at index: Int) {
                for effect in effects {
                    switch effect {
                    case .installInKernel(let sa, let block):
                        if case .shared = sa.sequencing {
                            guard let block else { return XCTFail("seed \(seed): shared SA without a block") }
                            XCTAssertEqual(sa.lifetimes.hardPacketLimit, blockSize, "the fence is in the description")
                            targets[index].kernel = KernelSA(grant: block)
                        }
                        route(authority.received(.ack(.init(saID: sa.saID, operation: .installSA)), from: targets[index].node, now: clock))
                    case .switchSequenceBlock(_, let grant):
                        XCTAssertNotNil(targets[index].kernel, "seed \(seed): NEWAE on a state that is gone")
                        targets[index].kernel?.switchTo(grant)
                    case .removeFromKernel:
                        targets[index].kernel = nil
                    case .reply(let message):
                        route(authority.received(message, from: targets[index].node, now: clock))
                    }
                }
            }

            for index in targets.indices { join(index) }
            route(authority.childSANegotiated([Fixture.sa(1, direction: .outbound, sequencing: .shared(blockSize: blockSize),
                                                          epoch: epoch)], response: nil, now: clock))
            for _ in 0..<4000 {
                clock = clock + .milliseconds(1)
                let index = Int.random(in: 0..<targets.count, using: &generator)
                switch Int.random(in: 0..<100, using: &generator) {
                case 0:  // SIGKILL and restart: kernel state flushed, new incarnation, rejoin
                    totalRestarts += 1
                    route(authority.connectionClosed(targets[index].node, now: clock))
                    targets[index] = Target(node: targets[index].node, incarnation: generator.next())
                    join(index)
                case 1:  // the connection drops and comes back: same process, kernel state kept
                    route(authority.connectionClosed(targets[index].node, now: clock))
                    targets[index].inbox = []
                    join(index)
                case 2..<40:  // the agent handles its messages (a slow agent lags behind)
                    let messages = targets[index].inbox
                    targets[index].inbox = []
                    for message in messages {
                        switch message {
                        case .welcome(let welcome): apply(targets[index].cache.welcomed(welcome, now: clock), at: index)
                        case .installSA(let install): apply(targets[index].cache.install(install, now: clock), at: index)
                        case .fullState(let state): apply(targets[index].cache.fullState(state, now: clock), at: index)
                        case .sequenceBlockGrant(let grant): apply(targets[index].cache.received(grant, now: clock), at: index)
                        case .nack(let nack) where nack.reason == .windowFull:
                            apply(targets[index].cache.retrySequenceBlock(nack.saID), at: index)
                        default: break
                        }
                    }
                default:  // the kernel sends a burst
                    for _ in 0..<Int.random(in: 1...Int(blockSize), using: &generator) {
                        guard var kernel = targets[index].kernel else { break }
                        let outcome = kernel.send()
                        targets[index].kernel = kernel
                        switch outcome {
                        case .sent(let number), .soft(let number):
                            if let earlier = sent[number] {
                                XCTFail("seed \(seed): \(number) sent by \(targets[index].node), already by \(earlier)")
                            }
                            sent[number] = targets[index].node
                            totalSent += 1
                            if case .soft = outcome { apply(targets[index].cache.softPacketLimitReached(saID), at: index) }
                        case .expired:
                            totalExpired += 1
                            targets[index].kernel = nil
                            apply(targets[index].cache.hardPacketLimitReached(saID), at: index)
                        }
                    }
                }
            }
            if let allocator = authority.sequenceAllocator(for: saID) {
                XCTAssertLessThanOrEqual(sent.keys.max() ?? 0, allocator.highWaterMark, "seed \(seed): sent beyond any grant")
            }
        }
        // The runs must exercise the paths they claim to.
        XCTAssertGreaterThan(totalSent, 10_000)
        XCTAssertGreaterThan(totalExpired, 10, "slow agents must hit the fence")
        XCTAssertGreaterThan(totalRestarts, 100)
    }
}
