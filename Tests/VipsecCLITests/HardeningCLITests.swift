import Foundation
import XCTest

/// The real daemon, as root: `vipsec routing` (no kernel installs, loopback, high ports)
/// survives SIGHUPs sent while it starts, then every thread keeps CAP_NET_ADMIN alone and
/// runs as the configured user; a SIGHUP once up reloads (the file readable by that user).
extension VipsecCLITests {
    func testTheRoutingNodeSurvivesAnEarlySIGHUPThenRunsAsNobodyWithCAP_NET_ADMINInEveryThread() throws {
        guard getuid() == 0, let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              status.contains("CapEff:\t000001ff") || status.contains("CapEff:\t0000003f") else {
            throw XCTSkip("needs root with every capability")
        }
        guard let nobody = getpwnam("nobody")?.pointee else { throw XCTSkip("no user nobody") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vipsec-hardening-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        XCTAssertEqual(chown(directory.path, nobody.pw_uid, nobody.pw_gid), 0)
        let config = try Self.loopbackRoutingConfig(in: directory, port: 20000 + Int(getpid() % 10000),
                                                    daemon: "user = nobody", control: "")
        XCTAssertEqual(chmod(config.path, 0o600), 0)
        XCTAssertEqual(chown(config.path, nobody.pw_uid, nobody.pw_gid), 0)
        let log = directory.appendingPathComponent("log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["routing", "--config", config.path, "--no-kernel-installs"]
        let output = try FileHandle(forWritingTo: log)
        process.standardOutput = output
        process.standardError = output
        try process.run()
        defer { if process.isRunning { process.terminate(); process.waitUntilExit() } }
        let pid = process.processIdentifier
        func statusText(_ path: String = "/proc/\(pid)/status") -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        func bits(_ key: String) -> UInt64 {
            statusText().split(separator: "\n").first { $0.hasPrefix(key + ":") }.flatMap { UInt64($0.split(separator: "\t").last ?? "", radix: 16) } ?? 0
        }
        func logText() -> String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
        func waitFor(_ what: String, _ condition: () -> Bool) {
            let deadline = Date().addingTimeInterval(30)
            while !condition(), Date() < deadline { usleep(2000) }
            XCTAssertTrue(condition(), what)
        }
        // SIGHUP handled (ignored or caught) from the command's first line: send a burst then.
        waitFor("SIGHUP taken over") { (bits("SigIgn") | bits("SigCgt")) & 1 == 1 }
        for _ in 0..<5 { kill(pid, SIGHUP); usleep(1000) }
        waitFor("privileges dropped") { logText().contains("privileges dropped") }
        XCTAssertTrue(process.isRunning, logText())
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")
        XCTAssertGreaterThan(tasks.count, 1)
        for task in tasks {
            let text = statusText("/proc/\(pid)/task/\(task)/status")
            for key in ["CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"] {
                XCTAssertTrue(text.contains("\(key):\t0000000000001000"), "thread \(task) \(key): \(text)")
            }
            XCTAssertTrue(text.contains("Uid:\t\(nobody.pw_uid)\t\(nobody.pw_uid)\t\(nobody.pw_uid)\t\(nobody.pw_uid)"), text)
        }
        kill(pid, SIGHUP)
        waitFor("a reload as nobody") { logText().contains("reload of \(config.path): added: none") }
        process.terminate()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, logText())
    }

    /// The routing unit's CapabilityBoundingSet is enough to start: `vipsec routing` run with
    /// exactly that bounding set (setpriv, as systemd would) and `control { group = adm }`
    /// hands the socket to the group and drops to CAP_NET_ADMIN; the same set without
    /// CAP_CHOWN cannot (root is not in adm), so this test would have caught the unit without it.
    func testTheRoutingUnitsBoundingSetLetsTheDaemonGiveTheControlSocketItsGroup() throws {
        guard getuid() == 0, let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              status.contains("CapEff:\t000001ff") || status.contains("CapEff:\t0000003f") else {
            throw XCTSkip("needs root with every capability")
        }
        let unit = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("systemd/vipsec-routing.service")
        let line = try String(contentsOf: unit, encoding: .utf8).split(separator: "\n")
            .first { $0.hasPrefix("CapabilityBoundingSet=") }
        let capabilities = try XCTUnwrap(line).dropFirst("CapabilityBoundingSet=".count).split(separator: " ")
            .map { $0.lowercased().replacingOccurrences(of: "cap_", with: "") }
        XCTAssertTrue(capabilities.contains("chown"), "\(capabilities)")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vipsec-unit-caps-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.loopbackRoutingConfig(in: directory, port: 30000 + Int(getpid() % 10000),
                                                    daemon: "", control: "group = adm")
        XCTAssertEqual(chmod(config.path, 0o600), 0)
        func start(bounding: [String]) throws -> (started: Bool, output: String) {
            let log = directory.appendingPathComponent("log-\(bounding.count)")
            FileManager.default.createFile(atPath: log.path, contents: nil)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--bounding-set", "-all," + bounding.map { "+" + $0 }.joined(separator: ","),
                                 Self.binary.path, "routing", "--config", config.path, "--no-kernel-installs"]
            let output = try FileHandle(forWritingTo: log)
            process.standardOutput = output
            process.standardError = output
            try process.run()
            defer { if process.isRunning { process.terminate() }; process.waitUntilExit() }
            func logText() -> String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
            let deadline = Date().addingTimeInterval(30)
            while process.isRunning, !logText().contains("privileges dropped"), Date() < deadline { usleep(2000) }
            return (process.isRunning && logText().contains("privileges dropped"), logText())
        }
        let withUnitSet = try start(bounding: capabilities)
        XCTAssertTrue(withUnitSet.started, withUnitSet.output)
        XCTAssertTrue(withUnitSet.output.contains("(group adm)"), withUnitSet.output)
        let withoutChown = try start(bounding: capabilities.filter { $0 != "chown" })
        XCTAssertFalse(withoutChown.started, withoutChown.output)
        XCTAssertTrue(withoutChown.output.contains("cannot set its owner and mode: Operation not permitted"), withoutChown.output)
    }

    /// An unknown user or group is refused at load, naming the file, line and key (the
    /// agent's `key = value` file), or the option.
    func testTheAgentRefusesAnUnknownUserNamingFileLineAndKey() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("vipsec-target-user-\(getpid()).conf")
        try "# agent\nnode-id = t1\nuser = no-such-user-here\n".write(to: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(chmod(file.path, 0o600), 0)
        defer { try? FileManager.default.removeItem(at: file) }
        let fromFile = try run(["target", "--config", file.path])
        XCTAssertNotEqual(fromFile.status, 0)
        XCTAssertTrue(fromFile.output.contains("\(file.path):3: user: no user 'no-such-user-here' on this host"), fromFile.output)
        let fromFlag = try run(["target", "--config", file.path, "--user", "root", "--group", "no-such-group-here"])
        XCTAssertNotEqual(fromFlag.status, 0)
        XCTAssertTrue(fromFlag.output.contains("--group: no group 'no-such-group-here' on this host"), fromFlag.output)
    }

    /// A metrics address that is not ADDRESS:PORT is refused at load, naming the file, line
    /// and key, or the option.
    func testTheAgentRefusesABadMetricsAddressNamingFileLineAndKey() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("vipsec-target-metrics-\(getpid()).conf")
        try "# agent\nnode-id = t1\n\nmetrics = 127.0.0.1\n".write(to: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(chmod(file.path, 0o600), 0)
        defer { try? FileManager.default.removeItem(at: file) }
        let fromFile = try run(["target", "--config", file.path])
        XCTAssertNotEqual(fromFile.status, 0)
        XCTAssertTrue(fromFile.output.contains("\(file.path):4: metrics: '127.0.0.1' is not ADDRESS:PORT"), fromFile.output)
        let fromFlag = try run(["target", "--config", file.path, "--metrics", "host.example:9712"])
        XCTAssertNotEqual(fromFlag.status, 0)
        XCTAssertTrue(fromFlag.output.contains("--metrics: 'host.example' is not an IP address"), fromFlag.output)
    }

    /// `vipsec routing`'s file for these tests: loopback, high ports, the control socket in
    /// `directory`, plus a line for `vipsec { }` and one for `control { }`.
    static func loopbackRoutingConfig(in directory: URL, port: Int, daemon: String, control: String) throws -> URL {
        let config = directory.appendingPathComponent("r.conf")
        try """
            vipsec {
                listen = 127.0.0.1
                port = \(port)
                port_nat_t = \(port + 1)
                \(daemon)
                control {
                    socket = \(directory.path)/control.sock
                    \(control)
                }
            }
            """.write(to: config, atomically: true, encoding: .utf8)
        return config
    }
}
