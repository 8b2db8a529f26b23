import Foundation
import IKEv2
import XCTest

/// Octets from hex; spaces, colons and newlines are ignored. Traps on bad hex: test data only.
func hex(_ string: String) -> [UInt8] {
    let digits = string.filter { $0.isHexDigit }
    precondition(digits.count % 2 == 0, "odd number of hex digits")
    var bytes: [UInt8] = []
    var index = digits.startIndex
    while index < digits.endIndex {
        let next = digits.index(index, offsetBy: 2)
        bytes.append(UInt8(digits[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

func hexString(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

extension SecretBytes {
    /// Test-only view of a secret, for comparing with known answers.
    var bytes: [UInt8] { unprotectedCopy() }
}

/// Asserts that `body` throws an `IKECryptoError` matching `matches`.
func XCTAssertThrowsCryptoError<T>(_ body: @autoclosure () throws -> T, _ message: String = "",
                                   file: StaticString = #filePath, line: UInt = #line,
                                   matches: (IKECryptoError) -> Bool) {
    do {
        _ = try body()
        XCTFail("expected an IKECryptoError, nothing thrown. \(message)", file: file, line: line)
    } catch let error as IKECryptoError {
        XCTAssertTrue(matches(error), "unexpected error \(error). \(message)", file: file, line: line)
    } catch {
        XCTFail("unexpected error type \(error). \(message)", file: file, line: line)
    }
}
