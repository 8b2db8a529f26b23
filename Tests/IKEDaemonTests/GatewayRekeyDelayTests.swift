import XCTest
import IKEv2
import IKECrypto
import VipsecTestSupport
@testable import IKEDaemon

/// The gateway's side of `delete_rekeyed_delay`: the config key, the timer that removes a
/// rekeyed CHILD_SA's kept inbound SA, the listing, and the shutdown that removes it early.
final class GatewayRekeyDelayTests: XCTestCase, GatewayPeerTesting {
    let provider = OpenSSLCryptoProvider()
    typealias G = IKEGatewayTests

    func config(_ delay: String?) throws -> DaemonConfig {
        try DaemonConfig(parsing: LabGatewayConfig.text(settings: delay.map { ["delete_rekeyed_delay = \($0)"] } ?? []), file: "t")
    }

    func testTheConfigKeyDefaultsToFiveSecondsAndTakesDurations() throws {
        XCTAssertEqual(try config(nil).settings.deleteRekeyedDelay, 5, "strongSwan's default")
        XCTAssertEqual(try config("0").settings.deleteRekeyedDelay, 0)
        XCTAssertEqual(try config("1.5s").settings.deleteRekeyedDelay, 1.5)
        XCTAssertEqual(try config("2m").settings.deleteRekeyedDelay, 120)
    }

    func testABadOrHugeDelayIsRefusedWithKeyAndLine() {
        for (value, message) in [("soon", "is not a duration"), ("-1s", "is not a duration"), ("2h", "out of range")] {
            XCTAssertThrowsError(try config(value), value) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains("vipsec.delete_rekeyed_delay"), text)
                XCTAssertTrue(text.contains(":3"), "line 3 of the file: \(text)")
                XCTAssertTrue(text.contains(message), text)
            }
        }
    }

    /// Runs gateway <-> peer until quiet, starting with the gateway's `actions`; returns every
    /// gateway action.
    func exchange(_ actions: [GatewayAction], _ peer: inout IKESA, _ gateway: inout IKEGateway, now: Double) -> [GatewayAction] {
        var all = actions
        var pending = actions
        while !pending.isEmpty {
            var next: [GatewayAction] = []
            for case .send(let bytes, _, _) in pending {
                for case .send(let reply) in peer.receiveInstalling(bytes, now: now) {
                    next += gateway.receiveInstalling(reply, local: G.gatewayAddress, remote: G.peerAddress, now: now)
                }
            }
            all += next
            pending = next
        }
        return all
    }

    /// The gateway established with a peer and rekeyed its CHILD_SA at t = 10.
    func rekeyed(delay: String) throws -> (IKEGateway, IKESA, old: ChildSAInstallation, all: [GatewayAction]) {
        var gateway = try IKEGateway(config: config(delay), provider: provider)
        var peer = try peer()
        var toGateway = peer.start(now: 0).compactMap { if case .send(let b) = $0 { return b }; return nil }
        while !toGateway.isEmpty {
            let actions = gateway.receiveInstalling(toGateway.removeFirst(), local: G.gatewayAddress, remote: G.peerAddress, now: 0)
            for case .send(let bytes, _, _) in actions {
                toGateway += peer.receiveInstalling(bytes, now: 0).compactMap { if case .send(let b) = $0 { return b }; return nil }
            }
        }
        let (spi, sa) = try XCTUnwrap(gateway.sas.first)
        let old = try XCTUnwrap(sa.childSAs.first)
        let start = gateway.commandTimerFired(.rekeyChildSA(sa: spi, inboundSPI: old.inbound.spi), now: 10)
        let all = exchange(start, &peer, &gateway, now: 10)
        XCTAssertEqual(gateway.sas[spi]?.childSAs.count, 1)
        XCTAssertNotEqual(gateway.sas[spi]?.childSAs.first?.reference, old.reference, "rekeyed")
        return (gateway, peer, old, all)
    }

    func testTheOldInboundSAGoesWhenTheDelayIsOver() throws {
        var (gateway, _, old, all) = try rekeyed(delay: "3s")
        let spi = try XCTUnwrap(gateway.sas.keys.first)
        let outbound = all.compactMap { if case .deleteOutbound(let c) = $0 { return c.reference }; return nil }
        XCTAssertEqual(outbound, [old.reference], "the outbound SA goes with the Delete")
        XCTAssertFalse(all.contains { if case .delete = $0 { return true }; return false }, "the inbound SA stays")
        let timers = all.compactMap { action -> (GatewayTimer, Double)? in
            if case .scheduleCommand(let timer, let deadline) = action, case .removeRekeyedChildSA = timer { return (timer, deadline) }
            return nil
        }
        XCTAssertEqual(timers.count, 1)
        XCTAssertEqual(timers.first?.1, 13, "now + delete_rekeyed_delay")
        XCTAssertEqual(gateway.childIndex.keeper(ofRekeyed: old.inbound.spi), spi, "the kept inbound SA is indexed")
        XCTAssertNil(gateway.ikeSA(holdingChild: old.inbound.spi), "no longer a live CHILD_SA")
        // vipsec list-sas shows it as REKEYED, counting down to its removal.
        let listed = try XCTUnwrap(gateway.operatorListing(now: 11).first?.childSAs)
        XCTAssertEqual(listed.map(\.state), ["INSTALLED", "REKEYED"])
        XCTAssertEqual(listed.last?.spiIn, "0x" + String(format: "%08x", old.inbound.spi))
        XCTAssertEqual(listed.last?.expiresInSeconds, 2)
        XCTAssertNil(listed.last?.rekeyInSeconds)
        XCTAssertTrue(gateway.statusLine.contains("child_sas=1 "), "the kept inbound SA is no live CHILD_SA: \(gateway.statusLine)")
        let line = try XCTUnwrap(gateway.ikeSALines.first)
        XCTAssertTrue(line.contains("child_sas=1 ") && line.hasSuffix(" rekeyed (in 0x\(String(old.inbound.spi, radix: 16)))"), line)
        // The timer fires: the inbound SA goes, once.
        guard let timer = timers.first?.0 else { return }
        let removal = gateway.commandTimerFired(timer, now: 13)
        XCTAssertEqual(removal.compactMap { if case .delete(let c) = $0 { return c.reference }; return nil }, [old.reference])
        XCTAssertEqual(gateway.operatorListing(now: 13).first?.childSAs.map(\.state), ["INSTALLED"])
        XCTAssertTrue(gateway.commandTimerFired(timer, now: 14).isEmpty)
        XCTAssertEqual(gateway.sas[spi]?.rekeyedChildSAs, [])
        XCTAssertNil(gateway.childIndex.keeper(ofRekeyed: old.inbound.spi))
    }

    func testADelayOfZeroDeletesBothSAsWithTheDelete() throws {
        let (_, _, old, all) = try rekeyed(delay: "0")
        XCTAssertEqual(all.compactMap { if case .delete(let c) = $0 { return c.reference }; return nil }, [old.reference])
        XCTAssertFalse(all.contains { if case .deleteOutbound = $0 { return true }; return false })
        XCTAssertFalse(all.contains { if case .scheduleCommand(.removeRekeyedChildSA, _) = $0 { return true }; return false })
    }

    /// Shutdown (`deleteAll`) during the delay removes the kept inbound SA with the rest.
    func testShutdownDuringTheDelayRemovesTheKeptInboundSA() throws {
        var (gateway, _, old, _) = try rekeyed(delay: "5s")
        let new = try XCTUnwrap(gateway.sas.values.first?.childSAs.first)
        let actions = gateway.deleteAll(now: 11)
        let deleted = Set(actions.compactMap { if case .delete(let c) = $0 { return c.reference }; return nil })
        XCTAssertEqual(deleted, [old.reference, new.reference])
    }
}
