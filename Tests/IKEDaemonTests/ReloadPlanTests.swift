import Foundation
import Logging
import NIOCore
import NIOPosix
import XCTest
import IKEv2
import IKECrypto
@testable import IKEDaemon

/// Live reload: the plan (which connections are added, removed, changed, unchanged; which
/// settings refuse it), a gateway carrying it out, and `ConfigReload` on real
/// workers with a file on disk (a broken file changes nothing).
final class ReloadPlanTests: XCTestCase, GatewayPeerTesting {
    let provider = OpenSSLCryptoProvider()

    /// A file with one connection per entry of `connections` (name: extra lines), all PSK.
    static func text(_ connections: [(String, [String])], settings: [String] = [], secret: String = "lab secret",
                     children: [String: [String]] = [:]) -> String {
        var text = "vipsec {\n listen = 192.0.2.100\n" + settings.map { " \($0)\n" }.joined() + "}\nconnections {\n"
        for (number, (name, lines)) in connections.enumerated() {
            text += " \(name) {\n  local_addrs = 192.0.2.100\n  remote_addrs = 192.0.2.\(number + 1)\n"
            text += lines.map { "  \($0)\n" }.joined()
            text += "  local {\n   id = 192.0.2.100\n  }\n  remote {\n   id = 192.0.2.\(number + 1)\n  }\n  children {\n"
            for child in children[name] ?? ["net"] { text += "   \(child) {\n    remote_ts = 10.\(number + 1).0.0/24\n   }\n" }
            text += "  }\n }\n"
        }
        return text + "}\nsecrets {\n ike-lab {\n  id-1 = 192.0.2.100\n  secret = \"\(secret)\"\n }\n}\n"
    }

    static func config(_ text: String) throws -> DaemonConfig { try DaemonConfig(parsing: text, file: "r.conf") }

    func testConnectionsAreAddedRemovedChangedOrUnchangedByName() throws {
        let running = try Self.config(Self.text([("a", []), ("b", []), ("c", ["dpd_delay = 30s"]), ("gone", [])]))
        // b moves in the file (order alone changes nothing), c's dpd_delay changes, new is added.
        let new = try Self.config(Self.text([("a", []), ("c", ["dpd_delay = 10s"]), ("new", []), ("b", [])])
                                      .replacingOccurrences(of: "remote_addrs = 192.0.2.4", with: "remote_addrs = 192.0.2.2")
                                      .replacingOccurrences(of: "id = 192.0.2.4", with: "id = 192.0.2.2")
                                      .replacingOccurrences(of: "10.4.0.0/24", with: "10.2.0.0/24")
                                      .replacingOccurrences(of: "remote_addrs = 192.0.2.3", with: "remote_addrs = 192.0.2.9")
                                      .replacingOccurrences(of: "id = 192.0.2.3", with: "id = 192.0.2.9"))
        let plan = try ReloadPlan(running: running, new: new)
        XCTAssertEqual(plan.added, ["new"])
        XCTAssertEqual(plan.removed, ["gone"])
        XCTAssertEqual(plan.changed, ["c"])
        XCTAssertEqual(plan.unchanged, ["a", "b"])
        XCTAssertEqual(plan.deleted, ["gone", "c"])
        XCTAssertEqual(plan.setUp, ["new", "c"])
        XCTAssertEqual(plan.summary, ["added: new", "removed: gone", "changed: c", "unchanged: a, b"])
        let same = try ReloadPlan(running: running, new: running)
        XCTAssertEqual(same.summary, ["added: none", "removed: none", "changed: none", "unchanged: a, b, c, gone"])
    }

    func testAChildOrAMatchingSecretChangesTheConnection() throws {
        let running = try Self.config(Self.text([("a", []), ("b", [])]))
        let child = try Self.config(Self.text([("a", []), ("b", [])], children: ["b": ["net", "more"]]))
        XCTAssertEqual(try ReloadPlan(running: running, new: child).changed, ["b"])
        // The one secret matches both (its id is our own): both change, and no output holds it.
        let secret = try Self.config(Self.text([("a", []), ("b", [])], secret: "another secret"))
        let plan = try ReloadPlan(running: running, new: secret)
        XCTAssertEqual(plan.changed, ["a", "b"])
        XCTAssertFalse("\(plan)".contains("another secret"))
        // A secret for another peer's identity leaves them alone.
        let unrelated = try Self.config(Self.text([("a", []), ("b", [])]).replacingOccurrences(
            of: "secrets {\n", with: "secrets {\n ike-other {\n  id-1 = 198.51.100.7\n  secret = x\n }\n"))
        XCTAssertEqual(try ReloadPlan(running: running, new: unrelated).unchanged, ["a", "b"])
    }

    func testVipsecSettingsRefuseTheReloadNamingTheKeys() throws {
        let running = try Self.config(Self.text([("a", [])]))
        let new = try Self.config(Self.text([("a", []), ("b", [])], settings: ["workers = 2", "half_open_limit = 7"]))
        XCTAssertThrowsError(try ReloadPlan(running: running, new: new)) { error in
            XCTAssertEqual((error as? ReloadRefusal)?.keys, ["vipsec.half_open_limit", "vipsec.workers"])
            XCTAssertTrue("\(error)".contains("needs a restart"), "\(error)")
        }
        var settings = running.settings
        settings.redirect = RedirectSettings(gateway: try XCTUnwrap(RedirectSettings.gateway("192.0.2.9")), aboveIKESAs: 0)
        XCTAssertEqual(ReloadPlan.settingsNeedingRestart(running.settings, settings), ["vipsec.redirect"])
        settings = running.settings
        settings.listenAddresses = ["192.0.2.7"]
        XCTAssertEqual(ReloadPlan.settingsNeedingRestart(running.settings, settings), ["vipsec.listen"])
        settings = running.settings
        settings.runAs = try RunAs(user: nil, group: "root")
        XCTAssertEqual(ReloadPlan.settingsNeedingRestart(running.settings, settings), ["vipsec.group"])
        settings.runAs = try RunAs(user: "nobody", group: nil)
        XCTAssertEqual(ReloadPlan.settingsNeedingRestart(running.settings, settings), ["vipsec.user", "vipsec.group"])
        XCTAssertEqual(ReloadPlan.settingsNeedingRestart(running.settings, running.settings), [])
    }

    /// `vipsec.cluster.inbound.verify` is the one `vipsec { }` key a reload changes live;
    /// any other change in `cluster { }` still refuses it.
    func testInboundVerifyChangesLiveOtherClusterKeysRefuse() throws {
        func cluster(_ inbound: [String]) -> [String] {
            ["cluster {", "listen = 10.0.0.1:4501", "ca = /etc/vipsec/ca.crt", "cert = /etc/vipsec/r.crt",
             "key = /etc/vipsec/r.key", "dvipa = 192.0.2.100", "inbound {"] + inbound + ["}", "}"]
        }
        let running = try Self.config(Self.text([("a", [])], settings: cluster(["queue = 0"])))
        let always = try Self.config(Self.text([("a", []), ("b", [])], settings: cluster(["queue = 0", "verify = always"])))
        let plan = try ReloadPlan(running: running, new: always)
        XCTAssertEqual(plan.inboundVerify, .always)
        XCTAssertEqual(plan.added, ["b"])
        XCTAssertTrue(plan.summary.contains("inbound verify: always"), "\(plan.summary)")
        XCTAssertNil(try ReloadPlan(running: always, new: always).inboundVerify, "unchanged: nothing to switch")
        XCTAssertEqual(try ReloadPlan(running: always, new: running).inboundVerify, .never)
        let moved = try Self.config(Self.text([("a", [])], settings: cluster(["queue = 1", "verify = always"])))
        XCTAssertThrowsError(try ReloadPlan(running: running, new: moved)) { error in
            XCTAssertEqual((error as? ReloadRefusal)?.keys, ["vipsec.cluster"])
        }
        let without = try Self.config(Self.text([("a", [])]))
        XCTAssertThrowsError(try ReloadPlan(running: without, new: always), "adding inbound { } needs a restart")
    }

    // MARK: A gateway carrying it out

    func establishedGateway(dpdDelay: String = "0") throws -> (IKEGateway, IKESA) {
        var gateway = try IKEGateway(config: DaemonConfig(parsing: IKEGatewayTests.config(dpdDelay: dpdDelay), file: "t"),
                                     provider: provider)
        var peer = try peer()
        var toGateway = peer.start(now: 100).compactMap { if case .send(let b) = $0 { return b }; return nil }
        while let datagram = toGateway.first {
            toGateway.removeFirst()
            let actions = gateway.receiveInstalling(datagram, local: IKEGatewayTests.gatewayAddress, remote: IKEGatewayTests.peerAddress, now: 100)
            for case .send(let bytes, _, _) in actions {
                toGateway += peer.receiveInstalling(bytes, now: 100).compactMap { if case .send(let b) = $0 { return b }; return nil }
            }
        }
        XCTAssertEqual(peer.phase, .established)
        return (gateway, peer)
    }

    func sent(_ actions: [GatewayAction]) -> [[UInt8]] {
        actions.compactMap { if case .send(let bytes, _, _) = $0 { return bytes }; return nil }
    }

    func testAReloadDeletesTheNamedConnectionsIKESAsWithThePeerAndNothingElse() throws {
        var (gateway, peer) = try establishedGateway()
        let untouched = gateway.deleteIKESAs(of: ["other"], now: 200)
        XCTAssertTrue(untouched.actions.isEmpty, "an unchanged connection: no message, no kernel change")
        XCTAssertTrue(untouched.going.isEmpty)
        XCTAssertEqual(gateway.sas.values.first?.phase, .established)

        let (actions, going, busy) = gateway.deleteIKESAs(of: ["lab"], now: 200)
        XCTAssertEqual(going, Array(gateway.sas.keys))
        XCTAssertEqual(busy, [])
        XCTAssertTrue(actions.contains { if case .delete = $0 { return true }; return false }, "its CHILD_SA leaves the kernel")
        let delete = try XCTUnwrap(sent(actions).first, "no INFORMATIONAL Delete: \(actions)")
        _ = peer.receive(delete, now: 200)
        XCTAssertNotEqual(peer.phase, .established, "the peer took the Delete")
    }

    func testABusyIKESAGetsItsDeleteOnceItsExchangeIsAnswered() throws {
        var (gateway, peer) = try establishedGateway(dpdDelay: "30s")
        let spi = try XCTUnwrap(gateway.sas.keys.first)
        let check = try XCTUnwrap(sent(gateway.commandTimerFired(.liveness(sa: spi), now: 150)).first, "a liveness check in flight")
        let first = gateway.deleteIKESAs(of: ["lab"], now: 160)
        XCTAssertEqual(first.going, [spi])
        XCTAssertEqual(first.busy, [spi])
        XCTAssertTrue(sent(first.actions).isEmpty, "no Delete while the check waits for its answer")
        XCTAssertEqual(gateway.deleteBusy([spi], force: false, now: 161).busy, [spi])
        for answer in peer.receive(check, now: 162).compactMap({ if case .send(let b) = $0 { return b }; return nil }) {
            _ = gateway.receive(answer, local: IKEGatewayTests.gatewayAddress, remote: IKEGatewayTests.peerAddress, now: 162)
        }
        let later = gateway.deleteBusy([spi], force: false, now: 163)
        XCTAssertEqual(later.busy, [])
        let delete = try XCTUnwrap(sent(later.actions).first, "the Delete goes once idle: \(later.actions)")
        _ = peer.receive(delete, now: 163)
        XCTAssertNotEqual(peer.phase, .established, "the peer took the Delete")
    }

    func testABusyIKESAStillBusyAtTheDeadlineIsClosed() throws {
        var (gateway, _) = try establishedGateway(dpdDelay: "30s")
        let spi = try XCTUnwrap(gateway.sas.keys.first)
        _ = gateway.commandTimerFired(.liveness(sa: spi), now: 150)
        XCTAssertEqual(gateway.deleteIKESAs(of: ["lab"], now: 160).busy, [spi])
        let forced = gateway.deleteBusy([spi], force: true, now: 170)
        XCTAssertEqual(forced.busy, [])
        XCTAssertTrue(forced.actions.contains { if case .delete = $0 { return true }; return false }, "its CHILD_SA leaves the kernel")
        XCTAssertNil(gateway.sas[spi])
    }

    // MARK: ConfigReload on workers, with a file

    func temporaryFile(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "reload-\(UUID().uuidString).conf"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        addTeardownBlock { unlink(path) }
        return path
    }

    func workers(_ path: String) throws -> (IKEWorkerSet, MultiThreadedEventLoopGroup) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        addTeardownBlock { try? group.syncShutdownGracefully() }
        let core = try DaemonCore(config: try DaemonConfig.load(path: path), installer: ConfinedChildSAInstaller(NullChildSAInstaller()),
                                  logger: Logger(label: "test"), loop: group.next())
        core.transmit = { _, _, _ in }
        return (IKEWorkerSet(cores: [core], configPath: path), group)
    }

    func testABrokenFileIsRefusedWithFileLineAndKeyAndNothingChanges() throws {
        let path = try temporaryFile(Self.text([("a", [])]))
        let (workers, group) = try self.workers(path)
        let before = workers.first.config
        try Self.text([("a", []), ("b", ["rekey_time = soon"])]).write(toFile: path, atomically: false, encoding: .utf8)
        let response = try ConfigReload.run(workers, timeout: 1, on: group.next()).wait()
        XCTAssertFalse(response.ok)
        let error = try XCTUnwrap(response.error)
        XCTAssertTrue(error.contains("\(path):"), error)
        XCTAssertTrue(error.contains("connections.b.rekey_time"), error)
        XCTAssertTrue(error.contains("running configuration stays"), error)
        XCTAssertFalse(error.contains("lab secret"))
        XCTAssertEqual(try workers.first.loop.submit { workers.first.config }.wait(), before)

        // A settings change is refused the same way; a good file is then taken.
        try Self.text([("a", []), ("b", [])], settings: ["port = 1500"]).write(toFile: path, atomically: false, encoding: .utf8)
        let refused = try ConfigReload.run(workers, timeout: 1, on: group.next()).wait()
        XCTAssertFalse(refused.ok)
        XCTAssertTrue(refused.error?.contains("vipsec.port: changed, needs a restart") == true, "\(refused)")
        XCTAssertEqual(try workers.first.loop.submit { workers.first.config }.wait(), before)

        try Self.text([("a", []), ("b", [])]).write(toFile: path, atomically: false, encoding: .utf8)
        let taken = try ConfigReload.run(workers, timeout: 1, on: group.next()).wait()
        XCTAssertTrue(taken.ok, "\(taken)")
        XCTAssertTrue(taken.messages.contains("added: b"), "\(taken.messages)")
        XCTAssertTrue(taken.messages.contains("unchanged: a"), "\(taken.messages)")
        XCTAssertEqual(try workers.first.loop.submit { workers.first.gateway.resolver.config.connections.map(\.name) }.wait(), ["a", "b"])
    }

    func testAMissingFileIsRefused() throws {
        let path = try temporaryFile(Self.text([("a", [])]))
        let (workers, group) = try self.workers(path)
        unlink(path)
        let response = try ConfigReload.run(workers, timeout: 1, on: group.next()).wait()
        XCTAssertFalse(response.ok)
        XCTAssertTrue(response.error?.contains("cannot read") == true, "\(response)")
    }
}
