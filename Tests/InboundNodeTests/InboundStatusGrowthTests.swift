import Cluster
import ClusterNode
import Inbound
@testable import InboundNode
import NetfilterQueue
import Secrets
import XCTest

/// Issue 20: the status the distributor's first worker publishes every second, and after each
/// update and each batch of flow ends, inside the lock the NFQUEUE workers share, holds no
/// per-SA part: its size (entries made) is the same with 100,000 SAs as with 1,000. The per-SA
/// part (window tops, SAs being verified) is made when the status is read.
final class InboundStatusGrowthTests: XCTestCase {
    let dvipa = InboundAddress.v4(192, 0, 2, 100)
    let targets = try! ["t1", "t2"].map { try NodeID($0) }

    func classifier(holding count: Int) throws -> InboundClassifier {
        var classifier = InboundClassifier(peekers: NullPeekerFactory())
        for (i, id) in targets.enumerated() {
            try classifier.upsertTarget(InboundTarget(id: id, directMark: 0x101 + UInt32(i), encapsulatedMark: 0x201 + UInt32(i)))
        }
        for n in 0..<count {
            try classifier.addSA(InboundSA(spi: 0x1000_0000 + UInt32(n), destination: dvipa, suite: .null(integrity: .hmacSHA256_128),
                                           encryptionKey: SecretBytes([]), mode: .tunnel, remoteSelectors: [], localSelectors: [],
                                           lineage: SALineageID(UInt32(n + 1)), holders: targets, replayWindowSize: 64),
                                 now: ClusterInstant(nanoseconds: 1_000_000_000))
        }
        return classifier
    }

    static func entries(_ status: InboundStatus) -> Int {
        status.dropped.count + status.local.count + status.placements.count + status.flowEnds.count + status.flowsPerTarget.count
            + status.perQueue.count + status.queueCounters.count + status.windowTops.count + status.verifyingSAs.count
    }

    func testThePublishedStatusIsTheSameSizeAt100000SAsAsAt1000AndTheReadOneHasEverySA() throws {
        var sizes: [Int] = []
        for count in [1_000, 100_000] {
            var classifier = try classifier(holding: count)
            XCTAssertTrue(classifier.authenticated(destination: dvipa, spi: 0x1000_0007, top: 500, bitmap: [1]))
            let published = InboundDistributor.status(classifier, queues: [(0, NFQueueCounters())], mode: .direct,
                                                      evidence: 1, evidenceLost: 0)
            XCTAssertEqual(published.sas, count)
            XCTAssertEqual(published.windowTops, [:], "no per-SA part in what is published per event")
            sizes.append(Self.entries(published))
            let read = InboundDistributor.withSADetails(published, classifier, now: ClusterInstant(nanoseconds: 2_000_000_000))
            XCTAssertEqual(read.windowTops.count, count, "every SA's top when read")
            XCTAssertEqual(read.windowTops[SADescription.spiText(0x1000_0007)], 500)
            XCTAssertEqual(read.windowTops[SADescription.spiText(0x1000_0008)], 0)
            XCTAssertEqual(read.verifyingSAs, [], "verify = never: none")
            XCTAssertEqual(read.forwarded, published.forwarded)
        }
        XCTAssertEqual(sizes[0], sizes[1], "entries in the published status: \(sizes[0]) at 1,000 SAs, \(sizes[1]) at 100,000")
        XCTAssertGreaterThan(sizes[0], 0)
    }
}
