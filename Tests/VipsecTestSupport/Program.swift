import Foundation

/// A program a test's set-up runs (openssl, scripts/cluster-ca) exited non-zero.
public struct ProgramFailure: Error, CustomStringConvertible {
    public var description: String
}

/// Runs `executable` with `arguments` (in `directory`, if given) and waits for it; its
/// output is discarded, its standard error becomes the `ProgramFailure` when it fails.
public func runProgram(_ executable: URL, _ arguments: [String], in directory: URL? = nil) throws {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = directory }
    process.standardOutput = FileHandle.nullDevice
    let errors = Pipe()
    process.standardError = errors
    try process.run()
    let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw ProgramFailure(description: "\(executable.lastPathComponent) \(arguments.prefix(2).joined(separator: " ")) "
            + "exited \(process.terminationStatus): \(text)")
    }
}
