import Foundation
import XCTest

/// The operator commands as a user types them, without a daemon: errors name what is wrong,
/// exit status non-zero.
extension VipsecCLITests {
    func testListSAsWithoutADaemonSaysSoAndFails() throws {
        let socket = NSTemporaryDirectory() + "vipsec-no-daemon-\(getpid()).sock"
        let result = try run(["list-sas", "--socket", socket])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.output.contains("cannot connect to the control socket \(socket)"), result.output)
        XCTAssertTrue(result.output.contains("is vipsec routing running?"), result.output)
    }

    func testTerminateAndRekeyWantExactlyOneSelector() throws {
        for command in ["terminate", "rekey"] {
            let none = try run([command])
            XCTAssertNotEqual(none.status, 0)
            XCTAssertTrue(none.output.contains("exactly one of --ike, --ike-id, --child, --child-id"), none.output)
            let two = try run([command, "--ike", "gw", "--child", "net"])
            XCTAssertNotEqual(two.status, 0)
            let badID = try run([command, "--child-id", "not-hex"])
            XCTAssertNotEqual(badID.status, 0)
            XCTAssertTrue(badID.output.contains("--child-id 'not-hex'"), badID.output)
        }
    }

    func testInitiateWantsConnectionOrConnectionSlashChild() throws {
        let result = try run(["initiate", "a/b/c"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.output.contains("'a/b/c' is not CONNECTION or CONNECTION/CHILD"), result.output)
    }

    func testRedirectWantsAGatewayOrOff() throws {
        let bad = try run(["redirect", "--to", "not a host!"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.output.contains("--to: 'not a host!' is neither an IP address nor a host name"), bad.output)
        for arguments in [["redirect"], ["redirect", "--to", "192.0.2.101", "--off"]] {
            let result = try run(arguments)
            XCTAssertNotEqual(result.status, 0, "\(arguments)")
            XCTAssertTrue(result.output.contains("give --to GATEWAY or --off"), result.output)
        }
        let negative = try run(["redirect", "--to", "gw2.example.net", "--above-ike-sas", "-3"])
        XCTAssertNotEqual(negative.status, 0)
    }

    func testHelpListsTheOperatorCommands() throws {
        let result = try run(["--help"])
        for command in ["list-sas", "initiate", "terminate", "rekey", "redirect", "reload"] {
            XCTAssertTrue(result.output.contains(command), command)
        }
    }

    func testReloadWithoutADaemonSaysSoAndFails() throws {
        let socket = NSTemporaryDirectory() + "vipsec-no-daemon-reload-\(getpid()).sock"
        let result = try run(["reload", "--socket", socket])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.output.contains("cannot connect to the control socket \(socket)"), result.output)
        let late = try run(["reload", "--timeout=-1"])
        XCTAssertNotEqual(late.status, 0)
        XCTAssertTrue(late.output.contains("--timeout wants seconds"), late.output)
    }

    func testCheckRefusesStartActionTrap() throws {
        let path = NSTemporaryDirectory() + "vipsec-trap-\(getpid()).conf"
        try "connections {\n gw {\n  local {\n  }\n  remote {\n  }\n  children {\n   c {\n    start_action = trap\n   }\n  }\n }\n}\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let result = try run(["routing", "--config", path, "--check"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.output.contains("\(path):9: connections.gw.children.c.start_action: 'trap' is not supported"), result.output)
    }
}
