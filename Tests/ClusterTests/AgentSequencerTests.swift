import XCTest
@testable import Cluster

final class AgentSequencerTests: XCTestCase {
    private let sa = ClusterSAID(2)

    private func grant(_ first: UInt64, _ last: UInt64) -> ClusterMessage.SequenceBlockGrant {
        .init(saID: sa, block: try! SequenceBlock(first: first, last: last), softPacketLimit: (last - first + 1) / 2)
    }

    func testStepsOfTheFence() {
        var sequencer = AgentSequencer()
        XCTAssertEqual(sequencer.installRequested(sa), [.request(.init(saID: sa, currentBlockFirst: 0))])
        XCTAssertNil(sequencer.currentBlock(of: sa), "nothing in the kernel before the first block")
        XCTAssertEqual(sequencer.softLimitReached(sa), [], "no state, no soft expiry to act on")
        XCTAssertEqual(sequencer.received(grant(1, 100)), [.addState(sa, grant(1, 100))])
        XCTAssertEqual(sequencer.received(grant(1, 100)), [], "a resend of the block in use changes nothing")
        XCTAssertEqual(sequencer.softLimitReached(sa), [.request(.init(saID: sa, currentBlockFirst: 1))])
        XCTAssertEqual(sequencer.received(grant(301, 400)), [.switchBlock(sa, grant(301, 400))])
        XCTAssertEqual(sequencer.currentBlock(of: sa)?.first, 301)
        // Too slow for the next block: the kernel expired the state.
        XCTAssertEqual(sequencer.hardLimitReached(sa), [.request(.init(saID: sa, currentBlockFirst: 301))])
        XCTAssertNil(sequencer.currentBlock(of: sa))
        XCTAssertEqual(sequencer.retry(sa), [.request(.init(saID: sa, currentBlockFirst: 301))])
        XCTAssertEqual(sequencer.received(grant(501, 600)), [.addState(sa, grant(501, 600))], "re-added, not NEWAE")
        sequencer.removed(sa)
        XCTAssertEqual(sequencer.received(grant(701, 800)), [], "grants for unknown SAs are ignored")
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
        XCTAssertEqual(cache.received(grant(1, 100), now: now), [.installInKernel(shared, block: grant(1, 100))])
        // Resent once in the kernel (a reconnect's resync): ack, keep the state and block.
        XCTAssertEqual(cache.install(.init(sa: shared), now: now), [.reply(.ack(.init(saID: sa, operation: .installSA)))])
        XCTAssertEqual(cache.sequencer.currentBlock(of: sa)?.first, 1)
        XCTAssertEqual(cache.softPacketLimitReached(sa), [.reply(.sequenceBlockRequest(.init(saID: sa, currentBlockFirst: 1)))])
        XCTAssertEqual(cache.received(grant(101, 200), now: now), [.switchSequenceBlock(shared, grant(101, 200))])
        // Deleted: later grants and expiries are ignored.
        _ = cache.delete(.init(saID: sa, epoch: Fixture.epoch), now: now)
        XCTAssertEqual(cache.received(grant(201, 300), now: now), [])
        XCTAssertEqual(cache.hardPacketLimitReached(sa), [])
    }
}
