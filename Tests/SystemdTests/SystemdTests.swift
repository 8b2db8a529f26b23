import Foundation
import XCTest
@testable import Systemd

/// sd_notify against a real NOTIFY_SOCKET listener (a path and the abstract namespace), the
/// watchdog's interval and pings, and the unit files checked by `systemd-analyze verify`.
final class SystemdTests: XCTestCase {
    /// A datagram socket bound like systemd's notify socket; `next()` waits for one message.
    final class Listener {
        let fd: Int32
        let name: String
        let path: String?

        init(abstract: Bool) throws {
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            let unique = "vipsec-notify-test-\(getpid())-\(UInt32.random(in: 0 ... .max))"
            if abstract {
                name = "@" + unique
                path = nil
            } else {
                path = NSTemporaryDirectory() + unique + ".sock"
                name = path!
            }
            guard var (address, length) = SystemdNotifier.address(name) else { throw SystemdNotifyError("no address for \(name)") }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
            }
            guard bound == 0 else { throw SystemdNotifyError("bind \(name): \(String(cString: strerror(errno)))") }
            var wait = timeval(tv_sec: 3, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        }

        func next() -> String? {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            return count < 0 ? nil : String(decoding: buffer[0..<count], as: UTF8.self)
        }

        deinit {
            close(fd)
            if let path { unlink(path) }
        }
    }

    func testReadyReachesAListenerOnAPath() throws {
        let listener = try Listener(abstract: false)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": listener.name])
        XCTAssertTrue(try notifier.notify("READY=1\nSTATUS=up"))
        XCTAssertEqual(listener.next(), "READY=1\nSTATUS=up")
        XCTAssertTrue(try notifier.notify("STOPPING=1"))
        XCTAssertEqual(listener.next(), "STOPPING=1")
    }

    func testReadyReachesAListenerInTheAbstractNamespace() throws {
        let listener = try Listener(abstract: true)
        XCTAssertTrue(listener.name.hasPrefix("@"))
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": listener.name])
        XCTAssertTrue(try notifier.notify("READY=1"))
        XCTAssertEqual(listener.next(), "READY=1")
    }

    func testTheAbstractAddressLengthCountsOnlyTheName() throws {
        let (address, length) = try XCTUnwrap(SystemdNotifier.address("@abc"))
        XCTAssertEqual(Int(length), MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + 4, "NUL + 'abc', no terminator")
        let first = withUnsafeBytes(of: address.sun_path) { Array($0.prefix(4)) }
        XCTAssertEqual(first, [0, UInt8(ascii: "a"), UInt8(ascii: "b"), UInt8(ascii: "c")])
        let (_, pathLength) = try XCTUnwrap(SystemdNotifier.address("/run/x"))
        XCTAssertEqual(Int(pathLength), MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + 7, "'/run/x' and its NUL")
    }

    func testOutsideSystemdNothingIsSent() throws {
        XCTAssertFalse(try SystemdNotifier(environment: [:]).notify("READY=1"))
        XCTAssertFalse(try SystemdNotifier(environment: ["NOTIFY_SOCKET": ""]).notify("READY=1"))
    }

    func testABadNotifySocketIsAnErrorNamingIt() {
        XCTAssertThrowsError(try SystemdNotifier(environment: ["NOTIFY_SOCKET": "relative/path"]).notify("READY=1")) {
            XCTAssertTrue("\($0)".contains("relative/path"), "\($0)")
        }
        let missing = NSTemporaryDirectory() + "vipsec-no-listener-\(getpid()).sock"
        XCTAssertThrowsError(try SystemdNotifier(environment: ["NOTIFY_SOCKET": missing]).notify("READY=1")) {
            XCTAssertTrue("\($0)".contains(missing), "\($0)")
        }
    }

    func testTheWatchdogIsOursOnlyWhenThePIDMatches() {
        XCTAssertEqual(SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000"], pid: 42).watchdogMicroseconds, 30_000_000)
        XCTAssertEqual(SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"], pid: 42).watchdogMicroseconds,
                       30_000_000)
        XCTAssertNil(SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "43"], pid: 42).watchdogMicroseconds)
        XCTAssertNil(SystemdNotifier(environment: ["WATCHDOG_USEC": "0"]).watchdogMicroseconds)
        XCTAssertNil(SystemdNotifier(environment: ["WATCHDOG_USEC": "soon"]).watchdogMicroseconds)
        XCTAssertEqual(SystemdWatchdog.pingInterval(watchdogMicroseconds: 30_000_000), .microseconds(15_000_000), "half")
        XCTAssertNil(SystemdWatchdog(SystemdNotifier(environment: ["NOTIFY_SOCKET": "/x"]), alive: { true }), "no WatchdogSec: none")
    }

    func testTheWatchdogPingsWhileAliveAndStopsWhenNot() throws {
        let listener = try Listener(abstract: true)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": listener.name, "WATCHDOG_USEC": "200000"])
        let alive = LockedFlag(true)
        let errors = LockedFlag(false)
        let watchdog = try XCTUnwrap(SystemdWatchdog(notifier, alive: { alive.value }, onError: { _ in errors.value = true }))
        defer { watchdog.stop() }
        XCTAssertEqual(listener.next(), "WATCHDOG=1")
        XCTAssertEqual(listener.next(), "WATCHDOG=1")
        alive.value = false
        var tv = timeval(tv_sec: 0, tv_usec: 500_000)
        setsockopt(listener.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        _ = listener.next()   // one may have been in flight
        XCTAssertNil(listener.next(), "a daemon that does not answer gets no WATCHDOG=1")
        XCTAssertTrue(errors.value, "and says so")
    }

    // MARK: The unit files

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// `systemd-analyze verify` of a copy of each unit whose ExecStart names an existing binary;
    /// its output must be empty (it exits 0 even for unknown keys, so the output is what counts).
    func verify(_ unit: String, edit: (String) -> String = { $0 }) throws -> String {
        let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let analyze else { throw XCTSkip("systemd-analyze is not installed (scripts/setup installs systemd)") }
        let text = try String(contentsOf: Self.repository.appendingPathComponent("systemd/\(unit)"), encoding: .utf8)
        let directory = NSTemporaryDirectory() + "vipsec-units-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let copy = directory + "/" + unit
        try edit(text.replacingOccurrences(of: "/usr/local/bin/vipsec", with: "/bin/true")).write(toFile: copy, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: analyze)
        process.arguments = ["verify", copy]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return output + (process.terminationStatus == 0 ? "" : "exit status \(process.terminationStatus)")
    }

    func testTheRoutingUnitVerifies() throws {
        XCTAssertEqual(try verify("vipsec-routing.service"), "")
        let text = try String(contentsOf: Self.repository.appendingPathComponent("systemd/vipsec-routing.service"), encoding: .utf8)
        for line in ["Type=notify", "WatchdogSec=", "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_SETPCAP CAP_SETUID CAP_SETGID CAP_CHOWN\n",
                     "NoNewPrivileges=yes",
                     "ProtectSystem=strict", "ReadWritePaths=/run/vipsec", "LimitCORE=0"] {
            XCTAssertTrue(text.contains("\n" + line), line)
        }
    }

    func testTheTargetUnitVerifies() throws {
        XCTAssertEqual(try verify("vipsec-target.service"), "")
        let text = try String(contentsOf: Self.repository.appendingPathComponent("systemd/vipsec-target.service"), encoding: .utf8)
        for line in ["Type=notify", "WatchdogSec=", "CapabilityBoundingSet=CAP_NET_ADMIN\n", "NoNewPrivileges=yes",
                     "ProtectSystem=strict", "ReadWritePaths=/run/vipsec"] {
            XCTAssertTrue(text.contains("\n" + line), line)
        }
    }

    /// The check can fail: a misspelt key is reported.
    func testAMisspeltKeyFailsTheCheck() throws {
        let output = try verify("vipsec-routing.service") { $0.replacingOccurrences(of: "NoNewPrivileges=", with: "NoNewPrivilege=") }
        XCTAssertTrue(output.contains("Unknown key") && output.contains("NoNewPrivilege"), output)
    }
}

final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Bool
    init(_ value: Bool) { stored = value }
    var value: Bool {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

final class HardeningTests: XCTestCase {
    /// The real prctl: after disableCoreDumps() the kernel reports the process not dumpable.
    /// (Restored afterwards: the test runner keeps its crash reports.)
    func testAfterDisablingCoreDumpsTheKernelSaysNotDumpable() throws {
        XCTAssertTrue(Hardening.isDumpable, "a test process starts dumpable")
        try Hardening.disableCoreDumps()
        defer { Hardening.restoreDumpableForTests() }
        XCTAssertFalse(Hardening.isDumpable)
    }

    /// The capability sets as /proc shows them: bit N for capability N.
    func testTheMaskOfCAP_NET_ADMINIs0x1000() {
        XCTAssertEqual(Hardening.mask(Hardening.daemonCapabilities), 0x1000)
        XCTAssertEqual(Hardening.mask([10, 12]), 0x1400, "CAP_NET_BIND_SERVICE and CAP_NET_ADMIN")
        XCTAssertEqual(Hardening.mask([]), 0)
        XCTAssertEqual(Hardening.mask([40]), 1 << 40)
    }

    func testProcStatusIsParsedAndComparedWithWhatTheDropLeaves() throws {
        let status = """
            Name:\tvipsec
            Uid:\t65534\t65534\t65534\t65534
            Gid:\t65534\t65534\t65534\t65534
            CapInh:\t0000000000001000
            CapPrm:\t0000000000001000
            CapEff:\t0000000000001000
            CapBnd:\t0000000000001000
            CapAmb:\t0000000000001000
            NoNewPrivs:\t0
            """
        let found = try XCTUnwrap(ThreadCredentials(status: status))
        XCTAssertEqual(found.effective, 0x1000)
        XCTAssertEqual(found.uids, [65534, 65534, 65534, 65534])
        XCTAssertTrue(ThreadCredentials.expected(capabilities: [12], uid: 65534, gid: 65534).matches(found))
        XCTAssertTrue(ThreadCredentials.expected(capabilities: [12], uid: 65534, gid: nil).matches(found), "gid not asked: any")
        XCTAssertFalse(ThreadCredentials.expected(capabilities: [12], uid: 0, gid: nil).matches(found), "another uid")
        XCTAssertFalse(ThreadCredentials.expected(capabilities: [12], uid: nil, gid: nil).matches(found),
                       "uid 0 keeps no ambient capabilities")
        let root = status.replacingOccurrences(of: "65534", with: "0").replacingOccurrences(of: "CapAmb:\t0000000000001000", with: "CapAmb:\t0000000000000000")
        XCTAssertTrue(ThreadCredentials.expected(capabilities: [12], uid: nil, gid: nil).matches(try XCTUnwrap(ThreadCredentials(status: root))))
        let full = root.replacingOccurrences(of: "CapBnd:\t0000000000001000", with: "CapBnd:\t000001ffffffffff")
        XCTAssertFalse(ThreadCredentials.expected(capabilities: [12], uid: nil, gid: nil).matches(try XCTUnwrap(ThreadCredentials(status: full))),
                       "a bounding set with more fails")
        XCTAssertNil(ThreadCredentials(status: "Name:\tx\nCapEff:\t0\n"), "lines missing")
    }

    /// This process's own threads, read as `verifyAllThreads` reads them: the test runner is
    /// not dropped, so a check for CAP_NET_ADMIN alone fails naming a thread.
    func testVerifyingAllThreadsReadsEveryThreadOfThisProcess() throws {
        let own = try XCTUnwrap(Hardening.readSmallFile("/proc/self/status").flatMap(ThreadCredentials.init(status:)))
        XCTAssertNoThrow(try Hardening.verifyAllThreads(own))
        if own.bounding != 0x1000 {
            XCTAssertThrowsError(try Hardening.verifyAllThreads(ThreadCredentials.expected(capabilities: [12], uid: nil, gid: nil))) {
                XCTAssertTrue("\($0)".contains("thread "), "\($0)")
            }
        }
    }

    /// Under a unit whose bounding set lacks CAP_SETPCAP (or CAP_SETUID/CAP_SETGID with a
    /// user), the drop is refused with the capability named, before anything changed.
    func testADropTheProcessCannotDoIsRefusedNamingTheMissingCapability() {
        func credentials(effective: UInt64, bounding: UInt64) -> ThreadCredentials {
            ThreadCredentials(effective: effective, permitted: effective, inheritable: 0, bounding: bounding, ambient: 0, uids: [], gids: [])
        }
        let unit = Hardening.mask([12, 10]), keep = Hardening.mask([12])
        XCTAssertThrowsError(try Hardening.checkPossible(from: credentials(effective: unit, bounding: unit), keeping: keep, switchingIDs: false)) {
            XCTAssertTrue("\($0)".contains("CAP_SETPCAP"), "\($0)")
        }
        let withSetpcap = unit | Hardening.mask([8])
        XCTAssertNoThrow(try Hardening.checkPossible(from: credentials(effective: withSetpcap, bounding: withSetpcap), keeping: keep, switchingIDs: false))
        XCTAssertNoThrow(try Hardening.checkPossible(from: credentials(effective: keep, bounding: keep), keeping: keep, switchingIDs: false),
                         "already narrowed (a unit with CAP_NET_ADMIN alone): nothing to drop")
        XCTAssertThrowsError(try Hardening.checkPossible(from: credentials(effective: withSetpcap, bounding: withSetpcap), keeping: keep, switchingIDs: true)) {
            XCTAssertTrue("\($0)".contains("CAP_SETUID"), "\($0)")
        }
        let all = withSetpcap | Hardening.mask([6, 7])
        XCTAssertNoThrow(try Hardening.checkPossible(from: credentials(effective: all, bounding: all), keeping: keep, switchingIDs: true))
    }
}
