// Hostile input in bulk: 10,000 seeded mutations of valid messages must each parse or
// throw a typed error (never trap, never round-trip differently), and the committed
// corpus (Corpus/*.bin, seeds for the libFuzzer target) is replayed through the parser.

import Foundation
import IKEFuzzSupport
import NIOCore
import VipsecTestSupport
import XCTest
@testable import IKEv2

final class FuzzAndMutationTests: XCTestCase {
    private func seeds() throws -> [[UInt8]] {
        try TestFiles.files(in: "Corpus").map(\.bytes)
    }

    func testCorpusReplaysAndParses() throws {
        let corpus = try TestFiles.files(in: "Corpus")
        XCTAssertGreaterThanOrEqual(corpus.count, 6)
        for (name, bytes) in corpus {
            let outcome = bytes.withUnsafeBytes { IKEMessage.fuzzParse($0) }
            XCTAssertEqual(outcome, .parsed, name)
        }
    }

    func testHandBuiltCorpusSeedsMatchTheirSources() throws {
        // The hand-built seeds are the Samples messages; regenerate with IKEV2_WRITE_CORPUS=1.
        let generated: [(String, IKEMessage)] = [
            ("vipsec-ike_sa_init-request.bin", Samples.ikeSAInitRequest),
            ("vipsec-every-payload.bin", IKEMessage(header: IKEHeader(initiatorSPI: 1, responderSPI: 2, exchangeType: .createChildSA,
                                                                      flags: [.initiator], messageID: 3),
                                                    payloads: Samples.everyPayload)),
        ]
        for (name, message) in generated {
            let url = TestFiles.directory.appendingPathComponent("Corpus").appendingPathComponent(name)
            if ProcessInfo.processInfo.environment["IKEV2_WRITE_CORPUS"] == "1" {
                try Data(Array(buffer: message.bytes)).write(to: url)
            }
            XCTAssertEqual([UInt8](try Data(contentsOf: url)), Array(buffer: message.bytes), name)
        }
    }

    func testFuzzParseRejectsNoise() {
        let outcome = [UInt8](repeating: 0xFF, count: 40).withUnsafeBytes { IKEMessage.fuzzParse($0) }
        XCTAssertEqual(outcome, .rejected(.invalidMajorVersion(15)))
        XCTAssertEqual([UInt8]().withUnsafeBytes { IKEMessage.fuzzParse($0) }, .rejected(.truncated("IKE header")))
    }

    func testTenThousandSeededMutations() throws {
        let seeds = try seeds()
        XCTAssertFalse(seeds.isEmpty)
        var random = SeededGenerator(seed: 0x5EED_1CE5)
        var parsed = 0, rejected = 0
        var notifies: Set<NotifyMessageType> = []
        for _ in 0..<10_000 {
            var bytes = seeds[Int.random(in: 0..<seeds.count, using: &random)]
            switch Int.random(in: 0..<10, using: &random) {
            case 0:
                bytes.removeLast(Int.random(in: 0...bytes.count, using: &random))
            case 1:
                bytes += (0..<Int.random(in: 1...8, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            default:
                for _ in 0..<Int.random(in: 1...4, using: &random) where !bytes.isEmpty {
                    // Bias towards the header and payload headers, where lengths and types live.
                    let limit = Bool.random(using: &random) ? min(bytes.count, 64) : bytes.count
                    let index = Int.random(in: 0..<limit, using: &random)
                    if Bool.random(using: &random) {
                        bytes[index] ^= UInt8(1) << UInt8.random(in: 0...7, using: &random)
                    } else {
                        bytes[index] = UInt8.random(in: 0...255, using: &random)
                    }
                }
            }
            switch bytes.withUnsafeBytes({ IKEMessage.fuzzParse($0) }) {
            case .parsed: parsed += 1
            case .rejected(let error):
                rejected += 1
                notifies.insert(error.notifyMessageType)
            case .roundTripMismatch:
                XCTFail("round trip mismatch for \(bytes)")
            }
        }
        // Both outcomes occur, so the test exercises the parser, not just its first check.
        XCTAssertGreaterThan(parsed, 100)
        XCTAssertGreaterThan(rejected, 1_000)
        XCTAssertTrue(notifies.contains(.invalidSyntax))
        XCTAssertTrue(notifies.contains(.invalidMajorVersion))
        print("mutations: \(parsed) parsed, \(rejected) rejected")
    }

    func testRandomGarbageNeverTraps() {
        var random = SeededGenerator(seed: 42)
        var typedErrors = 0
        for _ in 0..<2_000 {
            let length = Int.random(in: 0...300, using: &random)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            if bytes.count >= 28 {
                // Make the header plausible so the payload parsers are reached.
                bytes[17] = 0x20
                bytes[24] = 0; bytes[25] = 0
                bytes[26] = UInt8(bytes.count >> 8); bytes[27] = UInt8(bytes.count & 0xFF)
            }
            if case .rejected = bytes.withUnsafeBytes({ IKEMessage.fuzzParse($0) }) { typedErrors += 1 }
        }
        XCTAssertGreaterThan(typedErrors, 1_000)
    }
}
