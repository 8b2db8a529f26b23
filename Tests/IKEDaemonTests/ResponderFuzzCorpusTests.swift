import Foundation
import XCTest
import VipsecTestSupport
import IKEv2
import IKECrypto
import IKEFuzzSupport

/// The FuzzIKEResponder target's corpus (Tests/IKEv2Tests/Corpus/responder), replayed
/// through the same entry point as the fuzzer (IKESA.fuzzResponder with OpenSSL). Seeds are
/// named `<name>-<outcome>.bin` and must reach that outcome; `regression-*` inputs (fuzzer
/// findings, once fixed) must merely run through.
final class ResponderFuzzCorpusTests: XCTestCase {
    static let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let corpus = tests.appendingPathComponent("IKEv2Tests/Corpus/responder")
    static let fixtures = tests.appendingPathComponent("IKEv2Tests/Fixtures")
    let provider = OpenSSLCryptoProvider()

    func run(_ bytes: [UInt8]) throws -> ResponderFuzzOutcome {
        IKESA.fuzzResponder(bytes, configuration: try .fuzzResponder(), provider: provider)
    }

    /// Seeds from the strongSwan captures: IKE_SA_INIT as captured, then IKE_AUTH as captured
    /// (mode 0), its decrypted chain sealed by the harness (mode 1), the same with AUTH
    /// recomputed (mode 3), and that as three SKF fragments (mode 15).
    static func seeds() throws -> [(name: String, bytes: [UInt8])] {
        var result: [(String, [UInt8])] = []
        for run in ["x25519gcm", "cbcecp", "multi"] {
            func fixture(_ name: String) throws -> [UInt8] {
                [UInt8](try Data(contentsOf: fixtures.appendingPathComponent("strongswan-\(run)-\(name).bin")))
            }
            let initRequest = try fixture("1-ike_sa_init-request")
            let auth = try fixture("3-ike_auth-request")
            let chain = [auth[28]] + (try fixture("3-ike_auth-request.plaintext"))   // SK's Next Payload + plaintext
            result.append(("\(run)-raw-authDropped.bin", ResponderFuzzInput.make(initRequest: initRequest, mode: 0, rest: auth)))
            result.append(("\(run)-sealed-authRefused.bin", ResponderFuzzInput.make(initRequest: initRequest, mode: 1, rest: chain)))
            result.append(("\(run)-fixedauth-established1.bin", ResponderFuzzInput.make(initRequest: initRequest, mode: 3, rest: chain)))
            // The same as three RFC 7383 fragments (mode bits 0, 1, 2; 2 + 1 fragments).
            result.append(("\(run)-fragmented-established1.bin", ResponderFuzzInput.make(initRequest: initRequest, mode: 3 | 4 | 1 << 3, rest: chain)))
        }
        return result
    }

    func testSeedsMatchTheFixtures() throws {
        // Regenerate with IKEV2_WRITE_CORPUS=1.
        for (name, bytes) in try Self.seeds() {
            let url = Self.corpus.appendingPathComponent(name)
            if ProcessInfo.processInfo.environment["IKEV2_WRITE_CORPUS"] == "1" { try Data(bytes).write(to: url) }
            XCTAssertEqual([UInt8](try Data(contentsOf: url)), bytes, name)
        }
    }

    func testEveryCorpusFileRunsThroughTheResponder() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path).filter { $0.hasSuffix(".bin") }.sorted()
        XCTAssertGreaterThanOrEqual(names.count, 12)
        for name in names {
            let bytes = [UInt8](try Data(contentsOf: Self.corpus.appendingPathComponent(name)))
            let outcome = try run(bytes)
            if !name.hasPrefix("regression-") {
                let expected = String(name.dropLast(4).split(separator: "-").last ?? "")
                XCTAssertEqual(outcome.corpusName, expected, name)
            }
        }
    }

    /// Replays a corpus and prints how far its inputs got: the committed seeds, or with
    /// VIPSEC_FUZZ_TALLY=DIR (e.g. .build-fuzz/corpus-FuzzIKEResponder) a fuzzer's own corpus.
    /// The seeds must reach an established IKE_SA.
    func testTallyOfAFuzzerCorpus() throws {
        let directory = ProcessInfo.processInfo.environment["VIPSEC_FUZZ_TALLY"] ?? Self.corpus.path
        var tally: [String: Int] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory).appendingPathComponent(name)))
            tally[try run(bytes).corpusName, default: 0] += 1
        }
        print("fuzz corpus tally: \(tally.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
        XCTAssertFalse(tally.isEmpty)
        XCTAssertTrue(tally.keys.contains { $0.hasPrefix("established") }, "no input of \(directory) reaches an established IKE_SA")
    }

    func testMalformedSplitsAreRefusedBeforeAnyWork() throws {
        XCTAssertEqual(try run([]), .malformedInput)
        XCTAssertEqual(try run([0, 5, 1, 2]), .malformedInput, "length beyond the input")
        XCTAssertEqual(try run([UInt8](repeating: 0, count: ResponderFuzzInput.maximumLength + 1)), .malformedInput)
        XCTAssertEqual(try run([0, 0, 0]), .initDropped, "an empty IKE_SA_INIT")
    }

    /// 300 seeded mutations of the seeds through the entry point: none may trap, and they
    /// must spread over the outcomes (the harness reaches past parsing).
    func testSeededMutationsSpreadOverTheOutcomes() throws {
        let seeds = try Self.seeds().map(\.bytes)
        var mutator = SeedMutator(seed: 0x5EED_0FF5)
        var seen: [String: Int] = [:]
        for _ in 0..<300 {
            let bytes = mutator.next(of: seeds)
            seen[try run(bytes).corpusName, default: 0] += 1
        }
        XCTAssertGreaterThan(seen["established1", default: 0], 0, "\(seen)")
        XCTAssertGreaterThan(seen["authRefused", default: 0] + seen["authDropped", default: 0], 0, "\(seen)")
        XCTAssertGreaterThan(seen["initRefused", default: 0] + seen["initDropped", default: 0], 0, "\(seen)")
    }
}
