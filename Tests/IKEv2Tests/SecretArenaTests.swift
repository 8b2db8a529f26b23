import XCTest
import Foundation
@testable import Secrets

/// Secrets live in pages that core dumps leave out: the mapping holding each one carries
/// the `dd` (MADV_DONTDUMP) flag in /proc/self/smaps, which the kernel's core dump and
/// gdb's gcore both honour. Ordinary heap memory does not.
final class SecretArenaTests: XCTestCase {
    /// The VmFlags of the mapping that holds `address`, from /proc/self/smaps.
    func vmFlags(of address: UInt) throws -> [String] {
        // Read line by line (a /proc file's size is 0: whole-file readers may stop early).
        guard let file = fopen("/proc/self/smaps", "r") else { throw XCTSkip("no /proc/self/smaps") }
        defer { fclose(file) }
        var lines: [String] = []
        var buffer = [CChar](repeating: 0, count: 4096)
        while fgets(&buffer, Int32(buffer.count), file) != nil {
            lines.append(String(cString: buffer).trimmingCharacters(in: .newlines))
        }
        var inside = false
        for line in lines {
            let fields = line.split(separator: " ")
            if let range = fields.first, range.contains("-"), !range.hasSuffix(":") {
                let bounds = range.split(separator: "-").compactMap { UInt($0, radix: 16) }
                inside = bounds.count == 2 && address >= bounds[0] && address < bounds[1]
            } else if inside, line.hasPrefix("VmFlags:") {
                return fields.dropFirst().map(String.init)
            }
        }
        throw XCTSkip("no mapping for \(String(address, radix: 16)) in /proc/self/smaps")
    }

    func address(_ secret: SecretBytes) -> UInt {
        secret.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
    }

    func testEverySizeOfSecretLiesInPagesLeftOutOfCoreDumps() throws {
        let before = SecretArena.heapFallbacks
        for size in [0, 1, 16, 17, 32, 100, 4096, 4097, 100_000] {
            let secret = SecretBytes([UInt8](repeating: 0xA5, count: size))
            XCTAssertEqual(secret.count, size)
            XCTAssertTrue(secret.withUnsafeBytes { $0.allSatisfy { $0 == 0xA5 } })
            XCTAssertTrue(try vmFlags(of: address(secret)).contains("dd"), "a secret of \(size) octets is dumped")
        }
        XCTAssertEqual(SecretArena.heapFallbacks, before, "no secret fell back to the heap")
        // The control: an ordinary array's storage is not excluded, so the check above can fail.
        let plain = [UInt8](repeating: 1, count: 64)
        let plainAddress = plain.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
        XCTAssertFalse(try vmFlags(of: plainAddress).contains("dd"))
    }

    func testASlotIsWipedAndReusedAndSecretsDoNotOverlap() {
        var addresses: Set<UInt> = []
        var secrets: [SecretBytes] = []
        for index in 0..<3000 {   // several 64 KiB chunks of the 32-octet class
            let secret = SecretBytes([UInt8](repeating: UInt8(truncatingIfNeeded: index), count: 32))
            XCTAssertTrue(addresses.insert(address(secret)).inserted)
            secrets.append(secret)
        }
        for (index, secret) in secrets.enumerated() {
            XCTAssertTrue(secret.withUnsafeBytes { $0.allSatisfy { $0 == UInt8(truncatingIfNeeded: index) } },
                          "secret \(index) kept its octets")
        }
        let freed = address(secrets.removeLast())
        let reused = SecretBytes(zeroes: 32)
        XCTAssertEqual(address(reused), freed, "the freed slot is the next one handed out")
        XCTAssertTrue(reused.withUnsafeBytes { $0.allSatisfy { $0 == 0 } }, "and it holds nothing of the old secret")
    }

    func testSecretsAreMadeAndFreedFromManyThreadsAtOnce() {
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for round in 0..<2000 {
                let size = [16, 48, 200, 5000][round % 4]
                let secret = SecretBytes([UInt8](repeating: UInt8(thread), count: size))
                precondition(secret.withUnsafeBytes { $0.allSatisfy { $0 == UInt8(thread) } })
            }
        }
    }
}
