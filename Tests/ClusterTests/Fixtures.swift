import NIOCore
import VipsecTestSupport
@testable import Cluster

/// The seeded generator of every test target, by its name here for every file of this one.
typealias SeededGenerator = VipsecTestSupport.SeededGenerator

/// Shared builders for the cluster tests.
enum Fixture {
    static func node(_ name: String) -> NodeID {
        // Test names are valid by construction; a bad one fails the test loudly.
        try! NodeID(name)
    }

    static let epoch = ClusterEpoch(rawValue: 0x1234_5678_9abc)
    static let dvipa = IPAddress.v4(192, 0, 2, 10)
    static let peer = IPAddress.v4(198, 51, 100, 1)

    static func key(_ count: Int, fill: UInt8 = 0xA5) -> SecretBytes {
        SecretBytes([UInt8](repeating: fill, count: count))
    }

    static func sa(_ id: UInt64, direction: SADirection = .inbound, sequencing: SequencingMode = .notApplicable,
                   epoch: ClusterEpoch = Fixture.epoch) -> SADescription {
        var lifetimes = SALifetimes()
        lifetimes.softByteLimit = 900_000
        lifetimes.hardByteLimit = 1_000_000
        return SADescription(
            saID: ClusterSAID(id), epoch: epoch, generation: 2, spi: 0xC000_0000 | UInt32(truncatingIfNeeded: id),
            direction: direction,
            source: direction == .inbound ? peer : dvipa, destination: direction == .inbound ? dvipa : peer,
            algorithms: [SAAlgorithm(kind: .aead, name: "rfc4106(gcm(aes))", key: key(36), bits: 128)],
            extendedSequenceNumbers: true, replayWindow: 4096, lifetimes: lifetimes, lifesizeReportStep: 100_000,
            selectors: [SASelector(source: .v4(10, 1, 0, 0), sourcePrefixLength: 16,
                                   destination: .v4(10, 2, 0, 0), destinationPrefixLength: 16, ipProtocol: 17)],
            encapsulation: UDPEncapsulation(sourcePort: 4500, destinationPort: 4500), reqid: 7, sequencing: sequencing)
    }

    static func frame(_ message: ClusterMessage) -> ByteBuffer {
        var buffer = ByteBuffer()
        ClusterFrame.write(message, to: &buffer)
        return buffer
    }
}
