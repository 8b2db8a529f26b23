import NIOCore
import XCTest
@testable import Cluster

final class ClusterWireTests: XCTestCase {
    private let decoder = ClusterFrameDecoder()

    private func allMessages() throws -> [ClusterMessage] {
        let t1 = Fixture.node("t1")
        return [
            .hello(.init(nodeID: t1, clusterAddress: .v4(10, 9, 0, 1), capabilities: [.extendedSequenceNumbers, .offload],
                         maximumReplayWindow: 4096, incarnation: 77, heldEpoch: Fixture.epoch)),
            .hello(.init(nodeID: Fixture.node("target-ü"), clusterAddress: try IPAddress(bytes: Array(0..<16)),
                         capabilities: KernelCapabilities(rawValue: 0x8000_0001), maximumReplayWindow: 32,
                         incarnation: .max, heldEpoch: .none)),
            .welcome(.init(epoch: Fixture.epoch, heartbeatIntervalMilliseconds: 500, failureTimeoutMilliseconds: 3000)),
            .welcome(.init(epoch: Fixture.epoch, heartbeatIntervalMilliseconds: 500, failureTimeoutMilliseconds: 3000,
                           greSource: .v4(10, 0, 0, 1))),
            .heartbeat(.init(epoch: Fixture.epoch, counter: 9)),
            .installSA(.init(sa: Fixture.sa(1))),
            .installSA(.init(sa: Fixture.sa(2, direction: .outbound, sequencing: .perTarget(owner: t1)))),
            .installSA(.init(sa: Fixture.sa(3, direction: .outbound, sequencing: .shared(blockSize: 1024)))),
            .deleteSA(.init(saID: ClusterSAID(4), epoch: Fixture.epoch)),
            .ack(.init(saID: ClusterSAID(5), operation: .installSA)),
            .nack(.init(saID: ClusterSAID(6), operation: .installSA, reason: .kernelRejected, detail: "File exists")),
            .nack(.init(saID: ClusterSAID(6), operation: ClusterMessageType(rawValue: 200), reason: NackReason(rawValue: 99))),
            .lifesizeReport(.init(saID: ClusterSAID(7), bytes: 123_456, packets: 789)),
            .lifesizeReport(.init(saID: ClusterSAID(7), bytes: .max, packets: 0, hardLimitReached: true)),
            .sequenceBlockRequest(.init(saID: ClusterSAID(8), currentBlockFirst: 1025)),
            .sequenceBlockGrant(.init(saID: ClusterSAID(8), block: try SequenceBlock(first: 2049, last: 3072), softPacketLimit: 768)),
            .resyncRequest(.init(heldEpoch: Fixture.epoch)),
            .fullState(.init(epoch: Fixture.epoch, saIDs: [ClusterSAID(1), ClusterSAID(2)])),
            .fullState(.init(epoch: Fixture.epoch, saIDs: [])),
            .replayReport(.init(saID: ClusterSAID(9), top: 0x1_0000_0040, bitmap: [.max, 0x8000_0000_0000_0001])),
            .replayReport(.init(saID: ClusterSAID(9), top: 0, bitmap: [])),
        ]
    }

    func testEveryMessageRoundTrips() throws {
        for message in try allMessages() {
            var buffer = Fixture.frame(message)
            let decoded = try decoder.decode(&buffer)
            XCTAssertEqual(decoded, message, "\(message)")
            XCTAssertEqual(buffer.readableBytes, 0)
        }
    }

    /// HA: every message round trips with the leader's term in a version 2 header, and the
    /// term comes back; without a term the frame is version 1, and `decodeFrame` says `.none`.
    func testEveryMessageRoundTripsWithATerm() throws {
        for term in [ClusterTerm(1), ClusterTerm(0x0102_0304_0506_0708), ClusterTerm(.max)] {
            for message in try allMessages() {
                var buffer = ByteBuffer()
                ClusterFrame.write(message, term: term, to: &buffer)
                XCTAssertEqual(buffer.getInteger(at: 2, as: UInt8.self), ClusterFrame.termVersion)
                XCTAssertEqual(buffer.getInteger(at: 8, as: UInt64.self), term.rawValue)
                XCTAssertEqual(buffer.readableBytes, Fixture.frame(message).readableBytes + 8, "the term adds 8 bytes, nothing else")
                XCTAssertEqual(try decoder.decodeFrame(&buffer), ClusterFrame.Received(term: term, message: message))
                XCTAssertEqual(buffer.readableBytes, 0)
            }
        }
        var plain = Fixture.frame(.heartbeat(.init(epoch: Fixture.epoch, counter: 1)))
        XCTAssertEqual(try decoder.decodeFrame(&plain)?.term, ClusterTerm.none)
    }

    /// Version 1 and 2 frames mixed in one stream, fed a byte at a time: each comes out whole
    /// with its own term; a version 2 header cut after the length waits for the term.
    func testFramesWithAndWithoutTermsMixInAStreamByteByByte() throws {
        let messages = try allMessages()
        var stream = ByteBuffer()
        var expected: [ClusterFrame.Received] = []
        for (index, message) in messages.enumerated() {
            let term = index % 2 == 0 ? ClusterTerm.none : ClusterTerm(UInt64(index) << 40)
            ClusterFrame.write(message, term: term, to: &stream)
            expected.append(.init(term: term, message: message))
        }
        var received = ByteBuffer()
        var decoded: [ClusterFrame.Received] = []
        while let byte = stream.readInteger(as: UInt8.self) {
            received.writeInteger(byte)
            while let frame = try decoder.decodeFrame(&received) { decoded.append(frame) }
        }
        XCTAssertEqual(decoded, expected)
    }

    /// A version 2 frame must carry a term: one with term 0 is consumed and refused (counted,
    /// the connection stays), and the next frame decodes.
    func testAVersion2FrameWithTermZeroIsDroppedAlone() throws {
        var buffer = ByteBuffer()
        ClusterFrame.write(.heartbeat(.init(epoch: Fixture.epoch, counter: 1)), term: ClusterTerm(5), to: &buffer)
        buffer.setInteger(UInt64(0), at: 8)
        let next = ClusterMessage.heartbeat(.init(epoch: Fixture.epoch, counter: 2))
        ClusterFrame.write(next, term: ClusterTerm(5), to: &buffer)
        XCTAssertThrowsError(try decoder.decodeFrame(&buffer)) { error in
            XCTAssertEqual(error as? ClusterWireError, .invalidValue(field: "frame term", reason: "zero in a version 2 frame"))
            XCTAssertFalse((error as? ClusterWireError)?.closesConnection ?? true)
            XCTAssertEqual((error as? ClusterWireError)?.counterName, "invalid-value")
        }
        XCTAssertEqual(try decoder.decodeFrame(&buffer), ClusterFrame.Received(term: ClusterTerm(5), message: next))
    }

    func testStreamOfFramesDecodesByteByByte() throws {
        let messages = try allMessages()
        var stream = ByteBuffer()
        for message in messages { ClusterFrame.write(message, to: &stream) }
        var received = ByteBuffer()
        var decoded: [ClusterMessage] = []
        while let byte = stream.readInteger(as: UInt8.self) {
            received.writeInteger(byte)
            while let message = try decoder.decode(&received) { decoded.append(message) }
        }
        XCTAssertEqual(decoded, messages)
    }

    func testIncompleteFrameConsumesNothing() throws {
        var buffer = Fixture.frame(.heartbeat(.init(epoch: Fixture.epoch, counter: 1)))
        buffer.moveWriterIndex(to: buffer.writerIndex - 1)
        let before = buffer.readerIndex
        XCTAssertNil(try decoder.decode(&buffer))
        XCTAssertEqual(buffer.readerIndex, before)
    }

    func testUnknownVersionIsRejectedAndClosesTheConnection() {
        var buffer = Fixture.frame(.heartbeat(.init(epoch: Fixture.epoch, counter: 1)))
        buffer.setInteger(UInt8(3), at: 2)
        XCTAssertThrowsError(try decoder.decode(&buffer)) { error in
            XCTAssertEqual(error as? ClusterWireError, .unsupportedVersion(3))
            XCTAssertTrue((error as? ClusterWireError)?.closesConnection ?? false)
        }
        // Even three bytes are enough to refuse a wrong version.
        var short = ByteBuffer(bytes: [0x56, 0x43, 0x07])
        XCTAssertThrowsError(try decoder.decode(&short)) { XCTAssertEqual($0 as? ClusterWireError, .unsupportedVersion(7)) }
    }

    func testBadMagicIsRejected() {
        var buffer = ByteBuffer(bytes: Array("GET / HTTP/1.1\r\n".utf8))
        XCTAssertThrowsError(try decoder.decode(&buffer)) { error in
            XCTAssertEqual(error as? ClusterWireError, .badMagic(0x4745))
            XCTAssertEqual((error as? ClusterWireError)?.counterName, "bad-magic")
        }
    }

    func testOversizedFrameIsRejectedBeforeBuffering() {
        var buffer = ByteBuffer()
        buffer.writeInteger(ClusterFrame.magic)
        buffer.writeInteger(ClusterFrame.version)
        buffer.writeInteger(ClusterMessageType.fullState.rawValue)
        buffer.writeInteger(UInt32(10_000_000))
        XCTAssertThrowsError(try decoder.decode(&buffer)) { error in
            XCTAssertEqual(error as? ClusterWireError, .frameTooLarge(length: 10_000_000, limit: ClusterFrame.defaultMaximumBodyLength))
        }
    }

    func testUnknownTypeDropsOnlyThatFrame() throws {
        var buffer = ByteBuffer()
        buffer.writeInteger(ClusterFrame.magic)
        buffer.writeInteger(ClusterFrame.version)
        buffer.writeInteger(UInt8(99))
        buffer.writeInteger(UInt32(3))
        buffer.writeBytes([1, 2, 3])
        let next = ClusterMessage.heartbeat(.init(epoch: Fixture.epoch, counter: 2))
        ClusterFrame.write(next, to: &buffer)
        XCTAssertThrowsError(try decoder.decode(&buffer)) { error in
            XCTAssertEqual(error as? ClusterWireError, .unknownMessageType(ClusterMessageType(rawValue: 99)))
            XCTAssertFalse((error as? ClusterWireError)?.closesConnection ?? true)
        }
        XCTAssertEqual(try decoder.decode(&buffer), next)
    }

    func testTruncatedBodyNamesTheField() throws {
        // A Heartbeat frame whose body is only 4 bytes long.
        var buffer = ByteBuffer()
        buffer.writeInteger(ClusterFrame.magic)
        buffer.writeInteger(ClusterFrame.version)
        buffer.writeInteger(ClusterMessageType.heartbeat.rawValue)
        buffer.writeInteger(UInt32(4))
        buffer.writeInteger(UInt32(1))
        XCTAssertThrowsError(try decoder.decode(&buffer)) { error in
            XCTAssertEqual(error as? ClusterWireError, .truncated(field: "Heartbeat epoch"))
        }
        XCTAssertEqual(buffer.readableBytes, 0, "the bad frame is consumed")
    }

    func testTrailingBytesAreRejected() throws {
        var body = ByteBuffer()
        ClusterMessage.heartbeat(.init(epoch: Fixture.epoch, counter: 1)).writeBody(to: &body)
        body.writeInteger(UInt8(0))
        var buffer = ByteBuffer()
        buffer.writeInteger(ClusterFrame.magic)
        buffer.writeInteger(ClusterFrame.version)
        buffer.writeInteger(ClusterMessageType.heartbeat.rawValue)
        buffer.writeInteger(UInt32(body.readableBytes))
        buffer.writeBuffer(&body)
        XCTAssertThrowsError(try decoder.decode(&buffer)) { error in
            XCTAssertEqual(error as? ClusterWireError, .trailingBytes(type: .heartbeat, count: 1))
        }
    }

    /// Encapsulated mode's Welcome field: absent = the old layout byte for byte (agents of every
    /// version join a direct routing node); present = code 1 and the GRE source; any other
    /// code or a cut address is refused, naming the field.
    func testWelcomeCarriesTheGRESourceOnlyInEncapsulatedMode() throws {
        func body(_ welcome: ClusterMessage.Welcome) -> [UInt8] {
            var buffer = ByteBuffer()
            ClusterMessage.welcome(welcome).writeBody(to: &buffer)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        }
        func frame(_ body: [UInt8]) -> ByteBuffer {
            var buffer = ByteBuffer()
            buffer.writeInteger(ClusterFrame.magic)
            buffer.writeInteger(ClusterFrame.version)
            buffer.writeInteger(ClusterMessageType.welcome.rawValue)
            buffer.writeInteger(UInt32(body.count))
            buffer.writeBytes(body)
            return buffer
        }
        let direct = body(.init(epoch: Fixture.epoch, heartbeatIntervalMilliseconds: 500, failureTimeoutMilliseconds: 3000))
        XCTAssertEqual(direct.count, 16, "epoch, heartbeat, timeout: the layout before the field")
        let encapsulated = body(.init(epoch: Fixture.epoch, heartbeatIntervalMilliseconds: 500, failureTimeoutMilliseconds: 3000,
                                      greSource: .v4(10, 0, 0, 1)))
        XCTAssertEqual(Array(encapsulated.prefix(16)), direct, "the field only appends")
        XCTAssertEqual(encapsulated[16], 1, "inbound forwarding: encapsulated")
        var buffer = frame(encapsulated)
        guard case .welcome(let decoded) = try decoder.decode(&buffer) else { return XCTFail("not a Welcome") }
        XCTAssertEqual(decoded.greSource, .v4(10, 0, 0, 1))
        XCTAssertTrue(decoded.description.contains("inbound GRE from 10.0.0.1"), decoded.description)

        var badCode = encapsulated
        badCode[16] = 2
        buffer = frame(badCode)
        XCTAssertThrowsError(try decoder.decode(&buffer)) { error in
            XCTAssertEqual(error as? ClusterWireError, .invalidValue(field: "Welcome inbound forwarding", reason: "code 2"))
        }
        buffer = frame(Array(encapsulated.dropLast(2)))
        XCTAssertThrowsError(try decoder.decode(&buffer)) { error in
            guard case .truncated(let field) = error as? ClusterWireError else { return XCTFail("\(error)") }
            XCTAssertTrue(field.hasPrefix("Welcome GRE source"), field)
        }
    }

    func testReplayReportBoundsAndConsistency() throws {
        // More than 1024 words (65,536 numbers) is refused before anything is allocated.
        var body = ByteBuffer()
        body.writeInteger(UInt64(1)); body.writeInteger(UInt64(5)); body.writeInteger(UInt16(1025))
        XCTAssertThrowsError(try ClusterMessage(type: .replayReport, parsing: &body)) { error in
            XCTAssertTrue("\(error)".contains("ReplayReport bitmap"), "\(error)")
        }
        // Bits set with no top name numbers before 1.
        body = ByteBuffer()
        body.writeInteger(UInt64(1)); body.writeInteger(UInt64(0)); body.writeInteger(UInt16(1)); body.writeInteger(UInt64(1))
        XCTAssertThrowsError(try ClusterMessage(type: .replayReport, parsing: &body))
        // A bitmap that says more than the wire carries is cut at the maximum when built.
        let long = ClusterMessage.ReplayReport(saID: ClusterSAID(1), top: 1 << 20, bitmap: Array(repeating: 1, count: 2000))
        XCTAssertEqual(long.bitmap.count, ClusterMessage.ReplayReport.maximumWords)
        XCTAssertEqual("\(ClusterMessage.replayReport(.init(saID: ClusterSAID(3), top: 9, bitmap: [0b101])))",
                       "ReplayReport(sa#3, top 9, 2 of 64 bits)")
    }

    func testSemanticChecksOnInstallSA() throws {
        var aeadPlusAuth = Fixture.sa(1)
        aeadPlusAuth.algorithms.append(SAAlgorithm(kind: .integrity, name: "hmac(sha256)", key: Fixture.key(32), bits: 128))
        var inboundShared = Fixture.sa(2)
        inboundShared.sequencing = .shared(blockSize: 10)
        var outboundNone = Fixture.sa(3, direction: .outbound)
        outboundNone.sequencing = .notApplicable
        var noAlgorithms = Fixture.sa(4)
        noAlgorithms.algorithms = []
        var zeroEpoch = Fixture.sa(5)
        zeroEpoch.epoch = .none
        for sa in [aeadPlusAuth, inboundShared, outboundNone, noAlgorithms, zeroEpoch] {
            var buffer = Fixture.frame(.installSA(.init(sa: sa)))
            XCTAssertThrowsError(try decoder.decode(&buffer), "\(sa)") { error in
                guard case .invalidValue = error as? ClusterWireError else { return XCTFail("\(error)") }
            }
        }
    }

    func testBadNodeIDAndAddressFamilyAreRejected() throws {
        var buffer = Fixture.frame(.hello(.init(nodeID: Fixture.node("t1"), clusterAddress: .v4(10, 0, 0, 1), capabilities: [],
                                                maximumReplayWindow: 0, incarnation: 1, heldEpoch: .none)))
        var controlName = buffer
        controlName.setInteger(UInt8(0x07), at: ClusterFrame.headerLength + 1)  // "t1" -> "\u{7}1"
        XCTAssertThrowsError(try decoder.decode(&controlName)) {
            XCTAssertEqual($0 as? ClusterWireError, .invalidValue(field: "Hello node id", reason: "not a valid node id"))
        }
        buffer.setInteger(UInt8(5), at: ClusterFrame.headerLength + 3)  // address family byte
        XCTAssertThrowsError(try decoder.decode(&buffer)) {
            XCTAssertEqual($0 as? ClusterWireError, .invalidValue(field: "Hello cluster address", reason: "address family 5"))
        }
    }

    func testKeyBytesNeverAppearInDescriptions() throws {
        let sa = Fixture.sa(1)
        let texts = ["\(ClusterMessage.installSA(.init(sa: sa)))", "\(sa)", String(reflecting: sa.algorithms[0].key)]
        for text in texts {
            XCTAssertTrue(text.contains("<redacted 36 bytes>"), text)
            XCTAssertFalse(text.lowercased().contains("a5a5"), text)
            XCTAssertFalse(text.contains("165"), text)  // 0xA5 in decimal
        }
    }

    /// Random byte strings and random mutations of valid frames: the decoder returns, throws
    /// a ClusterWireError, or asks for more bytes; it never traps and always makes progress.
    func testRandomGarbageNeverTraps() throws {
        var generator = SeededGenerator(seed: 0xC1A55)
        let valid = try allMessages().map { Fixture.frame($0) }
        for round in 0..<5000 {
            var buffer: ByteBuffer
            if round % 2 == 0 {
                let length = Int.random(in: 0..<64, using: &generator)
                buffer = ByteBuffer(bytes: (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
            } else {
                buffer = valid[Int.random(in: 0..<valid.count, using: &generator)]
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    let index = Int.random(in: 0..<buffer.writerIndex, using: &generator)
                    buffer.setInteger(UInt8.random(in: 0...255, using: &generator), at: index)
                }
            }
            var steps = 0
            while buffer.readableBytes > 0 && steps < 100 {
                steps += 1
                let before = buffer.readableBytes
                do {
                    guard try decoder.decode(&buffer) != nil else { break }
                } catch let error as ClusterWireError {
                    if error.closesConnection { break }
                    XCTAssertLessThan(buffer.readableBytes, before, "a body error consumes its frame")
                } catch {
                    XCTFail("unexpected error type \(error)")
                }
            }
        }
    }

    /// Cluster bytes per SA per target (before TLS): the layout summed by hand, field by field.
    func testFrameSizesMatchTheLayout() {
        // header 8; id 8, epoch 8, generation 4, spi 4, direction 1, addresses 2 * 5,
        // protocol 1, mode 1, algorithm count 2, algorithm 1 + (1 + 17) + 2 + (2 + 36),
        // esn 1, window 4, lifetimes 48, report step 8, selectors 2 + 17, encap 1 + 4,
        // reqid 4, sequencing 1.
        let expected = 8 + 8 + 8 + 4 + 4 + 1 + 10 + 1 + 1 + 2 + 59 + 1 + 4 + 48 + 8 + 19 + 5 + 4 + 1
        XCTAssertEqual(Fixture.frame(.installSA(.init(sa: Fixture.sa(1)))).readableBytes, expected)
        XCTAssertEqual(Fixture.frame(.ack(.init(saID: ClusterSAID(1), operation: .installSA))).readableBytes, 8 + 9)
        XCTAssertEqual(Fixture.frame(.lifesizeReport(.init(saID: ClusterSAID(1), bytes: 1, packets: 1))).readableBytes, 8 + 25)
    }

    func testSecretBytesCompareAndCount() {
        XCTAssertEqual(SecretBytes([1, 2, 3]), SecretBytes([1, 2, 3]))
        XCTAssertNotEqual(SecretBytes([1, 2, 3]), SecretBytes([1, 2, 4]))
        XCTAssertNotEqual(SecretBytes([1, 2, 3]), SecretBytes([1, 2]))
        XCTAssertEqual(SecretBytes([9, 9]).count, 2)
    }
}
