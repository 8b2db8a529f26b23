import Cluster
import Foundation
import NIOCore
import NIOPosix
import XCTest
@testable import ClusterNode

/// What `vipsec status --json` prints is parsed by the lab scenarios with jq (netns-lab/lib/
/// cluster.sh, scenarios/cluster-*): a routing node's and a target's status, JSON and table,
/// must stay exactly as they are. The state is made through the real `makeStatus` paths;
/// only the times measured against the clock are normalised.
final class StatusGoldenTests: ClusterHarnessTestCase {
    var group: MultiThreadedEventLoopGroup { harness.group }
    var pki: TestPKI { harness.pki }

    func testRoutingNodeStatusJSONAndTableStayTheSame() throws {
        let authority = SAAuthority.Configuration(
            membership: MembershipConfiguration(heartbeatInterval: .milliseconds(100), failureTimeout: .seconds(60)),
            installTimeout: .seconds(2), outboundMode: .shared(blockSize: 64, peerReplayWindow: 256))
        let service = try ClusterService(configuration: .init(nodeID: try NodeID("router"), listenHost: "127.0.0.1",
                                                              listenPort: 4501, authority: authority),
                                         credentials: try pki.credentials("router"), group: group)
        service.authority = SAAuthority(epoch: ClusterEpoch(rawValue: 0x5eed), configuration: authority)
        let t1 = try NodeID("t1"), t2 = try NodeID("t2"), t3 = try NodeID("t3")
        let now = ClusterService.now()
        let earlier = ClusterInstant(nanoseconds: now.nanoseconds - 5_000_000_000)
        _ = service.authority.receivedHello(.init(nodeID: t1, clusterAddress: .v4(10, 9, 0, 1), capabilities: [.offload],
                                                  maximumReplayWindow: 4096, incarnation: 0xabc, heldEpoch: .none), now: now)
        _ = service.authority.receivedHello(.init(nodeID: t2, clusterAddress: .v4(10, 9, 0, 2), capabilities: [],
                                                  maximumReplayWindow: 1024, incarnation: 0x3, heldEpoch: .none), now: now)
        _ = service.authority.receivedHello(.init(nodeID: t3, clusterAddress: .v4(10, 9, 0, 3), capabilities: [],
                                                  maximumReplayWindow: 4096, incarnation: 0x77, heldEpoch: .none), now: earlier)
        var shared = testSA(2, spi: 0xc0de, direction: .outbound)
        shared.sequencing = .shared(blockSize: 64)
        _ = service.authority.childSANegotiated([testSA(1, spi: 0x5001), shared], response: IKEResponseToken(9), now: now)
        _ = service.authority.received(.ack(.init(saID: ClusterSAID(1), operation: .installSA)), from: t1, now: now)
        _ = service.authority.received(.nack(.init(saID: ClusterSAID(1), operation: .installSA, reason: .kernelRejected,
                                                   detail: "File exists")), from: t2, now: now)
        _ = service.authority.received(.sequenceBlockRequest(.init(saID: ClusterSAID(2), currentBlockFirst: 0)), from: t2, now: now)
        _ = service.authority.received(.lifesizeReport(.init(saID: ClusterSAID(1), bytes: 1234, packets: 5)), from: t1, now: now)
        _ = service.authority.received(.lifesizeReport(.init(saID: ClusterSAID(99), bytes: 1, packets: 1)), from: t1, now: now)
        _ = service.authority.received(.replayReport(.init(saID: ClusterSAID(1), top: 77, bitmap: [0b101])), from: t1, now: now)
        _ = service.authority.received(.welcome(.init(epoch: ClusterEpoch(rawValue: 0x5eed), heartbeatIntervalMilliseconds: 1,
                                                      failureTimeoutMilliseconds: 1)), from: t2, now: now)
        _ = service.authority.received(.heartbeat(.init(epoch: ClusterEpoch(rawValue: 0x5eed), counter: 1)),
                                       from: try NodeID("t4"), now: now)
        service.drops.count("before-hello")
        service.drops.count("before-hello")
        service.drops.count("tls-handshake")
        service.drops.countClosedConnection()
        service.events = ["t1 joined", "t2 joined"]

        let status = service.makeStatus()
        let members = try XCTUnwrap(status.routing?.members)
        XCTAssertEqual(members.map(\.node), ["t1", "t2", "t3"])
        XCTAssertEqual(members.map(\.health), ["live", "live", "silent"])
        XCTAssertLessThan(members[0].lastHeardMillisecondsAgo, 200, "t1 was heard just now")
        XCTAssertGreaterThanOrEqual(members[2].lastHeardMillisecondsAgo, 5000, "t3 was heard 5 s ago")
        XCTAssertGreaterThanOrEqual(members[2].memberForSeconds, 5)

        XCTAssertEqual(normalised(try json(status)), Self.routingJSON)
        XCTAssertEqual(normalised(status.table), Self.routingTable)
        let decoded = try JSONDecoder().decode(NodeStatus.self, from: Data(try json(status).utf8))
        XCTAssertEqual(decoded, status, "vipsec status decodes what the socket serves")
    }

    func testTargetStatusJSONAndTableStayTheSame() async throws {
        let configuration = ClusterAgent.Configuration(
            nodeID: try NodeID("t1"), routingHost: "192.0.2.10", routingPort: 4501, clusterAddress: .v4(10, 9, 0, 1),
            dvipa: .v4(192, 0, 2, 100), grace: .milliseconds(30_500), watchExpireEvents: false)
        let agent = try ClusterAgent(configuration: configuration, credentials: try pki.credentials("t1"),
                                     kernel: RecordingKernel(), group: group)
        let epoch = ClusterEpoch(rawValue: 0x5eed)
        let now = ClusterAgent.now()
        let welcome = ClusterMessage.Welcome(epoch: epoch, heartbeatIntervalMilliseconds: 100, failureTimeoutMilliseconds: 600)
        var shared = testSA(2, spi: 0xc0de, direction: .outbound)
        shared.epoch = epoch
        shared.sequencing = .shared(blockSize: 64)
        var inbound = testSA(1, spi: 0x5001), waiting = testSA(3, spi: 0x5003)
        inbound.epoch = epoch
        waiting.epoch = epoch
        _ = agent.cache.welcomed(welcome, now: now)
        _ = agent.cache.install(.init(sa: inbound), now: now)
        _ = agent.cache.install(.init(sa: shared), now: now)
        _ = agent.cache.received(.init(saID: ClusterSAID(2), block: try SequenceBlock(first: 65, last: 128), softPacketLimit: 48),
                                 now: now)
        _ = agent.cache.install(.init(sa: waiting), now: now)
        agent.welcome = welcome
        agent.inKernel = [ClusterSAID(1), ClusterSAID(2)]
        agent.kernelErrors = ["install sa#3: File exists"]
        agent.reconnects = 2
        agent.drops.count("tls-handshake")

        let status = agent.makeStatus(counters: [
            ClusterSAID(1): KernelSACounters(bytes: 1000, packets: 10, outputSequence: 0),
            ClusterSAID(2): KernelSACounters(bytes: 2000, packets: 20, outputSequence: 81),
        ])
        XCTAssertLessThan(try XCTUnwrap(status.target?.lastContactMillisecondsAgo), 1000)

        XCTAssertEqual(normalised(try json(status)), Self.targetJSON)
        XCTAssertEqual(normalised(status.table), Self.targetTable)
        let decoded = try JSONDecoder().decode(NodeStatus.self, from: Data(try json(status).utf8))
        XCTAssertEqual(decoded, status)
        await agent.stop(removingSAs: false)
    }

    /// As the status socket serves it.
    func json(_ status: NodeStatus) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(status), as: UTF8.self)
    }

    /// Replaces the numbers measured against the clock (milliseconds since heard, seconds of
    /// membership) with `#`.
    func normalised(_ text: String) -> String {
        var text = text
        for pattern in [#"("lastHeardMillisecondsAgo" : )\d+"#, #"("memberForSeconds" : )\d+"#,
                        #"("lastContactMillisecondsAgo" : )\d+"#, #"(heard )\d+( ms ago)"#, #"(member for )\d+( s)"#] {
            let regex = try! NSRegularExpression(pattern: pattern)
            let template = regex.numberOfCaptureGroups == 2 ? "$1#$2" : "$1#"
            text = regex.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: template)
        }
        return text
    }

    static let routingJSON = """
        {
          "node" : "router",
          "role" : "routing",
          "routing" : {
            "drops" : {
              "connectionsClosedForFraming" : 1,
              "frames" : {
                "before-hello" : 2,
                "tls-handshake" : 1
              },
              "fromNonMembers" : 1,
              "unexpected" : 1,
              "unknownSA" : 1
            },
            "epoch" : "5eed",
            "events" : [
              "t1 joined",
              "t2 joined"
            ],
            "failureTimeoutMilliseconds" : 60000,
            "heartbeatIntervalMilliseconds" : 100,
            "heldResponses" : 1,
            "installTimeoutMilliseconds" : 2000,
            "listen" : "127.0.0.1:4501",
            "members" : [
              {
                "clusterAddress" : "10.9.0.1",
                "health" : "live",
                "incarnation" : "abc",
                "lastHeardMillisecondsAgo" : #,
                "memberForSeconds" : #,
                "node" : "t1"
              },
              {
                "clusterAddress" : "10.9.0.2",
                "health" : "live",
                "incarnation" : "3",
                "lastHeardMillisecondsAgo" : #,
                "memberForSeconds" : #,
                "node" : "t2"
              },
              {
                "clusterAddress" : "10.9.0.3",
                "health" : "silent",
                "incarnation" : "77",
                "lastHeardMillisecondsAgo" : #,
                "memberForSeconds" : #,
                "node" : "t3"
              }
            ],
            "reportingPercent" : 5,
            "reports" : {
              "flowReports" : 0,
              "flowsReported" : 0,
              "flowsUnknownSA" : 0,
              "replayBelowHighWater" : 0,
              "replayReports" : 1
            },
            "sas" : [
              {
                "destination" : "192.0.2.100",
                "direction" : "in",
                "generation" : 0,
                "holders" : [
                  "t1"
                ],
                "id" : 1,
                "inboundHighWater" : 77,
                "lifesize" : {
                  "byteLimit" : 1000000,
                  "rekeyRequested" : false,
                  "reportStep" : 16666,
                  "reportedBytes" : 1234,
                  "reportedPackets" : 5,
                  "reporters" : 1
                },
                "mode" : "tunnel",
                "pending" : [
                  "t3"
                ],
                "refused" : {
                  "t2" : "kernel-rejected"
                },
                "reqid" : 1,
                "sequencing" : "none",
                "source" : "192.0.2.1",
                "spi" : "0x00005001"
              },
              {
                "destination" : "192.0.2.1",
                "direction" : "out",
                "generation" : 0,
                "holders" : [

                ],
                "id" : 2,
                "lifesize" : {
                  "byteLimit" : 1000000,
                  "rekeyRequested" : false,
                  "reportStep" : 16666,
                  "reportedBytes" : 0,
                  "reportedPackets" : 0,
                  "reporters" : 0
                },
                "mode" : "tunnel",
                "pending" : [
                  "t1",
                  "t2",
                  "t3"
                ],
                "refused" : {

                },
                "reqid" : 1,
                "sequenceBlocks" : {
                  "blockSize" : 64,
                  "highWaterMark" : 64,
                  "outstanding" : {
                    "t2" : [
                      "1...64"
                    ]
                  }
                },
                "sequencing" : "shared(block 64)",
                "source" : "192.0.2.100",
                "spi" : "0x0000c0de"
              }
            ]
          }
        }
        """

    static let routingTable = """
        routing node router, epoch 5eed, listening on 127.0.0.1:4501
        members (3):
          t1           10.9.0.1         live    heard # ms ago, member for # s
          t2           10.9.0.2         live    heard # ms ago, member for # s
          t3           10.9.0.3         silent  heard # ms ago, member for # s
        SAs (2), lifesize reporting every 5.0 % of the byte limit:
          sa#1 spi 0x00005001 in 192.0.2.1 -> 192.0.2.100 tunnel reqid 1 none
              holders: t1  pending: t3  refused: t2(kernel-rejected)
              lifesize: 1234 of 1000000 bytes, 5 packets, 1 reporters, step 16666
          sa#2 spi 0x0000c0de out 192.0.2.100 -> 192.0.2.1 tunnel reqid 1 shared(block 64)
              holders: -  pending: t1,t2,t3  refused: -
              lifesize: 0 of 1000000 bytes, 0 packets, 0 reporters, step 16666
              sequence blocks of 64, high-water mark 64: t2: 1...64
        held IKE responses: 1
        dropped: 6 (frames: before-hello=2 tls-handshake=1; closed for framing: 1; from non-members: 1; unexpected: 1; unknown SA: 1)
        target reports: replay 1 (0 below the high-water mark, kept); held connections 0 in 0 reports, 0 of unknown SAs dropped
        """

    static let targetJSON = """
        {
          "node" : "t1",
          "role" : "target",
          "target" : {
            "connected" : true,
            "drops" : {
              "connectionsClosedForFraming" : 0,
              "frames" : {
                "tls-handshake" : 1
              },
              "fromNonMembers" : 0,
              "unexpected" : 0,
              "unknownSA" : 0
            },
            "dvipa" : "192.0.2.100",
            "epoch" : "5eed",
            "graceSeconds" : 30.5,
            "kernelErrors" : [
              "install sa#3: File exists"
            ],
            "lastContactMillisecondsAgo" : #,
            "reconnects" : 2,
            "routing" : "192.0.2.10:4501",
            "sas" : [
              {
                "bytes" : 1000,
                "destination" : "192.0.2.100",
                "direction" : "in",
                "id" : 1,
                "inKernel" : true,
                "packets" : 10,
                "sequencing" : "none",
                "source" : "192.0.2.1",
                "spi" : "0x00005001"
              },
              {
                "bytes" : 2000,
                "destination" : "192.0.2.1",
                "direction" : "out",
                "id" : 2,
                "inKernel" : true,
                "outputSequence" : 81,
                "packets" : 20,
                "sequenceBlock" : "65...128",
                "sequencing" : "shared(block 64)",
                "source" : "192.0.2.100",
                "spi" : "0x0000c0de"
              },
              {
                "bytes" : 0,
                "destination" : "192.0.2.100",
                "direction" : "in",
                "id" : 3,
                "inKernel" : false,
                "packets" : 0,
                "sequencing" : "none",
                "source" : "192.0.2.1",
                "spi" : "0x00005003"
              }
            ]
          }
        }
        """

    static let targetTable = """
        target t1, connected to 192.0.2.10:4501, epoch 5eed, DVIPA 192.0.2.100, reconnects 2
        shadow SA cache (3):
          sa#1 spi 0x00005001 in 192.0.2.1 -> 192.0.2.100 none in kernel bytes 1000 packets 10
          sa#2 spi 0x0000c0de out 192.0.2.100 -> 192.0.2.1 shared(block 64) in kernel bytes 2000 packets 20 block 65...128 oseq 81
          sa#3 spi 0x00005003 in 192.0.2.1 -> 192.0.2.100 none NOT in kernel bytes 0 packets 0
        dropped: 1 (frames: tls-handshake=1; closed for framing: 0; from non-members: 0; unexpected: 0; unknown SA: 0)
        kernel errors: install sa#3: File exists
        """
}
