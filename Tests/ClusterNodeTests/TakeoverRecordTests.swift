import Cluster
import ClusterNode
import IKEv2
import XCTest

/// The value kept in etcd per IKE_SA before sealing (TakeoverRecord.swift): the IKE_SA's
/// record and its cluster SAs as sent to the targets, back byte for byte; anything short or
/// garbled refused with a reason.
final class TakeoverRecordTests: XCTestCase {
    static func key(_ count: Int, _ fill: UInt8) -> SecretBytes { SecretBytes(Array(repeating: fill, count: count)) }

    static var child: ChildSAInstallation {
        func parameters(_ spi: UInt32, _ source: [UInt8], _ destination: [UInt8], _ fill: UInt8) -> ChildSAParameters {
            ChildSAParameters(spi: spi, source: source, destination: destination, encryption: .aesGCM16, encryptionKeyLengthBits: 256,
                              integrity: .none, encryptionKey: key(36, fill), integrityKey: key(0, 0))
        }
        return ChildSAInstallation(name: "lab", reqid: 1, mode: .tunnel,
                                   inbound: parameters(0xc000_0001, [192, 0, 2, 1], [192, 0, 2, 100], 0x11),
                                   outbound: parameters(0xc000_0002, [192, 0, 2, 100], [192, 0, 2, 1], 0x22),
                                   localTrafficSelectors: [.ipv4([192, 0, 2, 100], [192, 0, 2, 100])],
                                   remoteTrafficSelectors: [.ipv4([10, 1, 0, 0], [10, 1, 0, 255])],
                                   extendedSequenceNumbers: false, replayWindow: 32,
                                   lifetime: ChildSALifetime(softSeconds: 3000, hardSeconds: 3600), udpEncapsulation: nil)
    }

    static var record: TakeoverRecord {
        let ike = IKESARecord(
            connection: "lab", isOriginalInitiator: false, initiatorSPI: 0x0102_0304_0506_0708, responderSPI: 0x1112_1314_1516_1718,
            local: IKEEndpoint(address: [192, 0, 2, 100], port: 500), remote: IKEEndpoint(address: [192, 0, 2, 1], port: 500),
            natDetection: NATDetectionResult(), fragmentationNegotiated: true, peerSupportsRedirect: false,
            localIdentity: IdentificationPayload(idType: .ipv4Address, identificationData: [192, 0, 2, 100]),
            peerIdentity: IdentificationPayload(idType: .ipv4Address, identificationData: [192, 0, 2, 1]),
            prf: .hmacSHA2_256, suite: EncryptionSuite(encryption: .aesGCM16, keyLengthBits: 256),
            skD: key(32, 1), skAi: key(0, 0), skAr: key(0, 0), skEi: key(36, 2), skEr: key(36, 3),
            messageIDs: .init(nextRequest: 0, expectedRequest: 5, lastResponse: nil, outstandingLiveness: nil),
            rekeyGeneration: 0, times: .init(established: 1_796_000_000), childSAs: [child])
        var sas = (try? ClusterChildSA.descriptions(of: child, ids: [ClusterSAID(7), ClusterSAID(8)],
                                                     outboundOwner: try NodeID("t1"), outboundMode: .perTarget)) ?? []
        for index in sas.indices { sas[index].epoch = ClusterEpoch(rawValue: 0xfeed) }
        return TakeoverRecord(ikeSA: ike, clusterSAs: sas)
    }

    func testRoundTripKeepsTheIKESAAndTheDescriptionsAsSent() throws {
        let record = Self.record
        XCTAssertEqual(record.clusterSAs.count, 2)
        let decoded = try TakeoverRecord(decoding: record.encoded())
        XCTAssertEqual(decoded, record)
        XCTAssertEqual(decoded.clusterSAs.map(\.saID), [ClusterSAID(7), ClusterSAID(8)])
        XCTAssertEqual(TakeoverRecord.key(prefix: "/vipsec/lab/", localSPI: 0xab), "/vipsec/lab/ike/00000000000000ab")
    }

    func testShortOrGarbledValuesAreRefusedWithAReason() throws {
        let octets = Self.record.encoded().unprotectedCopy()
        for length in stride(from: 0, to: octets.count, by: 7) {
            XCTAssertThrowsError(try TakeoverRecord(decoding: SecretBytes(octets.prefix(length))), "prefix \(length)")
        }
        XCTAssertThrowsError(try TakeoverRecord(decoding: SecretBytes(octets + [0]))) { XCTAssertTrue("\($0)".contains("trailing"), "\($0)") }
        var version = octets
        version[4] = 2
        XCTAssertThrowsError(try TakeoverRecord(decoding: SecretBytes(version))) { XCTAssertTrue("\($0)".contains("version 2"), "\($0)") }
    }
}
