import Cluster
@testable import Inbound
import Secrets
import XCTest

/// A small cluster: DVIPAs, a peer, three targets, an ENCR_NULL SA (plaintext payload), so
/// the classifier's logic is tested without any cipher.
enum Fixture {
    static let dvipa = InboundAddress.v4(192, 0, 2, 10)
    static let dvipa6 = InboundAddress(v6: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10])!
    static let peer = InboundAddress.v4(198, 51, 100, 7)
    static let peer6 = InboundAddress(v6: [0x20, 0x01, 0x0d, 0xb8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7])!
    static let peerHost = InboundAddress.v4(10, 1, 0, 5)
    static let peerHost6 = InboundAddress(v6: [0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5])!
    static let spi: UInt32 = 0xC001_0001
    static let lineage = SALineageID(7)
    static let t1 = try! NodeID("t1"), t2 = try! NodeID("t2"), t3 = try! NodeID("t3")
    static let now = ClusterInstant(nanoseconds: 1_000_000_000_000)

    static func sa(spi: UInt32 = Fixture.spi, mode: IPsecMode = .tunnel, forwarding: ForwardingMode = .direct,
                   destination: InboundAddress = Fixture.dvipa, holders: [NodeID] = [t1, t2, t3],
                   selectors: Bool = true, rate: Double = 1e6, burst: Double = 1e6, esn: Bool = false) -> InboundSA {
        InboundSA(spi: spi, destination: destination, suite: .null(integrity: .hmacSHA256_128), encryptionKey: SecretBytes([]),
                  mode: mode, extendedSequenceNumbers: esn,
                  remoteSelectors: selectors ? [InboundTrafficSelector(prefix: .v4(10, 1, 0, 0), length: 16),
                                                InboundTrafficSelector(prefix: peerHost6, length: 64)] : [],
                  localSelectors: selectors ? [InboundTrafficSelector(prefix: dvipa, length: 32),
                                               InboundTrafficSelector(prefix: dvipa6, length: 128)] : [],
                  lineage: lineage, holders: holders, forwarding: forwarding,
                  newFlowsPerSecond: rate, newFlowBurst: burst)
    }

    static func classifier(_ configuration: InboundConfiguration = InboundConfiguration(),
                           sas: [InboundSA] = [Fixture.sa()]) -> InboundClassifier {
        var classifier = InboundClassifier(configuration: configuration, peekers: NullPeekerFactory())
        for (i, id) in [t1, t2, t3].enumerated() {
            try! classifier.upsertTarget(InboundTarget(id: id, directMark: 0x101 + UInt32(i), encapsulatedMark: 0x201 + UInt32(i)))
        }
        for sa in sas { try! classifier.addSA(sa, now: now) }
        return classifier
    }

    /// An ENCR_NULL ESP packet carrying `inner` (tunnel: an IP packet; transport: TCP/UDP/...).
    static func esp(_ inner: [UInt8], nextHeader: UInt8, spi: UInt32 = Fixture.spi, sequence: UInt32 = 1,
                    source: InboundAddress = Fixture.peer, destination: InboundAddress = Fixture.dvipa,
                    udp: Bool = false, tfc: Int = 0) -> [UInt8] {
        let plain = PacketBuilder.espPlaintext(payload: inner, nextHeader: nextHeader, multiple: 4, tfcPadding: tfc)
        let body = PacketBuilder.espHeader(spi: spi, sequenceNumber: sequence) + plain + [UInt8](repeating: 0xAA, count: 16)
        return PacketBuilder.outer(source: source, destination: destination, udpEncapsulated: udp, esp: body)
    }

    /// A tunnel-mode packet: inner IPv4 TCP from the peer's host to the DVIPA.
    static func tcp(sport: UInt16, dport: UInt16 = 443, flags: UInt8, sequence: UInt32 = 1, spi: UInt32 = Fixture.spi,
                    innerSource: InboundAddress = Fixture.peerHost) -> [UInt8] {
        let inner = PacketBuilder.ipv4(source: innerSource, destination: dvipa, protocol: 6,
                                       payload: PacketBuilder.tcp(source: sport, destination: dport, flags: flags))
        return esp(inner, nextHeader: 4, spi: spi, sequence: sequence)
    }

    static func udp(sport: UInt16, dport: UInt16 = 53, sequence: UInt32 = 1) -> [UInt8] {
        let inner = PacketBuilder.ipv4(source: peerHost, destination: dvipa, protocol: 17,
                                       payload: PacketBuilder.udp(source: sport, destination: dport, payload: [1, 2, 3]))
        return esp(inner, nextHeader: 4, sequence: sequence)
    }

    static func flow(sport: UInt16, dport: UInt16 = 443, proto: UInt8 = 6) -> FlowKey {
        FlowKey(lineage: lineage, source: peerHost, destination: dvipa, sourcePort: sport, destinationPort: dport, ipProtocol: proto)
    }

    static let syn: UInt8 = 0x02, ack: UInt8 = 0x10, fin: UInt8 = 0x01, rst: UInt8 = 0x04
}

extension InboundDecision {
    var target: UInt16? {
        if case .forward(let ref) = self { return ref.index }
        return nil
    }
    var mark: UInt32? {
        if case .forward(let ref) = self { return ref.mark }
        return nil
    }
}
