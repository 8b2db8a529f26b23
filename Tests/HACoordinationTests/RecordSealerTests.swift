import Cluster
import Foundation
import HACoordination
import XCTest

/// RecordSealer: what etcd holds opens only with the seal key, only under the etcd key it
/// was written to, and only untampered.
final class RecordSealerTests: XCTestCase {
    let key = SecretBytes((0..<32).map { UInt8($0 * 7 & 0xff) })
    let plaintext = SecretBytes(Array("SK_d and friends, in the clear".utf8))
    let etcdKey = "/vipsec/lab/ike/0123456789abcdef"

    func testRoundTripAndNothingInTheClear() throws {
        let sealer = try RecordSealer(key: key)
        let sealed = try sealer.seal(plaintext, etcdKey: etcdKey)
        XCTAssertEqual(try sealer.open(sealed, etcdKey: etcdKey), plaintext)
        XCTAssertEqual(sealed.count, plaintext.count + 1 + 4 + 12 + 16)
        let clear = plaintext.unprotectedCopy()
        XCTAssertFalse(sealed.indices.dropLast(8).contains { Array(sealed[$0..<$0 + 8]) == Array(clear.prefix(8)) },
                       "the plaintext does not appear in the sealed value")
        XCTAssertNotEqual(try sealer.seal(plaintext, etcdKey: etcdKey), sealed, "a fresh nonce each time")
    }

    func testMovedToAnotherEtcdKeyItDoesNotOpen() throws {
        let sealer = try RecordSealer(key: key)
        let sealed = try sealer.seal(plaintext, etcdKey: etcdKey)
        XCTAssertThrowsError(try sealer.open(sealed, etcdKey: "/vipsec/lab/ike/fedcba9876543210")) {
            XCTAssertEqual($0 as? SealError, .authenticationFailed)
        }
    }

    func testEveryTamperedOctetIsRefused() throws {
        let sealer = try RecordSealer(key: key)
        let sealed = try sealer.seal(plaintext, etcdKey: etcdKey)
        for index in sealed.indices {
            var tampered = sealed
            tampered[index] ^= 0x01
            XCTAssertThrowsError(try sealer.open(tampered, etcdKey: etcdKey), "octet \(index)") { error in
                let expected: SealError = index == 0 ? .unsupportedVersion(sealed[0] ^ 1)
                    : index < 5 ? .otherKey(tampered[1..<5].map { String(format: "%02x", $0) }.joined()) : .authenticationFailed
                XCTAssertEqual(error as? SealError, expected, "octet \(index)")
            }
        }
        for length in 0..<sealed.count {
            XCTAssertThrowsError(try sealer.open(Array(sealed.prefix(length)), etcdKey: etcdKey), "prefix \(length)")
        }
    }

    func testAnotherKeyIsNamedNotMistakenForTampering() throws {
        let sealed = try RecordSealer(key: key).seal(plaintext, etcdKey: etcdKey)
        let other = try RecordSealer(key: SecretBytes(Array(repeating: 0x55, count: 32)))
        XCTAssertThrowsError(try other.open(sealed, etcdKey: etcdKey)) { error in
            guard case SealError.otherKey = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try RecordSealer(key: SecretBytes(zeroes: 16))) { XCTAssertEqual($0 as? SealError, .keyLength(16)) }
    }

    func testKeyFileMustBeThirtyTwoOctetsOnlyItsOwnerReads() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("seal-\(getpid())-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("seal.key").path
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(key.unprotectedCopy()),
                                                     attributes: [.posixPermissions: 0o600]))
        let sealed = try RecordSealer(keyFile: path).seal(plaintext, etcdKey: etcdKey)
        XCTAssertEqual(try RecordSealer(key: key).open(sealed, etcdKey: etcdKey), plaintext, "the file's key is the key")
        chmod(path, 0o640)
        XCTAssertThrowsError(try RecordSealer(keyFile: path)) { XCTAssertTrue("\($0)".contains("chmod 600"), "\($0)") }
        chmod(path, 0o600)
        try Data(repeating: 1, count: 31).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try RecordSealer(keyFile: path)) { XCTAssertTrue("\($0)".contains("31 octets"), "\($0)") }
        XCTAssertThrowsError(try RecordSealer(keyFile: directory.appendingPathComponent("missing").path))
    }
}
