import Cluster
import ClusterNode
import Inbound
@testable import InboundNode
import NetfilterQueue
import XCTest

/// The distributor's pure parts: SA mapping, the planner (snapshot → steps), the mailbox, the status.
final class InboundNodeTests: XCTestCase {
    let dvipa = IPAddress.v4(192, 0, 2, 100)
    let peer = IPAddress.v4(198, 51, 100, 1)

    func node(_ name: String) -> NodeID { try! NodeID(name) }

    func gcm(spi: UInt32 = 0xC000_0001, direction: SADirection = .inbound, id: UInt64 = 1, reqid: UInt32 = 7) -> SADescription {
        SADescription(saID: ClusterSAID(id), epoch: ClusterEpoch(rawValue: 1), spi: spi, direction: direction,
                      source: peer, destination: dvipa,
                      algorithms: [SAAlgorithm(kind: .aead, name: "rfc4106(gcm(aes))", key: SecretBytes([UInt8](repeating: 1, count: 36)), bits: 128)],
                      selectors: [SASelector(source: .v4(10, 1, 0, 0), sourcePrefixLength: 24, destination: dvipa, destinationPrefixLength: 32)],
                      reqid: reqid)
    }

    // MARK: Mapping

    func testGCMInboundMapsWithSelectorsAndLineage() throws {
        let sa = try XCTUnwrap(InboundSAMapping.inboundSA(gcm(), holders: [node("t2"), node("t1")]))
        XCTAssertEqual(sa.suite, .aesGCM16(keyLength: 32))
        XCTAssertEqual(sa.spi, 0xC000_0001)
        XCTAssertEqual(sa.destination, InboundAddress(dvipa))
        XCTAssertEqual(sa.lineage, SALineageID(7))
        XCTAssertEqual(sa.holders, [node("t1"), node("t2")])
        XCTAssertEqual(sa.remoteSelectors, [InboundTrafficSelector(prefix: .v4(10, 1, 0, 0), length: 24)])
        XCTAssertEqual(sa.localSelectors, [InboundTrafficSelector(prefix: InboundAddress(dvipa), length: 32)])
        XCTAssertEqual(sa.encryptionKey.count, 36)
        XCTAssertEqual(sa.mode, .tunnel)
    }

    func testSuites() {
        let key16 = SecretBytes([UInt8](repeating: 2, count: 16))
        XCTAssertEqual(InboundSAMapping.suite([SAAlgorithm(kind: .encryption, name: "cbc(aes)", key: key16, bits: 0),
                                               SAAlgorithm(kind: .integrity, name: "hmac(sha256)", key: key16, bits: 128)]),
                       .aesCBC(keyLength: 16, integrity: .hmacSHA256_128))
        XCTAssertEqual(InboundSAMapping.suite([SAAlgorithm(kind: .aead, name: "rfc7539esp(chacha20,poly1305)",
                                                           key: SecretBytes([UInt8](repeating: 3, count: 36)), bits: 128)]),
                       .chacha20Poly1305)
        XCTAssertNil(InboundSAMapping.suite([SAAlgorithm(kind: .aead, name: "rfc4106(gcm(aes))", key: key16, bits: 128)]))  // no salt room
        XCTAssertNil(InboundSAMapping.suite([SAAlgorithm(kind: .encryption, name: "cbc(aes)", key: key16, bits: 0)]))  // no integrity
        XCTAssertNil(InboundSAMapping.suite([SAAlgorithm(kind: .aead, name: "rfc4309(ccm(aes))",
                                                         key: SecretBytes([UInt8](repeating: 3, count: 19)), bits: 128)]))
    }

    func testOutboundSAsAreNotTheClassifiers() {
        XCTAssertNil(InboundSAMapping.inboundSA(gcm(direction: .outbound), holders: []))
    }

    // MARK: Planner

    func snapshot(_ members: [String: IPAddress], _ sas: [(SADescription, [String])] = []) -> ClusterStateSnapshot {
        var result = ClusterStateSnapshot()
        for (name, address) in members { result.members[node(name)] = address }
        for (sa, holders) in sas { result.inboundSAs[sa.saID] = .init(description: sa, holders: Set(holders.map(node))) }
        return result
    }

    func testJoinsSAsHoldersAndLeaves() {
        var planner = InboundPlanner()
        let a = IPAddress.v4(10, 0, 0, 11), b = IPAddress.v4(10, 0, 0, 12)
        let m0 = InboundPlanner.firstMark
        XCTAssertEqual(planner.steps(to: snapshot(["t1": a])), [.addTarget(node("t1"), mark: m0, gateway: a)])
        XCTAssertEqual(planner.steps(to: snapshot(["t1": a, "t2": b], [(gcm(), [])])),
                       [.addTarget(node("t2"), mark: m0 + 1, gateway: b), .addSA(ClusterSAID(1))])
        XCTAssertEqual(planner.sas[ClusterSAID(1)]?.holders, [])
        XCTAssertEqual(planner.steps(to: snapshot(["t1": a, "t2": b], [(gcm(), ["t2", "t1"])])),
                       [.setHolders(ClusterSAID(1), [node("t1"), node("t2")])])
        XCTAssertEqual(planner.steps(to: snapshot(["t1": a, "t2": b], [(gcm(), ["t2", "t1"])])), [], "no change, no step")
        // t1 leaves (its holder entry goes with it), the SA is deleted.
        XCTAssertEqual(planner.steps(to: snapshot(["t2": b], [(gcm(), ["t2"])])),
                       [.removeTarget(node("t1"), mark: m0, gateway: a), .setHolders(ClusterSAID(1), [node("t2")])])
        XCTAssertEqual(planner.steps(to: snapshot(["t2": b])),
                       [.removeSA(ClusterSAID(1), destination: InboundAddress(dvipa), spi: 0xC000_0001)])
        // A newcomer reuses the freed mark.
        XCTAssertEqual(planner.steps(to: snapshot(["t2": b, "t3": a])), [.addTarget(node("t3"), mark: m0, gateway: a)])
    }

    func testHoldersThatAreNotTargetsAreLeftOut() {
        var planner = InboundPlanner()
        let a = IPAddress.v4(10, 0, 0, 11)
        _ = planner.steps(to: snapshot(["t1": a], [(gcm(), ["t1", "ghost"])]))
        XCTAssertEqual(planner.sas[ClusterSAID(1)]?.holders, [node("t1")])
    }

    func testReaddressedTargetIsRemovedBeforeItIsAddedAgain() {
        var planner = InboundPlanner()
        let a = IPAddress.v4(10, 0, 0, 11), b = IPAddress.v4(10, 0, 0, 99)
        _ = planner.steps(to: snapshot(["t1": a]))
        XCTAssertEqual(planner.steps(to: snapshot(["t1": b])),
                       [.removeTarget(node("t1"), mark: InboundPlanner.firstMark, gateway: a),
                        .addTarget(node("t1"), mark: InboundPlanner.firstMark, gateway: b)])
    }

    // MARK: Mailbox

    func testMailboxKeepsTheNewestSnapshotOnly() {
        let mailbox = InboundMailbox()
        XCTAssertNil(mailbox.take())
        mailbox.post(.full(snapshot(["t1": .v4(10, 0, 0, 1)])))
        mailbox.post(.full(snapshot(["t2": .v4(10, 0, 0, 2)])))
        XCTAssertEqual(mailbox.take()?.members?.keys.map(\.name), ["t2"])
        XCTAssertNil(mailbox.take())
        XCTAssertEqual(mailbox.postedCount, 2)
        XCTAssertNil(mailbox.status)
        mailbox.publish(InboundStatus(mode: "direct", queue: 0, forwarded: 3))
        XCTAssertEqual(mailbox.status?.forwarded, 3)
    }

    func testMailboxFromManyThreads() {
        let mailbox = InboundMailbox()
        DispatchQueue.concurrentPerform(iterations: 1000) { i in
            if i % 2 == 0 { mailbox.post(.full(snapshot(["t\(i % 7)": .v4(10, 0, 0, 1)]))) } else { _ = mailbox.take() }
        }
        XCTAssertEqual(mailbox.postedCount, 500)
    }

    func testMailboxEvidenceIsDrainedInOrderAndBounded() {
        let mailbox = InboundMailbox()
        XCTAssertEqual(mailbox.takeEvidence(), [])
        func evidence(_ top: UInt64) -> AuthenticatedReplay {
            AuthenticatedReplay(saID: ClusterSAID(1), destination: dvipa, spi: 0xC000_0001, top: top, bitmap: [1])
        }
        mailbox.post(evidence(5))
        mailbox.post(evidence(9))
        XCTAssertEqual(mailbox.takeEvidence().map(\.top), [5, 9])
        XCTAssertEqual(mailbox.takeEvidence(), [])
        // A worker that fell behind loses the oldest reports (the older half at once, counted),
        // never blocks the loop: every report is either taken or counted lost, the newest kept.
        let posted = InboundMailbox.evidenceCapacity + 10
        for top in 1...UInt64(posted) { mailbox.post(evidence(top)) }
        let taken = mailbox.takeEvidence()
        XCTAssertLessThanOrEqual(taken.count, InboundMailbox.evidenceCapacity)
        XCTAssertEqual(mailbox.evidenceLost, UInt64(InboundMailbox.evidenceCapacity / 2))
        XCTAssertEqual(UInt64(taken.count) + mailbox.evidenceLost, UInt64(posted))
        XCTAssertEqual(taken.map(\.top), Array(UInt64(InboundMailbox.evidenceCapacity / 2 + 1)...UInt64(posted)), "the newest, in order")
    }

    // MARK: Status

    func testStatusLinesAndCounterLine() {
        let status = InboundStatus(mode: "direct", queue: 0, sas: 2, forwarded: 120, dropped: ["noSA": 3, "replay": 0],
                                   flowsPerTarget: ["t1": 4, "t2": 5], replayEvidence: 7, replayEvidenceLost: 2,
                                   flowEnds: ["ended-by-target": 40, "not-owner": 1, "no-entry": 0, "lost": 0],
                                   heldFlows: ["placed": 12, "kept": 1, "unknown-sa": 2, "table-full": 3, "lost": 0])
        XCTAssertEqual(status.droppedTotal, 3)
        XCTAssertEqual(status.lines.first, "inbound (direct, queue 0): 2 SAs, forwarded 120, dropped 3, flows 9")
        XCTAssertTrue(status.lines.contains("  flows per target: t1=4 t2=5"))
        XCTAssertTrue(status.lines.contains("  dropped: noSA=3"))
        XCTAssertTrue(status.lines.contains { $0.hasPrefix("  replay evidence: 7 reports, 2 lost;") }, "lost evidence is shown, never silent")
        XCTAssertTrue(status.lines.contains("  flow ends reported by targets: ended-by-target=40 not-owner=1"))
        XCTAssertTrue(status.lines.contains("  connections reported held by targets: kept=1 placed=12 table-full=3 unknown-sa=2"),
                      "\(status.lines)")
        XCTAssertEqual(status.counterLine,
                       "inbound: mode=direct queue=0 sas=2 forwarded=120 dropped=3 drop_noSA=3 flows=t1:4,t2:5 replay_evidence=7 replay_evidence_lost=2"
                       + " verify=never verified=0 verifying_sas=0"
                       + " flow_ended_by_target=40 flow_end_not_owner=1 flow_end_no_entry=0"
                       + " held_flows_placed=12 held_flows_kept=1 held_flows_dropped=5")
        XCTAssertTrue(status.lines.contains("  icv verification: never, verified 0, icv failures 0"), "\(status.lines)")
        let json = String(decoding: try! JSONEncoder().encode(status), as: UTF8.self)
        XCTAssertTrue(json.contains(#""ended-by-target":40"#), json)
        XCTAssertTrue(json.contains(#""placed":12"#), json)
    }

    /// `verify = under-attack`: the counters and the SAs being verified, in text, SIGUSR1 line and JSON.
    func testStatusWithICVVerification() throws {
        let status = InboundStatus(mode: "direct", queue: 0, sas: 2, forwarded: 50, dropped: ["icv": 9],
                                   verify: "under-attack", verified: 50, verifyingSAs: ["0x0000c0de"])
        XCTAssertTrue(status.lines.contains("  icv verification: under-attack, verified 50, icv failures 9; verifying: 0x0000c0de"),
                      "\(status.lines)")
        XCTAssertTrue(status.counterLine.contains(" drop_icv=9 "), status.counterLine)
        XCTAssertTrue(status.counterLine.contains(" verify=under-attack verified=50 verifying_sas=1 "), status.counterLine)
        let decoded = try JSONDecoder().decode(InboundStatus.self, from: JSONEncoder().encode(status))
        XCTAssertEqual(decoded, status)
    }

    /// A reload's `verify` goes through the mailbox once; the last one posted wins.
    func testMailboxCarriesTheVerificationOnce() {
        let mailbox = InboundMailbox()
        XCTAssertNil(mailbox.takeVerification())
        mailbox.post(ICVVerification.always)
        mailbox.post(ICVVerification.underAttack)
        XCTAssertEqual(mailbox.takeVerification(), .underAttack)
        XCTAssertNil(mailbox.takeVerification())
    }

    /// The distributor's status carries the classifier's verification mode and counters.
    func testDistributorStatusCarriesTheVerification() {
        var configuration = InboundConfiguration()
        configuration.verification = .always
        let status = InboundDistributor.status(InboundClassifier(configuration: configuration, peekers: NullPeekerFactory()),
                                               queues: [(0, NFQueueCounters())], mode: .direct,
                                               evidence: 0, evidenceLost: 0)
        XCTAssertEqual(status.verify, "always")
        XCTAssertEqual(status.verified, 0)
        XCTAssertEqual(status.dropped["icv"], 0, "every reason, zeros included")
    }

    /// Targets' connection ends wait for the worker in order; past the capacity they are
    /// counted as lost (their entries then end by the idle timeout), never silently.
    func testMailboxFlowEndsAreDrainedAndBounded() throws {
        let mailbox = InboundMailbox()
        let t1 = try NodeID("t1")
        let flow = InnerFiveTuple(source: .v4(10, 1, 0, 5), destination: .v4(192, 0, 2, 100), sourcePort: 1,
                                  destinationPort: 8080, ipProtocol: 6)
        mailbox.post(TargetFlowEnds(target: t1, flows: [flow]))
        mailbox.post(TargetFlowEnds(target: t1, flows: Array(repeating: flow, count: InboundMailbox.flowEndCapacity)))
        mailbox.post(TargetFlowEnds(target: t1, flows: [flow, flow]))
        XCTAssertEqual(mailbox.flowEndsLost, UInt64(InboundMailbox.flowEndCapacity))
        XCTAssertEqual(mailbox.takeFlowEnds().map(\.flows.count), [1, 2])
        XCTAssertEqual(mailbox.takeFlowEnds(), [])
        mailbox.post(TargetFlowEnds(target: t1, flows: Array(repeating: flow, count: InboundMailbox.flowEndCapacity)))
        XCTAssertEqual(mailbox.takeFlowEnds().first?.flows.count, InboundMailbox.flowEndCapacity, "room again once taken")
    }

    /// Connections targets report holding after a Welcome wait for the worker in order; a
    /// flood past the capacity is counted as lost (those flows follow the hash), never silently.
    func testMailboxHeldFlowsAreDrainedAndBounded() throws {
        let mailbox = InboundMailbox()
        let t1 = try NodeID("t1")
        let flow = TargetHeldFlows.Flow(saID: ClusterSAID(1), destination: .v4(192, 0, 2, 100), spi: 0xc001,
                                        flow: InnerFiveTuple(source: .v4(10, 1, 0, 5), destination: .v4(192, 0, 2, 100),
                                                             sourcePort: 1, destinationPort: 8080, ipProtocol: 6))
        mailbox.post(TargetHeldFlows(target: t1, flows: [flow]))
        mailbox.post(TargetHeldFlows(target: t1, flows: Array(repeating: flow, count: InboundMailbox.heldFlowCapacity)))
        mailbox.post(TargetHeldFlows(target: t1, flows: [flow, flow]))
        XCTAssertEqual(mailbox.heldFlowsLost, UInt64(InboundMailbox.heldFlowCapacity))
        XCTAssertEqual(mailbox.takeHeldFlows().map(\.flows.count), [1, 2])
        XCTAssertEqual(mailbox.takeHeldFlows(), [])
    }

    /// `queue = 0-1`: the number of queues bound and each one's counters, in the text, the
    /// SIGUSR1 line and the JSON; queue 10 sorts after queue 9.
    func testStatusWithSeveralQueues() throws {
        let status = InboundStatus(mode: "direct", queue: 8, queueCount: 3, sas: 1, forwarded: 9,
                                   queueCounters: ["received": 9, "accepted": 9],
                                   perQueue: ["8": ["received": 4, "accepted": 4], "9": ["received": 5, "accepted": 5],
                                              "10": ["received": 0, "accepted": 0]])
        XCTAssertEqual(status.queueText, "8-10")
        XCTAssertEqual(status.lines.first, "inbound (direct, 3 queues 8-10): 1 SAs, forwarded 9, dropped 0, flows 0")
        XCTAssertEqual(status.lines.filter { $0.hasPrefix("  queue") },
                       ["  queues (sum): accepted=9 received=9", "  queue 8: accepted=4 received=4",
                        "  queue 9: accepted=5 received=5", "  queue 10: none"])
        XCTAssertTrue(status.counterLine.contains(" queue=8-10 "), status.counterLine)
        XCTAssertTrue(status.counterLine.hasSuffix(" q8_received=4 q9_received=5 q10_received=0"), status.counterLine)
        let decoded = try JSONDecoder().decode(InboundStatus.self, from: JSONEncoder().encode(status))
        XCTAssertEqual(decoded, status)
        XCTAssertEqual(decoded.perQueue["9"]?["received"], 5)
    }

    /// The distributor's status sums the queues' counters and keeps each one apart.
    func testDistributorStatusSumsTheQueues() {
        var first = NFQueueCounters(), second = NFQueueCounters()
        first.received = 3; first.accepted = 2; first.dropped = 1
        second.received = 7; second.accepted = 7
        let status = InboundDistributor.status(InboundClassifier(peekers: NullPeekerFactory()), queues: [(0, first), (1, second)],
                                               mode: .direct, evidence: 0, evidenceLost: 0)
        XCTAssertEqual(status.queue, 0)
        XCTAssertEqual(status.queueCount, 2)
        XCTAssertEqual(status.queueCounters["received"], 10)
        XCTAssertEqual(status.queueCounters["dropped"], 1)
        XCTAssertEqual(status.perQueue["0"]?["received"], 3)
        XCTAssertEqual(status.perQueue["1"]?["accepted"], 7)
    }

    func testStatusJSONRoundTrips() throws {
        let status = InboundStatus(mode: "direct", queue: 1, forwarded: 1, dropped: ["tooShort": 2], flowsPerTarget: ["t3": 1])
        let decoded = try JSONDecoder().decode(InboundStatus.self, from: JSONEncoder().encode(status))
        XCTAssertEqual(decoded, status)
    }
}
