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

    /// The configuration example in README.md must stay one that `vipsec routing --check` accepts.
    func testREADMEConfigurationExampleIsValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        guard let start = readme.range(of: "vipsec {\n    listen"),
              let end = readme.range(of: "```", range: start.lowerBound..<readme.endIndex) else {
            return XCTFail("README.md has no configuration example starting with `vipsec {`")
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("vipsec-readme-\(getpid()).conf")
        try String(readme[start.lowerBound..<end.lowerBound]).write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }

        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
        let loose = try run(["routing", "--config", file.path, "--check"])
        XCTAssertNotEqual(loose.status, 0, "a world-readable file with secrets must be refused")
        XCTAssertTrue(loose.output.contains("chmod 600"), loose.output)

        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
        let result = try run(["routing", "--config", file.path, "--check"])
        XCTAssertEqual(result.status, 0, result.output)
    }
}
