import Foundation
import XCTest

/// Runs the built `vipsec` binary the way a user would.
final class VipsecCLITests: XCTestCase {
    static var binary: URL {
        // The test bundle lives in .build/<config>/; the executable sits beside it.
        Bundle(for: VipsecCLITests.self).bundleURL.deletingLastPathComponent().appendingPathComponent("vipsec")
    }

    func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func testVersion() throws {
        let result = try run(["--version"])
        XCTAssertEqual(result.status, 0)
        XCTAssertTrue(result.output.range(of: #"^\d+\.\d+\.\d+\n$"#, options: .regularExpression) != nil, result.output)
    }

    func testHelpNamesTheRoles() throws {
        let result = try run(["--help"])
        XCTAssertEqual(result.status, 0)
        XCTAssertTrue(result.output.contains("DVIPA"), result.output)
    }

    func testUnknownFlagIsAnErrorThatNamesIt() throws {
        let result = try run(["--no-such-flag"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.output.contains("--no-such-flag"), result.output)
    }
}
