import Foundation
import IKEv2
import VipsecTestSupport
import XCTest

/// Octets from hex; spaces, colons and newlines are ignored. Traps on bad hex: test data only.
func hex(_ string: String) -> [UInt8] { hexBytes(string) }

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
