import XCTest
import IKEv2
import IKECrypto
import VipsecTestSupport
@testable import IKEDaemon

/// The gateway's table: responder IKE_SAs made from the config file, COOKIEs under load
/// (RFC 7296 2.6), the half-open limit, dispatch by SPI.
final class IKEGatewayTests: XCTestCase, GatewayPeerTesting {
    let provider = OpenSSLCryptoProvider()
    static let gatewayAddress = IKEEndpoint(address: [192, 0, 2, 100], port: 500)
    static let peerAddress = IKEEndpoint(address: [192, 0, 2, 1], port: 500)

    static func config(cookieThreshold: Int = 10, halfOpenLimit: Int = 1000, dpdDelay: String = "0",
                       halfOpenPerPeer: Int = 5, remoteAddrs: String = "192.0.2.1") -> String {
        LabGatewayConfig.text(remoteAddrs: remoteAddrs,
                              settings: ["cookie_threshold = \(cookieThreshold)", "half_open_limit = \(halfOpenLimit)",
                                         "half_open_per_peer = \(halfOpenPerPeer)"],
                              connection: ["dpd_delay = \(dpdDelay)"])
    }

    /// Runs peer <-> gateway until quiet; returns the gateway's actions.
    func converse(_ peer: inout IKESA, _ gateway: inout IKEGateway) -> [GatewayAction] {
        var toGateway = peer.start(now: 0).compactMap { if case .send(let b) = $0 { return b }; return nil }
        var all: [GatewayAction] = []
        while let datagram = toGateway.first {
            toGateway.removeFirst()
            let actions = gateway.receiveInstalling(datagram, local: Self.gatewayAddress, remote: Self.peerAddress, now: 0)
            all += actions
            for case .send(let bytes, _, let remote) in actions {
                XCTAssertEqual(remote, Self.peerAddress)
                toGateway += peer.receiveInstalling(bytes, now: 0).compactMap { if case .send(let b) = $0 { return b }; return nil }
            }
        }
        return all
    }

    func testAResponderIKESAIsMadeFromTheConfigFile() throws {
        var gateway = try IKEGateway(config: DaemonConfig(parsing: Self.config(), file: "t"), provider: provider)
        var peer = try peer()
        let actions = converse(&peer, &gateway)
        XCTAssertEqual(peer.phase, .established)
        let installs = actions.compactMap { if case .install(let c, _) = $0 { return c }; return nil }
        XCTAssertEqual(installs.count, 1)
        XCTAssertEqual(installs.first?.reqid, 1)
        XCTAssertEqual(installs.first?.localTrafficSelectors, [.ipv4([10, 2, 0, 0], [10, 2, 0, 255])])
        XCTAssertEqual(gateway.sas.count, 1)
        XCTAssertEqual(gateway.halfOpenCount, 0, "established: no longer half-open")
        XCTAssertEqual(gateway.counters.cookiesSent, 0)
    }

    func testCookiesAreDemandedAboveTheThresholdAndEchoed() throws {
        var gateway = try IKEGateway(config: DaemonConfig(parsing: Self.config(cookieThreshold: 0), file: "t"), provider: provider)
        var peer = try peer()
        _ = converse(&peer, &gateway)
        XCTAssertEqual(gateway.counters.cookiesSent, 1)
        XCTAssertEqual(peer.phase, .established, "the initiator echoed the cookie")
        XCTAssertEqual(gateway.counters.badCookies, 0)
    }

    /// OpenSSL, except that no PRF can be made (a broken crypto library).
    struct NoPRFProvider: IKECryptoProvider {
        struct Broken: Error {}
        let real = OpenSSLCryptoProvider()
        var supportedKeyExchangeMethods: [KeyExchangeMethod] { real.supportedKeyExchangeMethods }
        var supportedPseudorandomFunctions: [PseudorandomFunctionID] { real.supportedPseudorandomFunctions }
        var supportedEncryptionSuites: [EncryptionSuite] { real.supportedEncryptionSuites }
        func makeKeyExchange(_ method: KeyExchangeMethod) throws -> any KeyExchange { try real.makeKeyExchange(method) }
        func makePseudorandomFunction(_ id: PseudorandomFunctionID) throws -> any PseudorandomFunction { throw Broken() }
        func makeEncryptedPayloadProtection(suite: EncryptionSuite, encryptionKey: SecretBytes, integrityKey: SecretBytes) throws
            -> any EncryptedPayloadProtection {
            try real.makeEncryptedPayloadProtection(suite: suite, encryptionKey: encryptionKey, integrityKey: integrityKey)
        }
        func randomBytes(count: Int) throws -> [UInt8] { try real.randomBytes(count: count) }
    }

    func testWithoutAPRFTheCookieCheckFailsClosed() throws {
        var gateway = try IKEGateway(config: DaemonConfig(parsing: Self.config(cookieThreshold: 0), file: "t"), provider: NoPRFProvider())
        var peer = try peer()
        guard case .send(let first)? = peer.start(now: 0).first else { return XCTFail() }
        XCTAssertTrue(gateway.receive(first, local: Self.gatewayAddress, remote: Self.peerAddress, now: 0).isEmpty,
                      "no COOKIE anyone could compute, and no state")
        XCTAssertEqual(gateway.counters.cookieFailures, 1)
        XCTAssertEqual(gateway.counters.cookiesSent, 0)
        XCTAssertTrue(gateway.sas.isEmpty)
    }

    func testAForgedCookieIsDroppedWithoutState() throws {
        var gateway = try IKEGateway(config: DaemonConfig(parsing: Self.config(cookieThreshold: 0), file: "t"), provider: provider)
        var peer = try peer()
        guard case .send(let first)? = peer.start(now: 0).first else { return XCTFail() }
        guard case .send(let reply, _, _)? = gateway.receiveInstalling(first, local: Self.gatewayAddress, remote: Self.peerAddress, now: 0).first else {
            return XCTFail("no COOKIE")
        }
        guard case .send(var retry)? = peer.receiveInstalling(reply, now: 0).first else { return XCTFail("no retry") }
        retry[40] ^= 0xFF   // inside the COOKIE notify's data (first payload after the header)
        XCTAssertTrue(gateway.receiveInstalling(retry, local: Self.gatewayAddress, remote: Self.peerAddress, now: 0).isEmpty)
        XCTAssertEqual(gateway.counters.badCookies, 1)
        XCTAssertTrue(gateway.sas.isEmpty)
    }

    func testTheHalfOpenLimitDropsNewInitiators() throws {
        var gateway = try IKEGateway(config: DaemonConfig(parsing: Self.config(halfOpenLimit: 1), file: "t"), provider: provider)
        for _ in 0..<3 {
            var peer = try peer()
            guard case .send(let first)? = peer.start(now: 0).first else { return XCTFail() }
            _ = gateway.receiveInstalling(first, local: Self.gatewayAddress, remote: Self.peerAddress, now: 0)
        }
        XCTAssertEqual(gateway.halfOpenCount, 1)
        XCTAssertEqual(gateway.counters.halfOpenLimitDrops, 2)
    }

    /// One address may hold `half_open_per_peer` half-open IKE_SAs (strongSwan's
    /// block_threshold); another address still gets in.
    func testOnePeerAddressCannotFillTheHalfOpenTable() throws {
        var gateway = try IKEGateway(config: DaemonConfig(parsing: Self.config(halfOpenPerPeer: 2, remoteAddrs: "%any"), file: "t"),
                                     provider: provider)
        for port in UInt16(40000)..<40004 {
            var peer = try peer()
            guard case .send(let first)? = peer.start(now: 0).first else { return XCTFail() }
            _ = gateway.receiveInstalling(first, local: Self.gatewayAddress, remote: IKEEndpoint(address: [192, 0, 2, 1], port: port), now: 0)
        }
        XCTAssertEqual(gateway.halfOpenCount, 2)
        XCTAssertEqual(gateway.counters.halfOpenPerPeerDrops, 2)
        XCTAssertTrue(gateway.statusLine.contains("half_open_per_peer_drops=2"), gateway.statusLine)
        var other = try peer()
        guard case .send(let first)? = other.start(now: 0).first else { return XCTFail() }
        _ = gateway.receiveInstalling(first, local: Self.gatewayAddress, remote: IKEEndpoint(address: [192, 0, 2, 7], port: 500), now: 0)
        XCTAssertEqual(gateway.halfOpenCount, 3, "another address is not blocked")
        XCTAssertThrowsError(try DaemonConfig(parsing: Self.config(halfOpenPerPeer: 0), file: "t.conf")) { error in
            XCTAssertTrue("\(error)".contains("vipsec.half_open_per_peer"), "\(error)")
        }
    }

    /// A half-open IKE_SA that never authenticates is forgotten at `half_open_timeout`, and
    /// with it its slot of the table and of its peer address.
    func testAHalfOpenTimeoutFreesTheSlotOfItsPeer() throws {
        var gateway = try IKEGateway(config: DaemonConfig(parsing: Self.config(halfOpenPerPeer: 1), file: "t"), provider: provider)
        var peer = try peer()
        guard case .send(let first)? = peer.start(now: 0).first else { return XCTFail() }
        let actions = gateway.receiveInstalling(first, local: Self.gatewayAddress, remote: Self.peerAddress, now: 0)
        XCTAssertEqual(gateway.halfOpenCount, 1)
        XCTAssertEqual(gateway.halfOpen.peerCount(Self.peerAddress.address), 1)
        // Its retransmission finds the same IKE_SA (no second slot).
        _ = gateway.receiveInstalling(first, local: Self.gatewayAddress, remote: Self.peerAddress, now: 1)
        XCTAssertEqual(gateway.sas.count, 1)
        XCTAssertEqual(gateway.counters.halfOpenPerPeerDrops, 0)
        guard let timeout = actions.lazy.compactMap({ action -> GatewayTimer? in
            if case .scheduleCommand(let timer, _) = action, case .halfOpenTimeout = timer { return timer }; return nil
        }).first else { return XCTFail("no half-open timeout") }
        _ = gateway.commandTimerFired(timeout, now: 30)
        XCTAssertEqual(gateway.counters.halfOpenTimeouts, 1)
        XCTAssertEqual(gateway.sas.count, 0)
        XCTAssertEqual(gateway.halfOpenCount, 0)
        XCTAssertEqual(gateway.halfOpen.peerCount(Self.peerAddress.address), 0)
        // The same peer gets in again (its per-peer slot is free), as a new IKE_SA.
        var again = try self.peer()
        guard case .send(let second)? = again.start(now: 31).first else { return XCTFail() }
        _ = gateway.receiveInstalling(second, local: Self.gatewayAddress, remote: Self.peerAddress, now: 31)
        XCTAssertEqual(gateway.sas.count, 1)
        XCTAssertEqual(gateway.counters.halfOpenPerPeerDrops, 0)
    }

    func testUnknownSPIsAndGarbageAreCounted() throws {
        var gateway = try IKEGateway(config: DaemonConfig(parsing: Self.config(), file: "t"), provider: provider)
        XCTAssertTrue(gateway.receiveInstalling([0, 1, 2], local: Self.gatewayAddress, remote: Self.peerAddress, now: 0).isEmpty)
        var header = [UInt8](repeating: 0, count: 28)
        header[7] = 1; header[15] = 2; header[17] = 0x20; header[18] = 35; header[19] = 0x08; header[27] = 28
        XCTAssertTrue(gateway.receiveInstalling(header, local: Self.gatewayAddress, remote: Self.peerAddress, now: 0).isEmpty)
        XCTAssertEqual(gateway.counters.malformed, 1)
        XCTAssertEqual(gateway.counters.unknownSPI, 1)
        var otherPeer = IKEEndpoint(address: [198, 51, 100, 9], port: 500)
        otherPeer.port = 500
        var peer = try peer()
        guard case .send(let first)? = peer.start(now: 0).first else { return XCTFail() }
        let actions = gateway.receiveInstalling(first, local: Self.gatewayAddress, remote: otherPeer, now: 0)
        XCTAssertEqual(gateway.counters.noConnection, 1, "\(actions)")
        XCTAssertTrue(gateway.sas.isEmpty)
    }

    func testChildSAsAreRekeyedAtTheirSoftLifetime() throws {
        var gateway = try IKEGateway(config: DaemonConfig(parsing: Self.config(), file: "t"), provider: provider)
        var peer = try peer()
        let actions = converse(&peer, &gateway)
        let timers = actions.compactMap { action -> (GatewayTimer, Double)? in
            if case .scheduleCommand(let timer, let deadline) = action, case .rekeyChildSA = timer { return (timer, deadline) }
            return nil
        }
        XCTAssertEqual(timers.count, 1)
        guard let (timer, deadline) = timers.first, case .rekeyChildSA(let spi, let inbound) = timer else { return XCTFail() }
        XCTAssertTrue((3240...3600).contains(deadline), "rekey_time 1h minus up to 10 % jitter: \(deadline)")
        XCTAssertEqual(gateway.sas[spi]?.childSAs.first?.inbound.spi, inbound)
        let rekey = gateway.commandTimerFired(timer, now: deadline)
        let sent = rekey.compactMap { if case .send(let bytes, _, _) = $0 { return bytes }; return nil }
        XCTAssertEqual(sent.count, 1)
        XCTAssertEqual(sent.first?[18], 36, "a CREATE_CHILD_SA request")
        // The peer answers; the gateway installs the new CHILD_SA and deletes the old one's
        // outbound SA (its inbound SA follows after delete_rekeyed_delay, GatewayRekeyDelayTests).
        var toGateway = sent.flatMap { peer.receiveInstalling($0, now: deadline) }.compactMap { if case .send(let b) = $0 { return b }; return nil }
        var installs = 0, deletes = 0, outboundDeletes = 0
        while let datagram = toGateway.first {
            toGateway.removeFirst()
            for action in gateway.receiveInstalling(datagram, local: Self.gatewayAddress, remote: Self.peerAddress, now: deadline) {
                switch action {
                case .install: installs += 1
                case .delete: deletes += 1
                case .deleteOutbound: outboundDeletes += 1
                case .send(let bytes, _, _): toGateway += peer.receiveInstalling(bytes, now: deadline).compactMap { if case .send(let b) = $0 { return b }; return nil }
                default: break
                }
            }
        }
        XCTAssertEqual(installs, 1)
        XCTAssertEqual(deletes, 0)
        XCTAssertEqual(outboundDeletes, 1)
        XCTAssertEqual(gateway.sas[spi]?.childSAs.count, 1)
        XCTAssertNotEqual(gateway.sas[spi]?.childSAs.first?.inbound.spi, inbound)
    }

    func testAVanishedPeerIsDetectedByDPDAndCleanedUp() throws {
        var gateway = try IKEGateway(config: DaemonConfig(parsing: Self.config(dpdDelay: "30s"), file: "t"), provider: provider)
        var peer = try peer()
        let setup = converse(&peer, &gateway)
        let liveness = setup.compactMap { action -> (GatewayTimer, Double)? in
            if case .scheduleCommand(let timer, let deadline) = action, case .liveness = timer { return (timer, deadline) }
            return nil
        }
        guard let (timer, deadline) = liveness.first else { return XCTFail("no DPD timer") }
        XCTAssertEqual(deadline, 30)
        // The peer is gone: nothing answers the check.
        var actions = gateway.commandTimerFired(timer, now: deadline)
        XCTAssertEqual(actions.filter { if case .send = $0 { return true }; return false }.count, 1)
        var deleted = 0, closed = false
        while let next = actions.compactMap({ action -> RetransmissionTimer? in
            if case .schedule(_, let t) = action { return t }; return nil }).first {
            let spi = gateway.sas.keys.first ?? 0
            actions = gateway.timerFired(sa: spi, timer: next, now: next.deadline)
            deleted += actions.filter { if case .delete = $0 { return true }; return false }.count
            closed = closed || actions.contains { if case .log(let line) = $0 { return line.contains("retransmissions exhausted") }; return false }
        }
        XCTAssertTrue(closed)
        XCTAssertEqual(deleted, 1, "the CHILD_SA is removed")
        XCTAssertTrue(gateway.sas.isEmpty)
    }

    /// The install failed: the held IKE_AUTH response still goes out, once; the shell then
    /// deletes the CHILD_SA with the peer.
    func testAFailedInstallReleasesTheResponseAndTheShellDeletesTheCHILDSA() throws {
        var gateway = try IKEGateway(config: DaemonConfig(parsing: Self.config(), file: "t"), provider: provider)
        var peer = try peer()
        guard case .send(let initRequest)? = peer.start(now: 0).first,
              case .send(let initResponse, _, _)? = gateway.receive(initRequest, local: Self.gatewayAddress, remote: Self.peerAddress, now: 0)
                .first(where: { if case .send = $0 { return true }; return false }),
              case .send(let authRequest)? = peer.receive(initResponse, now: 0).first else { return XCTFail("no IKE_SA_INIT") }
        let started = gateway.receive(authRequest, local: Self.gatewayAddress, remote: Self.peerAddress, now: 0)
        guard case .install(let child, let token)? = started.first(where: { if case .install = $0 { return true }; return false }) else {
            return XCTFail("no install started")
        }
        XCTAssertFalse(started.contains { if case .send = $0 { return true }; return false }, "the response waits for the install")
        XCTAssertEqual(token.child, child.reference)
        let released = gateway.installCompleted(token, succeeded: false, now: 1)
        guard case .send(let response, _, _)? = released.first else { return XCTFail("no response after the failed install") }
        XCTAssertEqual(released.count, 1)
        _ = peer.receive(response, now: 1)
        XCTAssertEqual(peer.phase, .established)
        XCTAssertEqual(gateway.installCompleted(token, succeeded: true, now: 1).count, 0, "one report per install")
        // The shell then deletes the CHILD_SA with the peer (DaemonCore.installFailed).
        guard let decision = gateway.childSAInstallFailed(child) else { return XCTFail("no delete decided") }
        let (deleteActions, _) = gateway.childSAExpired(decision, now: 2)
        XCTAssertTrue(deleteActions.contains { if case .send = $0 { return true }; return false }, "an INFORMATIONAL Delete")
    }

    /// A CHILD_SA whose SAs the installer refused (the kernel, or a cluster without targets)
    /// after the IKE_AUTH response went out: the gateway deletes it with the peer
    /// (--> D(ESP), <-- D(ESP)), counts it, and keeps the IKE_SA.
    func testACHILDSAThatCouldNotBeInstalledIsDeletedWithThePeer() throws {
        var gateway = try IKEGateway(config: DaemonConfig(parsing: Self.config(), file: "t"), provider: provider)
        var peer = try peer()
        let actions = converse(&peer, &gateway)
        guard let child = actions.compactMap({ if case .install(let c, _) = $0 { return c }; return nil }).first else {
            return XCTFail("no CHILD_SA negotiated")
        }
        XCTAssertEqual(peer.childSAs.count, 1, "the peer took the response as usual")
        guard let decision = gateway.childSAInstallFailed(child) else { return XCTFail("no delete decided") }
        XCTAssertEqual(gateway.counters.childSAInstallFailures, 1)
        XCTAssertTrue(gateway.statusLine.contains("child_sa_install_failures=1"), gateway.statusLine)
        let (deleteActions, retry) = gateway.childSAExpired(decision, now: 1)
        XCTAssertFalse(retry)
        var deletes: [ChildSAInstallation] = []
        var toGateway: [[UInt8]] = []
        for case .send(let bytes, _, _) in deleteActions {
            toGateway += peer.receiveInstalling(bytes, now: 1).compactMap { if case .send(let b) = $0 { return b }; return nil }
        }
        XCTAssertEqual(toGateway.count, 1, "the peer answers the INFORMATIONAL Delete")
        for bytes in toGateway {
            for case .delete(let d) in gateway.receiveInstalling(bytes, local: Self.gatewayAddress, remote: Self.peerAddress, now: 1) {
                deletes.append(d)
            }
        }
        XCTAssertEqual(deletes.map(\.reference), [child.reference], "the installer is told to remove what it may hold")
        XCTAssertTrue(peer.childSAs.isEmpty, "the peer deleted its CHILD_SA")
        XCTAssertEqual(peer.phase, .established, "the IKE_SA stays")
        XCTAssertEqual(gateway.sas.values.first?.childSAs.count, 0)
        XCTAssertNil(gateway.childSAInstallFailed(child), "already gone: nothing more to delete")
    }
}
