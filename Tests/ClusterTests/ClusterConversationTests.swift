import NIOCore
import XCTest
@testable import Cluster

/// The routing node's authority and several agents' shadow caches talking through real
/// frames (encode, decode), with random negotiations, deletions, slow, failing, crashing and
/// restarting agents, and routing-node restarts. Checks the rules that must hold whatever
/// happens.
final class ClusterConversationTests: XCTestCase {
    private struct Agent {
        var node: NodeID
        var incarnation: UInt64
        var cache = AgentShadowCache(grace: .seconds(30))
        var inbox = ByteBuffer()
        var connected = false
    }

    private var released = 0, failed = 0, dropped = 0

    func testRandomConversationsKeepTheRules() throws {
        for seed in UInt64(1)...25 {
            try runConversation(seed: seed)
        }
        // The scenarios must actually exercise each outcome.
        XCTAssertGreaterThan(released, 100)
        XCTAssertGreaterThan(failed, 0)
        XCTAssertGreaterThan(dropped, 0)
    }

    private func runConversation(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        let decoder = ClusterFrameDecoder()
        var clock = ClusterInstant(nanoseconds: 1_000_000_000)
        var epoch = ClusterEpoch.fresh(using: &generator)
        let configuration = SAAuthority.Configuration(installTimeout: .seconds(2), outboundMode: .shared(blockSize: 256, peerReplayWindow: 4096))
        var authority = SAAuthority(epoch: epoch, configuration: configuration)
        var agents = (0..<4).map { Agent(node: Fixture.node("t\($0)"), incarnation: generator.next()) }
        var nextSA: UInt64 = 1
        var nextToken: UInt64 = 1
        var openTokens: Set<IKEResponseToken> = []
        var tokenSAs: [IKEResponseToken: [ClusterSAID]] = [:]
        var toAuthority: [(NodeID, ByteBuffer)] = []

        func deliver(_ actions: [AuthorityAction]) {
            for action in actions {
                switch action {
                case .send(let message, let node):
                    guard let index = agents.firstIndex(where: { $0.node == node }), agents[index].connected else { continue }
                    ClusterFrame.write(message, to: &agents[index].inbox)
                case .releaseIKEResponse(let token):
                    released += 1
                    XCTAssertTrue(openTokens.remove(token) != nil, "seed \(seed): \(token) settled twice")
                    for saID in tokenSAs[token] ?? [] {
                        let holders = authority.holders(of: saID)
                        XCTAssertFalse(holders.isEmpty, "seed \(seed): released \(token) with \(saID) nowhere")
                        for holder in holders {
                            // A crash the authority has not heard of yet (the new incarnation's
                            // Hello is still queued) cannot be held against it.
                            let agent = agents.first { $0.node == holder }
                            guard agent?.incarnation == authority.membership.members[holder]?.incarnation else { continue }
                            XCTAssertNotNil(agent?.cache.sas[saID], "seed \(seed): \(holder) acked \(saID) but lacks it")
                        }
                    }
                case .failIKEResponse(let token, _):
                    failed += 1
                    XCTAssertTrue(openTokens.remove(token) != nil, "seed \(seed): \(token) settled twice")
                case .dropMember(let node, _):
                    dropped += 1
                    if let index = agents.firstIndex(where: { $0.node == node }) {
                        agents[index].connected = false
                        agents[index].inbox.clear()
                    }
                case .negotiatePerTargetSA, .deleteChildSA, .rekey, .rekeyJudged, .authenticatedReplay, .flowsEnded, .flowsReported:
                    break
                }
            }
        }

        func connect(_ index: Int) {
            // Whatever the previous connection still had in flight dies with it.
            toAuthority.removeAll { $0.0 == agents[index].node }
            agents[index].connected = true
            agents[index].inbox.clear()
            let hello = ClusterMessage.hello(.init(nodeID: agents[index].node, clusterAddress: .v4(10, 9, 0, UInt8(index)),
                                                   capabilities: [], maximumReplayWindow: 4096,
                                                   incarnation: agents[index].incarnation, heldEpoch: agents[index].cache.epoch))
            var frame = ByteBuffer()
            ClusterFrame.write(hello, to: &frame)
            toAuthority.append((agents[index].node, frame))
        }

        func agentWork(_ index: Int) throws {
            while let message = try decoder.decode(&agents[index].inbox) {
                var effects: [AgentShadowCache.Effect] = []
                switch message {
                case .welcome(let welcome): effects = agents[index].cache.welcomed(welcome, now: clock)
                case .installSA(let install): effects = agents[index].cache.install(install, now: clock)
                case .deleteSA(let delete): effects = agents[index].cache.delete(delete, now: clock)
                case .fullState(let state): effects = agents[index].cache.fullState(state, now: clock)
                case .sequenceBlockGrant(let grant): effects = agents[index].cache.received(grant, now: clock)
                default: break
                }
                // The epoch rule, after every message: never an SA of another epoch.
                for sa in agents[index].cache.sas.values {
                    XCTAssertEqual(sa.epoch, agents[index].cache.epoch, "seed \(seed): \(agents[index].node) holds a stale SA")
                }
                var replies: [ClusterMessage] = []
                for effect in effects {
                    switch effect {
                    case .installInKernel(let sa, let block):
                        if case .shared = sa.sequencing {
                            XCTAssertNotNil(block, "seed \(seed): a shared SA into the kernel without a block")
                        }
                        if Int.random(in: 0..<20, using: &generator) == 0 {
                            for case .reply(let reply) in agents[index].cache.installFailed(sa.saID, reason: .kernelRejected, detail: "EINVAL") {
                                replies.append(reply)
                            }
                        } else {
                            replies.append(.ack(.init(saID: sa.saID, operation: .installSA)))
                        }
                    case .switchSequenceBlock:
                        break
                    case .removeFromKernel(let sa):
                        replies.append(.ack(.init(saID: sa.saID, operation: .deleteSA)))
                    case .reply(let reply):
                        replies.append(reply)
                    }
                }
                for reply in replies {
                    var frame = ByteBuffer()
                    ClusterFrame.write(reply, to: &frame)
                    toAuthority.append((agents[index].node, frame))
                }
            }
        }

        func authorityWork() throws {
            let batch = toAuthority
            toAuthority = []
            for (node, frame) in batch {
                guard agents.first(where: { $0.node == node })?.connected == true else { continue }
                var buffer = frame
                guard let message = try decoder.decode(&buffer) else { continue }
                deliver(authority.received(message, from: node, now: clock))
            }
        }

        for index in agents.indices { connect(index) }
        for _ in 0..<400 {
            switch Int.random(in: 0..<100, using: &generator) {
            case 0..<15:  // the IKE daemon negotiated a CHILD_SA pair
                let token = IKEResponseToken(nextToken)
                nextToken += 1
                let ids = [ClusterSAID(nextSA), ClusterSAID(nextSA + 1)]
                nextSA += 2
                openTokens.insert(token)
                tokenSAs[token] = ids
                deliver(authority.childSANegotiated(
                    [Fixture.sa(ids[0].rawValue, epoch: epoch),
                     Fixture.sa(ids[1].rawValue, direction: .outbound, sequencing: .shared(blockSize: 256), epoch: epoch)],
                    response: token, now: clock))
            case 15..<20:  // an SA is deleted
                if let sa = authority.currentSAs.randomElement(using: &generator) {
                    deliver(authority.childSADeleted(sa.saID, now: clock))
                }
            case 20..<24:  // an agent's connection drops
                let index = Int.random(in: 0..<agents.count, using: &generator)
                if agents[index].connected {
                    agents[index].connected = false
                    toAuthority.removeAll { $0.0 == agents[index].node }
                    deliver(authority.connectionClosed(agents[index].node, now: clock))
                }
            case 24..<27:  // an agent crashes and restarts: new incarnation, nothing held
                let index = Int.random(in: 0..<agents.count, using: &generator)
                agents[index] = Agent(node: agents[index].node, incarnation: generator.next())
                connect(index)
            case 27..<30:  // a disconnected agent reconnects
                let index = Int.random(in: 0..<agents.count, using: &generator)
                if !agents[index].connected { connect(index) }
            case 30:  // the routing node restarts: new epoch, every agent reconnects
                epoch = ClusterEpoch.fresh(using: &generator)
                authority = SAAuthority(epoch: epoch, configuration: configuration)
                for token in openTokens { openTokens.remove(token) }  // the old daemon's responses died with it
                toAuthority = []
                for index in agents.indices { connect(index) }
            case 30..<60:  // time passes
                clock = clock + .milliseconds(Int64.random(in: 10...1500, using: &generator))
                for index in agents.indices where agents[index].connected {
                    var frame = ByteBuffer()
                    ClusterFrame.write(.heartbeat(.init(epoch: epoch, counter: 0)), to: &frame)
                    toAuthority.append((agents[index].node, frame))
                }
                deliver(authority.tick(now: clock))
            default:  // agents and the authority work; one agent may be slow
                let slow = Int.random(in: 0..<agents.count * 2, using: &generator)
                for index in agents.indices where index != slow && agents[index].connected { try agentWork(index) }
                try authorityWork()
            }
        }
        // Quiesce: everyone works, time passes beyond the timeouts.
        for index in agents.indices where !agents[index].connected { connect(index) }
        for _ in 0..<6 {
            for index in agents.indices where agents[index].connected { try agentWork(index) }
            try authorityWork()
        }
        clock = clock + .seconds(10)
        deliver(authority.tick(now: clock))
        XCTAssertEqual(openTokens, [], "seed \(seed): responses never settled")
        XCTAssertEqual(authority.heldResponses, [], "seed \(seed)")
        // Every live member holds exactly the current SAs it acknowledged.
        for agent in agents where authority.membership.isLive(agent.node) {
            let expected = Set(authority.currentSAs.map(\.saID).filter { authority.holders(of: $0).contains(agent.node) })
            XCTAssertEqual(Set(agent.cache.sas.keys), expected, "seed \(seed): \(agent.node)")
            XCTAssertEqual(agent.cache.epoch, epoch, "seed \(seed): \(agent.node)")
        }
    }
}
