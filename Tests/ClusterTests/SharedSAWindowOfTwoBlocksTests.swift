import XCTest
@testable import Cluster

/// A shared outbound SA with the defaults (16-packet blocks, the peer's window of 32: two
/// blocks) on two targets, as in issue 16's lab trial (ike-rekey-lossless).
final class SharedSAWindowOfTwoBlocksTests: XCTestCase {
    private let t1 = Fixture.node("t1"), t2 = Fixture.node("t2")
    private let saID = ClusterSAID(6)
    private let blockSize: UInt64 = 16

    /// One target: its shadow cache, its kernel state of the shared SA (packets sent in the
    /// current block and the block itself: the fence) and its messages not handled yet.
    private struct Target {
        var node: NodeID
        var cache = AgentShadowCache(grace: .seconds(60))
        var block: SequenceBlock?
        var packets: UInt64 = 0
        var inbox: [ClusterMessage] = []
        /// Window-full Nacks: the agent asks again 50 ms later.
        var retryDue = false
    }

    private struct Lab {
        var authority: SAAuthority
        var targets: [Target]
        var clock = ClusterInstant(nanoseconds: 1_000_000_000)
        /// Every number sent, by whom: never twice.
        var sent: [UInt64: NodeID] = [:]
        var drops: [AuthorityAction] = []

        mutating func route(_ actions: [AuthorityAction]) {
            for action in actions {
                switch action {
                case .send(let message, let node):
                    if let index = targets.firstIndex(where: { $0.node == node }) { targets[index].inbox.append(message) }
                case .dropMember:
                    drops.append(action)
                default:
                    break
                }
            }
        }

        mutating func apply(_ effects: [AgentShadowCache.Effect], at index: Int) {
            for effect in effects {
                switch effect {
                case .installInKernel(let sa, let grant):
                    targets[index].block = grant?.block
                    targets[index].packets = 0
                    route(authority.received(.ack(.init(saID: sa.saID, operation: .installSA)), from: targets[index].node, now: clock))
                case .switchSequenceBlock(_, let grant):
                    targets[index].block = grant.block
                    targets[index].packets = 0
                case .removeFromKernel:
                    targets[index].block = nil
                case .reply(let message):
                    route(authority.received(message, from: targets[index].node, now: clock))
                }
            }
        }

        /// The agent handles everything in its inbox (and what its answers bring back).
        mutating func handle(_ index: Int) {
            while !targets[index].inbox.isEmpty {
                let message = targets[index].inbox.removeFirst()
                switch message {
                case .welcome(let welcome): apply(targets[index].cache.welcomed(welcome, now: clock), at: index)
                case .installSA(let install): apply(targets[index].cache.install(install, now: clock), at: index)
                case .fullState(let state): apply(targets[index].cache.fullState(state, now: clock), at: index)
                case .sequenceBlockGrant(let grant): apply(targets[index].cache.received(grant, now: clock), at: index)
                case .nack(let nack) where nack.reason == .windowFull: targets[index].retryDue = true
                default: break
                }
            }
        }

        /// The kernel sends one packet on the shared SA: the hard limit is checked first.
        mutating func send(_ index: Int, saID: ClusterSAID) {
            guard let block = targets[index].block else { return }
            guard targets[index].packets < block.count else {
                targets[index].block = nil
                return apply(targets[index].cache.hardPacketLimitReached(saID), at: index)
            }
            let number = block.first + targets[index].packets
            if let earlier = sent[number] { XCTFail("\(number) sent by \(targets[index].node), already by \(earlier)") }
            sent[number] = targets[index].node
            targets[index].packets += 1
            if targets[index].packets == block.count / 2 { apply(targets[index].cache.softPacketLimitReached(saID), at: index) }
        }
    }

    private func lab(installTimeout: Duration) -> Lab {
        var lab = Lab(authority: SAAuthority(epoch: Fixture.epoch, configuration: .init(
            membership: .init(failureTimeout: .seconds(1000)), installTimeout: installTimeout,
            outboundMode: .shared(blockSize: blockSize, peerReplayWindow: 2 * blockSize))),
                      targets: [Target(node: t1), Target(node: t2)])
        for node in [t1, t2] {
            lab.route(lab.authority.receivedHello(.init(nodeID: node, clusterAddress: .v4(10, 0, 0, 1), capabilities: [],
                                                        maximumReplayWindow: 4096, incarnation: 1, heldEpoch: .none), now: lab.clock))
        }
        lab.handle(0)
        lab.handle(1)
        return lab
    }

    /// 25 s in 50 ms steps: each target sends 5 packets a second once it has a block, retries
    /// a window-full Nack at the next step; the routing node's timer runs.
    private func run(_ lab: inout Lab) {
        for step in 1...500 {
            lab.clock = lab.clock + .milliseconds(50)
            for index in lab.targets.indices where lab.targets[index].retryDue {
                lab.targets[index].retryDue = false
                lab.apply(lab.targets[index].cache.retrySequenceBlock(saID), at: index)
            }
            if step % 4 == 0 { for index in lab.targets.indices { lab.send(index, saID: saID) } }
            for index in lab.targets.indices { lab.handle(index) }
            lab.route(lab.authority.tick(now: lab.clock))
            for index in lab.targets.indices { lab.handle(index) }
        }
    }

    /// The order of the lab's sa#6: t2 handles the InstallSA first and gets its first block
    /// and its block in hand before t1's first request arrives. A target acknowledges a shared
    /// SA only once its first block is in the kernel, so t1 must get one before the install
    /// timeout.
    func testATargetWhoseFirstRequestComesLastStillInstallsTheSharedSA() {
        var lab = lab(installTimeout: .seconds(20))
        let token = IKEResponseToken(1)
        lab.route(lab.authority.childSANegotiated([Fixture.sa(saID.rawValue, direction: .outbound, sequencing: .shared(blockSize: blockSize))],
                                                  response: token, now: lab.clock))
        lab.handle(1)   // t2 first: its first block, then its request for a block in hand
        lab.handle(0)   // then t1's first request
        run(&lab)
        XCTAssertEqual(lab.drops, [], "no target misses the install timeout")
        XCTAssertEqual(lab.authority.holders(of: saID), [t1, t2])
        XCTAssertEqual(lab.authority.heldResponses, [], "the response went out")
        XCTAssertTrue(lab.sent.values.contains(t1), "t1 sent on its own block")
        XCTAssertTrue(lab.sent.values.contains(t2))
    }

    /// The lab's other shared SAs (sa#2, sa#4, sa#10...): each target got one block and never
    /// another, since a block its kernel used up still held half the window. Both must keep
    /// sending: 25 s at 5 packets a second is about 8 blocks each.
    func testTwoTargetsKeepSendingWhenEachHoldsHalfTheWindow() {
        var lab = lab(installTimeout: .seconds(20))
        lab.route(lab.authority.childSANegotiated([Fixture.sa(saID.rawValue, direction: .outbound, sequencing: .shared(blockSize: blockSize))],
                                                  response: nil, now: lab.clock))
        lab.handle(0)
        lab.handle(1)
        run(&lab)
        XCTAssertEqual(lab.drops, [])
        for target in [t1, t2] {
            let sent = lab.sent.values.filter { $0 == target }.count
            XCTAssertGreaterThan(sent, 4 * Int(blockSize), "\(target) sent \(sent)")
        }
    }
}
