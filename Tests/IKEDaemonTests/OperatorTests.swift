import Foundation
import NIOCore
import NIOPosix
import XCTest
import IKEv2
import IKECrypto
@testable import IKEDaemon

/// The control socket's pure parts: what `vipsec list-sas` shows of a real gateway, the
/// stable JSON (golden), the selectors of terminate/rekey, the commands' gateway actions,
/// and the socket round trip (permissions, bad requests, a daemon not running).
final class OperatorTests: XCTestCase, GatewayPeerTesting {
    let provider = OpenSSLCryptoProvider()

    /// Peer <-> gateway until quiet, at time `now`; returns the gateway's actions.
    func converse(_ peer: inout IKESA, _ gateway: inout IKEGateway, now: Double = 100) -> [GatewayAction] {
        var toGateway = peer.start(now: now).compactMap { if case .send(let b) = $0 { return b }; return nil }
        var all: [GatewayAction] = []
        while let datagram = toGateway.first {
            toGateway.removeFirst()
            let actions = gateway.receiveInstalling(datagram, local: IKEGatewayTests.gatewayAddress, remote: IKEGatewayTests.peerAddress, now: now)
            all += actions
            for case .send(let bytes, _, _) in actions {
                toGateway += peer.receiveInstalling(bytes, now: now).compactMap { if case .send(let b) = $0 { return b }; return nil }
            }
        }
        return all
    }

    func establishedGateway() throws -> (IKEGateway, IKESA, ChildSAInstallation) {
        var gateway = try IKEGateway(config: DaemonConfig(parsing: IKEGatewayTests.config(), file: "t"), provider: provider)
        var peer = try peer()
        let actions = converse(&peer, &gateway)
        guard let child = actions.compactMap({ if case .install(let c, _) = $0 { return c }; return nil }).first else {
            throw OperatorError("no CHILD_SA installed")
        }
        return (gateway, peer, child)
    }

    // MARK: Listing

    func testTheListingOfAnEstablishedGatewayNamesTheSAsAndTheirTimes() throws {
        let (gateway, peer, child) = try establishedGateway()
        let list = gateway.operatorListing(now: 160)
        XCTAssertEqual(list.count, 1)
        let ike = try XCTUnwrap(list.first)
        XCTAssertEqual(ike.name, "lab")
        XCTAssertEqual(ike.state, "ESTABLISHED")
        XCTAssertFalse(ike.initiator, "the peer initiated")
        XCTAssertEqual(ike.initiatorSPI, hex16(peer.initiatorSPI))
        XCTAssertEqual(ike.responderSPI, hex16(peer.responderSPI))
        XCTAssertEqual(ike.uniqueID, ike.responderSPI, "our SPI is the id")
        XCTAssertEqual(ike.proposal, "ENCR_AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519")
        XCTAssertEqual(ike.localHost, "192.0.2.100")
        XCTAssertEqual(ike.remotePort, 500)
        XCTAssertEqual(ike.establishedSeconds, 60)
        // rekey_time 4 h less up to 10 % jitter, counted from t = 100; deleted at rekey + over_time.
        let rekeyIn = try XCTUnwrap(ike.rekeyInSeconds)
        XCTAssertTrue((4 * 3600 * 9 / 10 - 60 ... 4 * 3600 - 60).contains(rekeyIn), "\(rekeyIn)")
        XCTAssertEqual(ike.expiresInSeconds, Int(4 * 3600 * 1.1) - 60)
        let entry = try XCTUnwrap(ike.childSAs.first)
        XCTAssertEqual(entry.name, "lab")
        XCTAssertEqual(entry.uniqueID, hex8(child.inbound.spi))
        XCTAssertEqual(entry.spiIn, "0x" + hex8(child.inbound.spi))
        XCTAssertEqual(entry.spiOut, "0x" + hex8(child.outbound.spi))
        XCTAssertEqual(entry.reqid, 1)
        XCTAssertEqual(entry.mode, "TUNNEL")
        XCTAssertEqual(entry.proposal, "ENCR_AES_GCM_16-256/NO_ESN")
        XCTAssertEqual(entry.localTS, ["10.2.0.0/24"])
        XCTAssertEqual(entry.remoteTS, ["10.1.0.0/24"])
        XCTAssertEqual(entry.installedSeconds, 60)
        XCTAssertEqual(entry.expiresInSeconds, 3960 - 60, "life_time = rekey_time + 10 %")
        XCTAssertNotNil(entry.rekeyInSeconds)
        XCTAssertNil(entry.bytesIn, "the gateway does not know the kernel's counters")
        XCTAssertNil(entry.holdersIn, "standalone: no holders")
    }

    func testTheListingNeverHoldsKeys() throws {
        let (gateway, _, child) = try establishedGateway()
        let json = String(decoding: SAList(ikeSAs: gateway.operatorListing(now: 100)).json, as: UTF8.self)
        let text = SAList(ikeSAs: gateway.operatorListing(now: 100)).text
        for key in [child.inbound.encryptionKey, child.outbound.encryptionKey] {
            let hex = key.withUnsafeBytes { $0.map { String(format: "%02x", $0) }.joined() }
            XCTAssertFalse(hex.isEmpty)
            XCTAssertFalse(json.lowercased().contains(hex.prefix(16)), "key bytes in the JSON")
            XCTAssertFalse(text.lowercased().contains(hex.prefix(16)), "key bytes in the text")
        }
        XCTAssertNil(json.range(of: "[0-9a-f]{24}", options: .regularExpression), "nothing key-like (SPIs are 16 digits at most)")
    }

    func testAPrefixOrARangeIsShownAsSuch() {
        XCTAssertEqual(IKEGateway.selectorText(.ipv4([10, 2, 0, 0], [10, 2, 0, 255])), "10.2.0.0/24")
        XCTAssertEqual(IKEGateway.selectorText(.ipv4([192, 0, 2, 100], [192, 0, 2, 100])), "192.0.2.100/32")
        XCTAssertEqual(IKEGateway.selectorText(.ipv4([10, 0, 0, 1], [10, 0, 0, 9])), "10.0.0.1..10.0.0.9")
        XCTAssertEqual(IKEGateway.prefixLength([0, 0, 0, 0], [255, 255, 255, 255]), 0)
        XCTAssertNil(IKEGateway.prefixLength([10, 0, 0, 1], [10, 0, 0, 2]))
    }

    // MARK: The stable JSON

    static let fixture = SAList(ikeSAs: [IKESAEntry(
        name: "gw", uniqueID: "a5c64ae0ad189bf8", state: "ESTABLISHED", localHost: "192.0.2.100", localPort: 500,
        remoteHost: "192.0.2.1", remotePort: 500, initiator: true, initiatorSPI: "a5c64ae0ad189bf8", responderSPI: "d6b2c27d007a2425",
        proposal: "ENCR_AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519", rekeys: 0, establishedSeconds: 12, rekeyInSeconds: 13718,
        expiresInSeconds: 15828, childSAs: [ChildSAEntry(
            name: "net", uniqueID: "ccfbcc85", state: "INSTALLED", mode: "TUNNEL", reqid: 1, spiIn: "0xccfbcc85", spiOut: "0xda34431b",
            proposal: "ENCR_AES_GCM_16-256/NO_ESN", encapsulated: false, localTS: ["10.2.0.0/24"], remoteTS: ["10.1.0.0/24"],
            installedSeconds: 12, rekeyInSeconds: 3494, expiresInSeconds: 3948)])])

    /// The documented document (README, Operations): a changed key or layout fails here.
    func testListSAsJSONIsStable() {
        var list = Self.fixture
        list.ikeSAs[0].childSAs[0].bytesIn = 420
        list.ikeSAs[0].childSAs[0].packetsIn = 5
        list.ikeSAs[0].childSAs[0].bytesOut = 420
        list.ikeSAs[0].childSAs[0].packetsOut = 5
        let golden = """
            {
              "ike_sas" : [
                {
                  "child_sas" : [
                    {
                      "bytes_in" : 420,
                      "bytes_out" : 420,
                      "encapsulated" : false,
                      "expires_in_seconds" : 3948,
                      "holders_in" : null,
                      "holders_out" : null,
                      "installed_seconds" : 12,
                      "local_ts" : [
                        "10.2.0.0/24"
                      ],
                      "mode" : "TUNNEL",
                      "name" : "net",
                      "packets_in" : 5,
                      "packets_out" : 5,
                      "proposal" : "ENCR_AES_GCM_16-256/NO_ESN",
                      "rekey_in_seconds" : 3494,
                      "remote_ts" : [
                        "10.1.0.0/24"
                      ],
                      "reqid" : 1,
                      "spi_in" : "0xccfbcc85",
                      "spi_out" : "0xda34431b",
                      "state" : "INSTALLED",
                      "unique_id" : "ccfbcc85"
                    }
                  ],
                  "established_seconds" : 12,
                  "expires_in_seconds" : 15828,
                  "initiator" : true,
                  "initiator_spi" : "a5c64ae0ad189bf8",
                  "local_host" : "192.0.2.100",
                  "local_port" : 500,
                  "name" : "gw",
                  "proposal" : "ENCR_AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519",
                  "rekey_in_seconds" : 13718,
                  "rekeys" : 0,
                  "remote_host" : "192.0.2.1",
                  "remote_port" : 500,
                  "responder_spi" : "d6b2c27d007a2425",
                  "state" : "ESTABLISHED",
                  "unique_id" : "a5c64ae0ad189bf8"
                }
              ]
            }

            """
        XCTAssertEqual(String(decoding: list.json, as: UTF8.self), golden)
        XCTAssertEqual(try JSONDecoder().decode(SAList.self, from: list.json), list, "the document reads back")
    }

    func testListSAsTextIsSwanctlLike() {
        var list = Self.fixture
        list.ikeSAs[0].childSAs[0].holdersIn = ["t1", "t2"]
        list.ikeSAs[0].childSAs[0].holdersOut = []
        XCTAssertEqual(list.text, """
            gw: #a5c64ae0ad189bf8, ESTABLISHED, IKEv2, a5c64ae0ad189bf8_i* d6b2c27d007a2425_r
              local  192.0.2.100[500]
              remote 192.0.2.1[500]
              ENCR_AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519
              established 12s ago, rekeying in 13718s, expires in 15828s
              net: #ccfbcc85, reqid 1, INSTALLED, TUNNEL, ESP:ENCR_AES_GCM_16-256/NO_ESN
                installed 12s ago, rekeying in 3494s, expires in 3948s
                in  0xccfbcc85
                out 0xda34431b
                local  10.2.0.0/24
                remote 10.1.0.0/24
                holders in: t1,t2 out: none

            """)
        XCTAssertEqual(SAList(ikeSAs: []).text, "no IKE_SAs\n")
    }

    // MARK: Selectors and outcomes

    func testSelectorsAreSwanctlsFourOptionsExactlyOne() throws {
        XCTAssertEqual(try SASelector.from(ike: "gw", ikeID: nil, child: nil, childID: nil), .ikeName("gw"))
        XCTAssertEqual(try SASelector.from(ike: nil, ikeID: "0xa5c64ae0ad189bf8", child: nil, childID: nil), .ikeID(0xa5c6_4ae0_ad18_9bf8))
        XCTAssertEqual(try SASelector.from(ike: nil, ikeID: nil, child: nil, childID: "CCFBCC85"), .childID(0xccfb_cc85))
        XCTAssertEqual(try SASelector.from(ike: nil, ikeID: nil, child: "net", childID: nil), .childName("net"))
        XCTAssertThrowsError(try SASelector.from(ike: "gw", ikeID: nil, child: "net", childID: nil)) {
            XCTAssertTrue("\($0)".contains("exactly one"), "\($0)")
        }
        XCTAssertThrowsError(try SASelector.from(ike: nil, ikeID: nil, child: nil, childID: nil))
        XCTAssertThrowsError(try SASelector.from(ike: nil, ikeID: "xyz", child: nil, childID: nil)) {
            XCTAssertTrue("\($0)".contains("--ike-id 'xyz'"), "\($0)")
        }
        XCTAssertThrowsError(try SASelector.from(ike: nil, ikeID: nil, child: nil, childID: "123456789")) {
            XCTAssertTrue("\($0)".contains("--child-id '123456789'"), "\($0)")
        }
    }

    func testInitiateTakesConnectionOrConnectionSlashChild() throws {
        let whole = try OperatorRequest.initiate("gw", timeout: 5)
        XCTAssertEqual(whole.connection, "gw")
        XCTAssertNil(whole.child)
        XCTAssertEqual(whole.timeout, 5)
        let child = try OperatorRequest.initiate("gw/net", timeout: 30)
        XCTAssertEqual(child.connection, "gw")
        XCTAssertEqual(child.child, "net")
        for bad in ["", "gw/", "/net", "a/b/c"] {
            XCTAssertThrowsError(try OperatorRequest.initiate(bad, timeout: 1), bad)
        }
    }

    func testARequestsTimeoutIsBoundedBeforeTheDaemonUsesIt() {
        // From the socket: 1e300 or NaN must not trap Int(...) or a TimeAmount.
        XCTAssertEqual(OperatorRequest(command: .terminate, timeout: 1e300).boundedTimeout, OperatorRequest.maximumTimeout)
        XCTAssertEqual(OperatorRequest(command: .terminate, timeout: .nan).boundedTimeout, 0)
        XCTAssertEqual(OperatorRequest(command: .terminate, timeout: -.infinity).boundedTimeout, 0)
        XCTAssertEqual(OperatorRequest(command: .terminate, timeout: -5).boundedTimeout, 0)
        XCTAssertEqual(OperatorRequest(command: .terminate, timeout: 12.5).boundedTimeout, 12.5)
    }

    func testSelectedSAsAndWhenTheyAreGone() {
        var list = Self.fixture.ikeSAs
        XCTAssertEqual(SelectedSAs(.ikeName("gw"), in: list).ikeSAs, [0xa5c6_4ae0_ad18_9bf8])
        XCTAssertTrue(SelectedSAs(.ikeName("other"), in: list).isEmpty)
        XCTAssertEqual(SelectedSAs(.childName("net"), in: list).childSAs.map(\.inboundSPI), [0xccfb_cc85])
        XCTAssertEqual(SelectedSAs(.childID(0xccfb_cc85), in: list).childSAs.map(\.ikeSA), [0xa5c6_4ae0_ad18_9bf8])
        XCTAssertTrue(SelectedSAs(.childID(0x1234), in: list).isEmpty)
        let selected = SelectedSAs(.childName("net"), in: list)
        XCTAssertFalse(selected.allGone(from: list))
        // A rekey: same name, new SPI.
        list[0].childSAs[0].uniqueID = "0badf00d"
        XCTAssertTrue(selected.allGone(from: list))
        XCTAssertTrue(OperatorOutcome.rekeyed(selected, before: Self.fixture.ikeSAs, in: list))
        // Terminated, not rekeyed: gone but not replaced.
        list[0].childSAs = []
        XCTAssertTrue(selected.allGone(from: list))
        XCTAssertFalse(OperatorOutcome.rekeyed(selected, before: Self.fixture.ikeSAs, in: list))
        // Only ESTABLISHED IKE_SAs are acted on.
        var connecting = Self.fixture.ikeSAs
        connecting[0].state = "CONNECTING"
        XCTAssertTrue(SelectedSAs(.ikeName("gw"), in: connecting).isEmpty)
        XCTAssertTrue(OperatorOutcome.initiated(connection: "gw", child: "net", in: Self.fixture.ikeSAs))
        XCTAssertFalse(OperatorOutcome.initiated(connection: "gw", child: "other", in: Self.fixture.ikeSAs))
        XCTAssertFalse(OperatorOutcome.initiated(connection: "gw", child: nil, in: connecting))
    }

    // MARK: Commands on a gateway

    func testTerminateDeletesTheIKESAWithThePeer() throws {
        var (gateway, peer, _) = try establishedGateway()
        let spi = try XCTUnwrap(gateway.sas.keys.first)
        let actions = gateway.operatorTerminate(ikeSA: spi, now: 200)
        XCTAssertTrue(actions.contains { if case .delete = $0 { return true }; return false }, "its CHILD_SA leaves the kernel")
        guard case .send(let bytes, _, _)? = actions.first(where: { if case .send = $0 { return true }; return false }) else {
            return XCTFail("no INFORMATIONAL Delete")
        }
        _ = peer.receive(bytes, now: 200)
        XCTAssertNotEqual(peer.phase, .established, "the peer took the Delete")
        XCTAssertTrue(gateway.operatorTerminate(ikeSA: 0x1234, now: 200).isEmpty, "an unknown SA: nothing")
    }

    func testRekeyOfTheIKESASendsCreateChildSA() throws {
        var (gateway, _, _) = try establishedGateway()
        let spi = try XCTUnwrap(gateway.sas.keys.first)
        let actions = gateway.operatorRekey(ikeSA: spi, now: 200)
        XCTAssertTrue(actions.contains { if case .send = $0 { return true }; return false }, "\(actions)")
        XCTAssertTrue(actions.contains { if case .log(let l) = $0 { return l.contains("rekeying IKE_SA lab") }; return false })
    }

    func testInitiateOnAnIKESAWithItsChildAlreadyThereSaysSo() throws {
        var (gateway, _, _) = try establishedGateway()
        let actions = gateway.operatorInitiate(index: 0, child: "lab", local: IKEGatewayTests.gatewayAddress,
                                               remote: IKEGatewayTests.peerAddress, now: 200)
        XCTAssertEqual(actions.count, 1)
        guard case .log(let line)? = actions.first else { return XCTFail("\(actions)") }
        XCTAssertTrue(line.contains("installed already"), line)
    }

    func testSetupFailuresHaveStableReasons() {
        XCTAssertEqual(IKESetupFailure.reason("peer did not answer (retransmissions exhausted)"), "timeout")
        XCTAssertEqual(IKESetupFailure.reason("peer refused our authentication (AUTHENTICATION_FAILED)"), "authentication")
        XCTAssertEqual(IKESetupFailure.reason("cannot build IKE_SA_INIT (no usable proposal)"), "no_proposal")
        XCTAssertEqual(IKESetupFailure.reason("something new"), "other")
    }

    func testAnInitiatorThatGetsNoAnswerCountsATimeoutSetupFailure() throws {
        let config = IKEGatewayTests.config()
        var gateway = try IKEGateway(config: DaemonConfig(parsing: config, file: "t"), provider: provider)
        var actions = gateway.operatorInitiate(index: 0, child: nil, local: IKEGatewayTests.gatewayAddress,
                                               remote: IKEGatewayTests.peerAddress, now: 0)
        XCTAssertEqual(gateway.operatorListing(now: 0).first?.state, "CONNECTING")
        // Fire every retransmission timer until the IKE_SA gives up.
        for _ in 0..<20 {
            guard case .schedule(let spi, let timer)? = actions.first(where: { if case .schedule = $0 { return true }; return false }) else { break }
            actions = gateway.timerFired(sa: spi, timer: timer, now: timer.deadline)
        }
        XCTAssertTrue(gateway.sas.isEmpty)
        XCTAssertEqual(gateway.times.setupFailures, ["timeout": 1])
        XCTAssertEqual(gateway.times.deadPeers, 0, "never established: not a dead peer")
    }

    // MARK: The socket

    func testTheSocketIs0660AndAnswersEvenWithoutADaemon() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let directory = NSTemporaryDirectory() + "vipsec-operator-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var settings = ControlSettings()
        settings.socket = directory + "/control.sock"
        let server = try await OperatorSocketServer.start(settings: settings, service: OperatorService(control: IKEDaemonControl()), group: group)
        var info = stat()
        XCTAssertEqual(stat(settings.socket, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o660)
        let response = try OperatorClient.send(OperatorRequest(command: .listSAs), path: settings.socket)
        XCTAssertFalse(response.ok)
        XCTAssertEqual(response.error, "the IKE daemon is not running (yet)")
        await server.close()
        XCTAssertFalse(FileManager.default.fileExists(atPath: settings.socket), "closed: the file is gone")
        XCTAssertThrowsError(try OperatorClient.send(OperatorRequest(command: .listSAs), path: settings.socket)) {
            XCTAssertTrue("\($0)".contains("is vipsec routing running?"), "\($0)")
        }
        try await group.shutdownGracefully()
    }

    func testABrokenRequestGetsAnErrorNotACrash() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var settings = ControlSettings()
        settings.socket = NSTemporaryDirectory() + "vipsec-operator-bad-\(getpid()).sock"
        let server = try await OperatorSocketServer.start(settings: settings, service: OperatorService(control: IKEDaemonControl()), group: group)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(settings.socket.utf8) + [0]) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(connected, 0)
        let request = Array("{\"command\": \"format-disk\"}\n".utf8)
        XCTAssertEqual(request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }, request.count)
        var reply = [UInt8](repeating: 0, count: 4096)
        var received = 0
        while true {
            let n = reply.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + received, $0.count - received, 0) }
            if n <= 0 { break }
            received += n
        }
        let response = try JSONDecoder().decode(OperatorResponse.self, from: Data(reply[0..<received]))
        XCTAssertFalse(response.ok)
        XCTAssertTrue(response.error?.contains("not a vipsec control request") == true, "\(String(describing: response.error))")
        await server.close()
        try await group.shutdownGracefully()
    }

    func testControlAndMetricsSettingsAreReadAndCheckedByKey() throws {
        let base = IKEGatewayTests.config()
        func config(_ section: String) throws -> DaemonConfig {
            try DaemonConfig(parsing: base.replacingOccurrences(of: "vipsec {\n", with: "vipsec {\n" + section + "\n"), file: "t.conf")
        }
        XCTAssertEqual(try config("").settings.control.socket, "/run/vipsec/control.sock")
        XCTAssertNil(try config("").settings.metrics)
        let set = try config("control {\n socket = /run/x/c.sock\n group = root\n}\nmetrics {\n listen = 127.0.0.1:9710\n}")
        XCTAssertEqual(set.settings.control.socket, "/run/x/c.sock")
        XCTAssertEqual(set.settings.control.groupID, 0)
        XCTAssertEqual(set.settings.metrics?.host, "127.0.0.1")
        XCTAssertEqual(set.settings.metrics?.port, 9710)
        XCTAssertEqual(try config("metrics {\n listen = [::1]:9710\n}").settings.metrics?.host, "::1")
        for (section, key) in [("control {\n group = no-such-group-here\n}", "vipsec.control.group"),
                               ("control {\n socket = relative.sock\n}", "vipsec.control.socket"),
                               ("control {\n sockt = /x\n}", "vipsec.control.sockt"),
                               ("metrics {\n listen = 9710\n}", "vipsec.metrics.listen"),
                               ("metrics {\n listen = nowhere:9710\n}", "vipsec.metrics.listen"),
                               ("metrics {\n}", "vipsec.metrics.listen")] {
            XCTAssertThrowsError(try config(section), section) { XCTAssertTrue("\($0)".contains(key), "\(key): \($0)") }
        }
    }

    /// `vipsec { user; group }`: looked up at load (an unknown name refused with file, line
    /// and key); a user alone brings its primary group.
    func testUserAndGroupAreLookedUpAtLoadAndNamedWhenUnknown() throws {
        let base = IKEGatewayTests.config()
        func config(_ lines: String) throws -> DaemonConfig {
            try DaemonConfig(parsing: base.replacingOccurrences(of: "vipsec {\n", with: "vipsec {\n" + lines + "\n"), file: "t.conf")
        }
        XCTAssertEqual(try config("").settings.runAs, RunAs())
        let nobody = try XCTUnwrap(getpwnam("nobody")).pointee
        let user = try config("user = nobody").settings.runAs
        XCTAssertEqual(user.user, "nobody")
        XCTAssertEqual(user.uid, nobody.pw_uid)
        XCTAssertEqual(user.gid, nobody.pw_gid, "without group: the user's primary group")
        let both = try config("user = nobody\ngroup = root").settings.runAs
        XCTAssertEqual(both.uid, nobody.pw_uid)
        XCTAssertEqual(both.gid, 0)
        let groupOnly = try config("group = root").settings.runAs
        XCTAssertNil(groupOnly.uid)
        XCTAssertEqual(groupOnly.gid, 0)
        for (line, key, message) in [("user = no-such-user-here", "vipsec.user", "no user 'no-such-user-here' on this host"),
                                     ("group = no-such-group-here", "vipsec.group", "no group 'no-such-group-here' on this host")] {
            XCTAssertThrowsError(try config(line), line) { error in
                // The key is on the line after `vipsec {`.
                let lineNumber = base.components(separatedBy: "\n").firstIndex { $0.hasPrefix("vipsec {") }.map { $0 + 2 } ?? 0
                XCTAssertTrue("\(error)".contains("t.conf:\(lineNumber)"), "\(error)")
                XCTAssertTrue("\(error)".contains(key), "\(error)")
                XCTAssertTrue("\(error)".contains(message), "\(error)")
            }
        }
    }
}
