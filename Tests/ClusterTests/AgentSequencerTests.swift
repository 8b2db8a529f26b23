import XCTest
@testable import Cluster

final class AgentSequencerTests: XCTestCase {
    private let sa = ClusterSAID(2)

    private func grant(_ first: UInt64, _ last: UInt64) -> ClusterMessage.SequenceBlockGrant {
        .init(saID: sa, block: try! SequenceBlock(first: first, last: last), softPacketLimit: (last - first + 1) / 2)
    }

    private func request(_ first: UInt64) -> AgentSequencer.Effect {
        .request(.init(saID: sa, currentBlockFirst: first))
    }

    func testStepsOfTheFence() {
        var sequencer = AgentSequencer()
        XCTAssertEqual(sequencer.installRequested(sa), [request(0)])
        XCTAssertNil(sequencer.currentBlock(of: sa), "nothing in the kernel before the first block")
        XCTAssertEqual(sequencer.softLimitReached(sa), [], "no state, no soft expiry to act on")
        XCTAssertEqual(sequencer.received(grant(1, 100)), [.addState(sa, grant(1, 100)), request(1)], "added, next one asked for")
        XCTAssertEqual(sequencer.received(grant(1, 100)), [], "a resend of the block in use changes nothing")
        XCTAssertEqual(sequencer.received(grant(301, 400)), [], "kept in hand")
        XCTAssertEqual(sequencer.nextBlock(of: sa)?.first, 301)
        XCTAssertEqual(sequencer.received(grant(301, 400)), [], "a resend of the block in hand changes nothing")
        XCTAssertEqual(sequencer.retry(sa), [], "a block in hand: nothing to retry")
        // Soft expiry: move to the block in hand at once, ask for the one after.
        XCTAssertEqual(sequencer.softLimitReached(sa), [.switchBlock(sa, grant(301, 400)), request(301)])
        XCTAssertEqual(sequencer.currentBlock(of: sa)?.first, 301)
        XCTAssertNil(sequencer.nextBlock(of: sa))
        // Hard expiry with no block in hand: ask, naming the number after the used-up block
        // (the routing node retires it); the grant re-adds the state.
        XCTAssertEqual(sequencer.hardLimitReached(sa), [request(401)])
        XCTAssertNil(sequencer.currentBlock(of: sa))
        XCTAssertEqual(sequencer.retry(sa), [request(401)])
        XCTAssertEqual(sequencer.received(grant(501, 600)), [.addState(sa, grant(501, 600)), request(501)], "re-added, not NEWAE")
        // Soft expiry before the next grant came: ask again, switch as soon as it comes.
        XCTAssertEqual(sequencer.softLimitReached(sa), [request(501)])
        XCTAssertEqual(sequencer.received(grant(601, 700)), [.switchBlock(sa, grant(601, 700)), request(601)])
        // Hard expiry with a block in hand: added with it at once.
        XCTAssertEqual(sequencer.received(grant(701, 800)), [])
        XCTAssertEqual(sequencer.hardLimitReached(sa), [.addState(sa, grant(701, 800)), request(701)])
        XCTAssertEqual(sequencer.currentBlock(of: sa)?.first, 701)
        XCTAssertEqual(sequencer.received(grant(650, 660)), [], "a block below the current one is never used")
        sequencer.removed(sa)
        XCTAssertEqual(sequencer.received(grant(901, 1000)), [], "grants for unknown SAs are ignored")
        XCTAssertEqual(sequencer.hardLimitReached(sa), [])
    }

    func testShadowCacheInstallsASharedSAOnlyWithItsFirstBlock() {
        var cache = AgentShadowCache(grace: .seconds(10))
        let now = ClusterInstant(nanoseconds: 1)
        _ = cache.welcomed(.init(epoch: Fixture.epoch, heartbeatIntervalMilliseconds: 1, failureTimeoutMilliseconds: 1), now: now)
        let shared = Fixture.sa(2, direction: .outbound, sequencing: .shared(blockSize: 100))
        XCTAssertEqual(cache.install(.init(sa: shared), now: now),
                       [.reply(.sequenceBlockRequest(.init(saID: sa, currentBlockFirst: 0)))])
        // Resent while still waiting for the block: ask again, do not ack.
        XCTAssertEqual(cache.install(.init(sa: shared), now: now),
                       [.reply(.sequenceBlockRequest(.init(saID: sa, currentBlockFirst: 0)))])
        XCTAssertEqual(cache.received(grant(1, 100), now: now), [.installInKernel(shared, block: grant(1, 100)),
                                                                 .reply(.sequenceBlockRequest(.init(saID: sa, currentBlockFirst: 1)))])
        // Resent once in the kernel (a reconnect's resync): ack, keep the state and block.
        XCTAssertEqual(cache.install(.init(sa: shared), now: now), [.reply(.ack(.init(saID: sa, operation: .installSA)))])
        XCTAssertEqual(cache.sequencer.currentBlock(of: sa)?.first, 1)
        XCTAssertEqual(cache.received(grant(101, 200), now: now), [], "the next block is kept in hand")
        XCTAssertEqual(cache.softPacketLimitReached(sa), [.switchSequenceBlock(shared, grant(101, 200)),
                                                          .reply(.sequenceBlockRequest(.init(saID: sa, currentBlockFirst: 101)))])
        // Deleted: later grants and expiries are ignored.
        _ = cache.delete(.init(saID: sa, epoch: Fixture.epoch), now: now)
        XCTAssertEqual(cache.received(grant(201, 300), now: now), [])
        XCTAssertEqual(cache.hardPacketLimitReached(sa), [])
    }
}
