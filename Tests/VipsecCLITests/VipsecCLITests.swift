import Foundation
import XCTest

/// Runs the built `vipsec` binary the way a user would.
final class VipsecCLITests: XCTestCase {
    /// The executable built beside the test bundle (`.build/<triple>/<config>/vipsec`).
    static var binary: URL {
        let bundle = Bundle(for: VipsecCLITests.self).bundleURL
        let candidates = [bundle.appendingPathComponent("vipsec"),
                          bundle.deletingLastPathComponent().appendingPathComponent("vipsec")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
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
