import XCTest
@testable import Cluster

final class SequenceBlockAllocatorTests: XCTestCase {
    private let t1 = Fixture.node("t1"), t2 = Fixture.node("t2"), t3 = Fixture.node("t3")
    private let now = ClusterInstant(nanoseconds: 1_000)

    private func allocator(block: UInt64 = 100, window: UInt64 = 1000, esn: Bool = false,
                           idle: Duration? = nil) throws -> SequenceBlockAllocator {
        try SequenceBlockAllocator(configuration: .init(blockSize: block, peerReplayWindow: window,
                                                        extendedSequenceNumbers: esn, maximumIdle: idle))
    }

    private func block(_ first: UInt64, _ last: UInt64) -> SequenceBlock { try! SequenceBlock(first: first, last: last) }

    func testBlocksAreDisjointAndStartAtOne() throws {
        var allocator = try allocator()
        XCTAssertEqual(allocator.request(from: t1, incarnation: 1, currentBlockFirst: 0, now: now), .granted(block(1, 100)))
        XCTAssertEqual(allocator.request(from: t2, incarnation: 1, currentBlockFirst: 0, now: now), .granted(block(101, 200)))
        XCTAssertEqual(allocator.request(from: t1, incarnation: 1, currentBlockFirst: 1, now: now), .granted(block(201, 300)))
        XCTAssertEqual(allocator.highWaterMark, 300)
    }

    func testLostGrantIsResentToTheSameAgentOnly() throws {
        var allocator = try allocator()
        XCTAssertEqual(allocator.request(from: t1, incarnation: 1, currentBlockFirst: 0, now: now), .granted(block(1, 100)))
        // t1 never got it and asks again: the same block, nothing new cut.
        XCTAssertEqual(allocator.request(from: t1, incarnation: 1, currentBlockFirst: 0, now: now), .resent(block(1, 100)))
        XCTAssertEqual(allocator.highWaterMark, 100)
        // t2 asking gets a different block.
        XCTAssertEqual(allocator.request(from: t2, incarnation: 1, currentBlockFirst: 0, now: now), .granted(block(101, 200)))
        // t1 uses 1...100, got 201...300 as its next, asks again before switching: resent.
        XCTAssertEqual(allocator.request(from: t1, incarnation: 1, currentBlockFirst: 1, now: now), .granted(block(201, 300)))
        XCTAssertEqual(allocator.request(from: t1, incarnation: 1, currentBlockFirst: 1, now: now), .resent(block(201, 300)))
    }

    func testNewIncarnationGetsAFreshBlockWithoutAbandon() throws {
        var allocator = try allocator()
        XCTAssertEqual(allocator.request(from: t1, incarnation: 1, currentBlockFirst: 0, now: now), .granted(block(1, 100)))
        // The agent restarted (new incarnation) before using it: not resent, a fresh block.
        XCTAssertEqual(allocator.request(from: t1, incarnation: 2, currentBlockFirst: 0, now: now), .granted(block(101, 200)))
        XCTAssertEqual(allocator.outstanding[t1], [block(101, 200)])
    }

    func testRestartedAgentNeverGetsItsOldBlockBack() throws {
        var allocator = try allocator()
        XCTAssertEqual(allocator.request(from: t1, incarnation: 1, currentBlockFirst: 0, now: now), .granted(block(1, 100)))
        allocator.abandon(t1)  // crashed before using it
        XCTAssertEqual(allocator.request(from: t1, incarnation: 1, currentBlockFirst: 0, now: now), .granted(block(101, 200)))
        allocator.abandon(t1)
        XCTAssertEqual(allocator.request(from: t2, incarnation: 1, currentBlockFirst: 0, now: now), .granted(block(201, 300)))
        XCTAssertNil(allocator.outstanding[t1])
    }

    func testBlocksInFlightStayInsideThePeersReplayWindow() throws {
        var allocator = try allocator(block: 100, window: 300)
        XCTAssertEqual(allocator.request(from: t1, incarnation: 1, currentBlockFirst: 0, now: now), .granted(block(1, 100)))
        XCTAssertEqual(allocator.request(from: t2, incarnation: 1, currentBlockFirst: 0, now: now), .granted(block(101, 200)))
        XCTAssertEqual(allocator.request(from: t3, incarnation: 1, currentBlockFirst: 0, now: now), .granted(block(201, 300)))
        // 1...400 would span 400 > 300 numbers while t1 still holds 1...100.
        XCTAssertEqual(allocator.request(from: t2, incarnation: 1, currentBlockFirst: 101, now: now), .deferred)
        XCTAssertEqual(allocator.highWaterMark, 300)
        // Once t1 is gone (dead: its unused numbers are lost) the window frees up.
        allocator.abandon(t1)
        XCTAssertEqual(allocator.request(from: t2, incarnation: 1, currentBlockFirst: 101, now: now), .granted(block(301, 400)))
        // t3 (201...300) and t2 (101...200, 301...400): 501 - 101 is too wide.
        XCTAssertEqual(allocator.request(from: t3, incarnation: 1, currentBlockFirst: 201, now: now), .deferred)
        // t2 switches to 301: 101...200 retires; t3's 201...300 is the lowest, 401...500 fits.
        XCTAssertEqual(allocator.request(from: t2, incarnation: 1, currentBlockFirst: 301, now: now), .granted(block(401, 500)))
        XCTAssertEqual(allocator.outstanding[t2], [block(301, 400), block(401, 500)])
        XCTAssertEqual(allocator.request(from: t3, incarnation: 1, currentBlockFirst: 201, now: now), .deferred)
    }

    func testABlockInHandWaitsWhileAnotherSenderHasNoFirstBlock() throws {
        var allocator = try allocator(block: 100, window: 200)
        let installing: Set = [t1, t2]
        XCTAssertEqual(allocator.request(from: t2, incarnation: 1, currentBlockFirst: 0, installing: installing, now: now), .granted(block(1, 100)))
        // t2's block in hand would fill the window while t1 has none yet.
        XCTAssertEqual(allocator.request(from: t2, incarnation: 1, currentBlockFirst: 1, installing: installing, now: now), .deferred)
        XCTAssertEqual(allocator.request(from: t1, incarnation: 1, currentBlockFirst: 0, installing: installing, now: now), .granted(block(101, 200)))
        // With t1 no longer installing (it acknowledged, left, or never was a target) t2 gets its block in hand.
        var alone = try self.allocator(block: 100, window: 200)
        _ = alone.request(from: t2, incarnation: 1, currentBlockFirst: 0, installing: [t2], now: now)
        XCTAssertEqual(alone.request(from: t2, incarnation: 1, currentBlockFirst: 1, installing: [t2], now: now), .granted(block(101, 200)))
        // In a wider window the block in hand fits beside the room kept for t1.
        var wide = try self.allocator(block: 100, window: 300)
        _ = wide.request(from: t2, incarnation: 1, currentBlockFirst: 0, installing: installing, now: now)
        XCTAssertEqual(wide.request(from: t2, incarnation: 1, currentBlockFirst: 1, installing: installing, now: now),
                       .granted(block(101, 200)))
        XCTAssertEqual(wide.request(from: t2, incarnation: 1, currentBlockFirst: 1, installing: installing, now: now), .resent(block(101, 200)))
        XCTAssertEqual(wide.request(from: t1, incarnation: 1, currentBlockFirst: 0, installing: installing, now: now), .granted(block(201, 300)))
    }

    func testABlockTheKernelUsedUpIsRetiredByNamingTheNumberAfterIt() throws {
        var allocator = try allocator(block: 100, window: 200)
        XCTAssertEqual(allocator.request(from: t1, incarnation: 1, currentBlockFirst: 0, now: now), .granted(block(1, 100)))
        XCTAssertEqual(allocator.request(from: t2, incarnation: 1, currentBlockFirst: 0, now: now), .granted(block(101, 200)))
        // Both at their soft limit: no room for a block in hand.
        XCTAssertEqual(allocator.request(from: t1, incarnation: 1, currentBlockFirst: 1, now: now), .deferred)
        XCTAssertEqual(allocator.request(from: t2, incarnation: 1, currentBlockFirst: 101, now: now), .deferred)
        // t1's kernel expired 1...100 (hard limit): it names 101, the block retires, t1 gets the room.
        XCTAssertEqual(allocator.request(from: t1, incarnation: 1, currentBlockFirst: 101, now: now), .granted(block(201, 300)))
        XCTAssertEqual(allocator.outstanding[t1], [block(201, 300)])
        XCTAssertEqual(allocator.request(from: t2, incarnation: 1, currentBlockFirst: 201, now: now), .granted(block(301, 400)))
        XCTAssertEqual(allocator.outstanding[t2], [block(301, 400)])
        // Naming a number below what an agent holds retires nothing and resends nothing used.
        XCTAssertEqual(allocator.request(from: t2, incarnation: 1, currentBlockFirst: 101, now: now), .resent(block(301, 400)))
        XCTAssertEqual(allocator.highWaterMark, 400)
    }

    func testIdleAgentStopsHoldingTheWindowBack() throws {
        var allocator = try allocator(block: 100, window: 200, idle: .seconds(5))
        XCTAssertEqual(allocator.request(from: t1, incarnation: 1, currentBlockFirst: 0, now: now), .granted(block(1, 100)))
        XCTAssertEqual(allocator.request(from: t2, incarnation: 1, currentBlockFirst: 0, now: now), .granted(block(101, 200)))
        XCTAssertEqual(allocator.request(from: t2, incarnation: 1, currentBlockFirst: 101, now: now + .seconds(1)), .deferred)
        XCTAssertEqual(allocator.request(from: t2, incarnation: 1, currentBlockFirst: 101, now: now + .seconds(6)), .granted(block(201, 300)))
    }

    func testThirtyTwoBitSpaceIsExhaustedWithRekeyAdvisedFirst() throws {
        let size: UInt64 = 1 << 30
        var allocator = try SequenceBlockAllocator(configuration: .init(
            blockSize: size, peerReplayWindow: 1 << 31, extendedSequenceNumbers: false, rekeyMargin: size + 1))
        for index in 0..<3 {
            guard case .granted(let block) = allocator.request(from: t1, incarnation: 1, currentBlockFirst: 0, now: now) else {
                return XCTFail("grant \(index)")
            }
            XCTAssertEqual(block.first, UInt64(index) * size + 1)
            XCTAssertEqual(allocator.rekeyAdvised, index == 2, "after grant \(index)")
            allocator.abandon(t1)
        }
        // 3 * 2^30 granted; 2^30 - 1 numbers remain, less than a block.
        XCTAssertEqual(allocator.request(from: t1, incarnation: 1, currentBlockFirst: 0, now: now), .exhausted)
        XCTAssertEqual(allocator.highWaterMark, 3 * size)
        XCTAssertLessThanOrEqual(allocator.highWaterMark, UInt64(UInt32.max))
    }

    func testESNSpaceEndsAtTwoToTheSixtyFour() throws {
        let size: UInt64 = 1 << 62
        var allocator = try SequenceBlockAllocator(configuration: .init(
            blockSize: size, peerReplayWindow: 1 << 63, extendedSequenceNumbers: true))
        for _ in 0..<3 {
            guard case .granted = allocator.request(from: t1, incarnation: 1, currentBlockFirst: 0, now: now) else { return XCTFail("grant") }
            allocator.abandon(t1)
        }
        XCTAssertEqual(allocator.request(from: t1, incarnation: 1, currentBlockFirst: 0, now: now), .exhausted)
        XCTAssertTrue(allocator.rekeyAdvised)
        // The same sizes without ESN fail at the first request.
        var narrow = try SequenceBlockAllocator(configuration: .init(blockSize: size, peerReplayWindow: 1 << 63, extendedSequenceNumbers: false))
        XCTAssertEqual(narrow.request(from: t1, incarnation: 1, currentBlockFirst: 0, now: now), .exhausted)
    }

    func testConfigurationIsChecked() {
        XCTAssertThrowsError(try allocator(block: 0)) { XCTAssertEqual($0 as? SequenceBlockAllocator.ConfigurationError, .blockSizeZero) }
        XCTAssertThrowsError(try allocator(block: 600, window: 1000)) {
            XCTAssertEqual($0 as? SequenceBlockAllocator.ConfigurationError, .blockTooLargeForWindow(blockSize: 600, window: 1000))
        }
        XCTAssertThrowsError(try SequenceBlockAllocator(configuration: .init(blockSize: 10, peerReplayWindow: 100,
                                                                             extendedSequenceNumbers: false, softPacketLimit: 11)))
        XCTAssertNoThrow(try allocator(block: 2048, window: 4096))
    }

    /// N agents send, ask for blocks, switch, crash and restart at random; each agent's
    /// kernel is modelled with the hard fence (at most `blockSize` packets per block after a
    /// switch). Asserts: no number is granted twice, no number is ever sent twice, resends
    /// go to the holder only, and the blocks held always fit the peer's window.
    func testRandomizedAgentsNeverShareANumber() throws {
        struct Agent {
            var incarnation: UInt64 = 0
            var current: SequenceBlock?
            var sentInCurrent: UInt64 = 0
            var next: SequenceBlock?
            var alive = true
        }
        for seed in UInt64(1)...20 {
            var generator = SeededGenerator(seed: seed)
            let blockSize = UInt64.random(in: 1...64, using: &generator)
            let window = blockSize * UInt64.random(in: 2...8, using: &generator)
            var allocator = try SequenceBlockAllocator(configuration: .init(blockSize: blockSize, peerReplayWindow: window,
                                                                            extendedSequenceNumbers: false))
            let nodes = (0..<Int.random(in: 2...6, using: &generator)).map { Fixture.node("t\($0)") }
            var agents = Dictionary(uniqueKeysWithValues: nodes.map { ($0, Agent()) })
            var granted: [SequenceBlock] = []
            var owner: [UInt64: NodeID] = [:]      // block first -> the agent it was granted to
            var sent = Set<UInt64>()
            var clock = ClusterInstant.zero
            for _ in 0..<3000 {
                clock = clock + .milliseconds(1)
                let node = nodes[Int.random(in: 0..<nodes.count, using: &generator)]
                guard var agent = agents[node] else { continue }
                switch Int.random(in: 0..<10, using: &generator) {
                case 0:  // crash: the kernel SA and all agent state are gone; noticed or not
                    if Bool.random(using: &generator) { allocator.abandon(node) }
                    agent = Agent(incarnation: agent.incarnation, alive: false)
                case 1:  // restart, the routing node may or may not have noticed the crash
                    agent = Agent(incarnation: generator.next())
                case 2...5 where agent.alive:  // send a burst; the fence stops at the block's end
                    if let block = agent.current {
                        let burst = UInt64.random(in: 1...blockSize, using: &generator)
                        let allowed = min(burst, block.count - agent.sentInCurrent)
                        for offset in 0..<allowed {
                            let number = block.first + agent.sentInCurrent + offset
                            XCTAssertTrue(sent.insert(number).inserted, "seed \(seed): \(number) sent twice")
                            XCTAssertTrue(block.first...block.last ~= number)
                        }
                        agent.sentInCurrent += allowed
                    }
                case 6...7 where agent.alive:  // ask for the next block
                    let decision = allocator.request(from: node, incarnation: agent.incarnation,
                                                     currentBlockFirst: agent.current?.first ?? 0, now: clock)
                    switch decision {
                    case .granted(let block):
                        XCTAssertFalse(granted.contains { $0.overlaps(block) }, "seed \(seed): \(block) overlaps")
                        XCTAssertEqual(block.count, blockSize)
                        granted.append(block)
                        owner[block.first] = node
                        agent.next = block
                    case .resent(let block):
                        XCTAssertEqual(owner[block.first], node, "seed \(seed): resent another agent's block")
                        agent.next = block
                    case .deferred, .exhausted:
                        break
                    }
                    let held = allocator.outstanding.values.flatMap { $0 }
                    if let low = held.map(\.first).min(), let high = held.map(\.last).max() {
                        XCTAssertLessThan(high - low, window, "seed \(seed): blocks held span beyond the window")
                    }
                case 8...9 where agent.alive:  // switch (XFRM_MSG_NEWAE: oseq = first - 1, packets = 0)
                    if let next = agent.next {
                        agent.current = next
                        agent.next = nil
                        agent.sentInCurrent = 0
                    }
                default:
                    break
                }
                agents[node] = agent
            }
            XCTAssertGreaterThan(sent.count, 0, "seed \(seed): the simulation sent nothing")
            XCTAssertGreaterThan(granted.count, nodes.count, "seed \(seed): too few grants to mean anything")
        }
    }
}
