import XCTest
@testable import IKEv2
import IKECrypto
import NIOCore
import VipsecTestSupport
@testable import IKEDaemon

/// RFC 5685 as the client: our initiator announces support, follows N(REDIRECT) in
/// IKE_SA_INIT (only with its own Ni) and in an established IKE_SA, and stops a loop.
/// Several gateways on one in-memory network: each datagram goes to the one at its
/// destination address.
final class RedirectFollowingTests: XCTestCase {
    let provider = OpenSSLCryptoProvider()
    static let client = IKEEndpoint(address: [192, 0, 2, 1], port: 500)
    static let first = IKEEndpoint(address: [192, 0, 2, 100], port: 500)
    static let second = IKEEndpoint(address: [192, 0, 2, 2], port: 500)

    /// Our initiator at 192.0.2.1: connection `lab` to 192.0.2.100 (identity 192.0.2.100),
    /// the mirror image of `LabGatewayConfig`.
    static func clientConfig(_ settings: [String] = []) -> String {
        """
        vipsec {
            listen = 192.0.2.1
        \(settings.map { "    \($0)\n" }.joined())}
        connections {
            lab {
                local_addrs = 192.0.2.1
                remote_addrs = 192.0.2.100
                proposals = aes256gcm16-prfsha256-x25519
                local {
                    id = 192.0.2.1
                }
                remote {
                    id = 192.0.2.100
                }
                children {
                    lab {
                        local_ts = 10.1.0.0/24
                        remote_ts = 10.2.0.0/24
                        esp_proposals = aes256gcm16
                        start_action = start
                    }
                }
            }
        }
        secrets {
            ike-lab {
                id-1 = 192.0.2.100
                secret = "lab secret"
            }
        }
        """
    }

    /// A vipsec gateway serving the client's connection at `address` (identity 192.0.2.100).
    func gateway(at address: String = "192.0.2.100", _ settings: [String] = []) throws -> IKEGateway {
        let text = LabGatewayConfig.text(settings: settings)
            .replacingOccurrences(of: "listen = 192.0.2.100", with: "listen = \(address)")
            .replacingOccurrences(of: "local_addrs = 192.0.2.100", with: "local_addrs = \(address)")
        return try IKEGateway(config: DaemonConfig(parsing: text, file: "gw"), provider: provider)
    }

    /// The gateways by address, the client among them, and what crossed the wire.
    struct Network {
        var nodes: [[UInt8]: IKEGateway] = [:]
        /// Stateless fakes: at this address every IKE_SA_INIT request is answered with
        /// N(REDIRECT, gateway, Ni), its nonce changed by `tamper`.
        var redirectors: [[UInt8]: (gateway: RedirectNotification.Gateway, tamper: Bool)] = [:]
        var sent: [(from: IKEEndpoint, to: IKEEndpoint, message: IKEMessage)] = []
        var actions: [[UInt8]: [GatewayAction]] = [:]

        /// Delivers `pending` (sent by the node at `from`) and every answer, until quiet.
        mutating func run(_ pending: [GatewayAction], from: [UInt8]) throws {
            var queue = pending.map { (from, $0) }
            var steps = 0
            while !queue.isEmpty {
                steps += 1
                guard steps < 500 else { return XCTFail("no quiet after 500 steps") }
                let (origin, action) = queue.removeFirst()
                actions[origin, default: []].append(action)
                guard case .send(let bytes, let local, let remote) = action else { continue }
                let message = try IKEMessage(datagram: ByteBuffer(bytes: bytes))
                sent.append((local, remote, message))
                if let fake = redirectors[remote.address] {
                    guard case .nonce(let nonce)? = message.payloads.first(where: { $0.type == .nonce }) else { continue }
                    var header = message.header
                    header.flags = [.response]
                    let ni = fake.tamper ? nonce.nonceData.map { $0 ^ 0xFF } : nonce.nonceData
                    let data = RedirectNotification(gateway: fake.gateway, nonce: ni).data
                    let reply = IKEMessage(header: header, payloads: [.notify(NotifyPayload(messageType: .redirect, notificationData: data))])
                    if var node = nodes[local.address] {
                        let answers = node.receiveInstalling(Array(reply.bytes.readableBytesView), local: local, remote: remote, now: 0)
                        nodes[local.address] = node
                        queue += answers.map { (local.address, $0) }
                    }
                    continue
                }
                guard var node = nodes[remote.address] else { continue }   // nobody there: lost
                let answers = node.receiveInstalling(bytes, local: remote, remote: local, now: 0)
                nodes[remote.address] = node
                queue += answers.map { (remote.address, $0) }
            }
        }

        /// The client initiates its connection (to 192.0.2.100).
        mutating func start(now: Double = 0) throws {
            var client = nodes[RedirectFollowingTests.client.address]!
            let actions = client.initiate(index: 0, local: RedirectFollowingTests.client, remote: RedirectFollowingTests.first, now: now)
            nodes[RedirectFollowingTests.client.address] = client
            try run(actions, from: RedirectFollowingTests.client.address)
        }

        var client: IKEGateway { nodes[RedirectFollowingTests.client.address]! }
        /// The IKE_SA_INIT requests the client sent, with where to.
        var initRequests: [(to: IKEEndpoint, message: IKEMessage)] {
            sent.filter { $0.from.address == RedirectFollowingTests.client.address && $0.message.header.exchangeType == .ikeSAInit
                && !$0.message.header.isResponse }.map { ($0.to, $0.message) }
        }
        func logs(_ address: [UInt8]) -> [String] {
            (actions[address] ?? []).compactMap { if case .log(let line) = $0 { return line }; return nil }
        }
    }

    func network(client settings: [String] = []) throws -> Network {
        var network = Network()
        network.nodes[Self.client.address] = try IKEGateway(config: DaemonConfig(parsing: Self.clientConfig(settings), file: "c"),
                                                            provider: provider)
        return network
    }

    // MARK: IKE_SA_INIT (RFC 5685 4.2)

    func testRedirectedInIKESAInitTheClientSetsUpWithTheNewGatewayNamingTheOldOne() throws {
        var net = try network()
        net.nodes[Self.first.address] = try gateway(["redirect {", "    gateway = 192.0.2.2", "}"])
        net.nodes[Self.second.address] = try gateway(at: "192.0.2.2")
        try net.start()
        let requests = net.initRequests
        XCTAssertEqual(requests.map(\.to), [Self.first, Self.second])
        XCTAssertNotNil(requests[0].message.notify(.redirectSupported), "announced in the first request")
        XCTAssertNil(requests[0].message.notify(.redirectedFrom))
        let from = try XCTUnwrap(requests[1].message.notify(.redirectedFrom), "the second names the gateway that sent us")
        XCTAssertEqual(try RedirectNotification(parsing: from.notificationData), RedirectNotification(gateway: .ipv4(Self.first.address)))
        XCTAssertNil(requests[1].message.notify(.redirectSupported), "REDIRECTED_FROM stands for it")
        XCTAssertNotEqual(requests[0].message.header.initiatorSPI, requests[1].message.header.initiatorSPI, "a new IKE_SA")

        XCTAssertEqual(net.nodes[Self.first.address]!.counters.redirectsSent, 1)
        XCTAssertEqual(net.nodes[Self.first.address]!.sas.count, 0)
        let client = net.client
        XCTAssertEqual(client.counters.redirectsFollowed, 1)
        XCTAssertEqual(client.sas.count, 1, "only the new IKE_SA")
        let sa = try XCTUnwrap(client.sas.values.first)
        XCTAssertEqual(sa.phase, .established)
        XCTAssertEqual(sa.remote.address, Self.second.address)
        XCTAssertEqual(sa.childSAs.count, 1)
        XCTAssertEqual(net.nodes[Self.second.address]!.sas.values.first?.phase, .established)
        XCTAssertTrue(client.statusLine.contains("redirects_followed=1 redirects_ignored=0 redirects_refused=0 redirect_loops=0"),
                      client.statusLine)
        XCTAssertTrue(net.logs(Self.client.address).contains("IKE_SA lab redirected from 192.0.2.100 to 192.0.2.2"),
                      "\(net.logs(Self.client.address))")
    }

    func testARedirectWithoutOurNonceIsIgnoredAndTheRealAnswerStillCounts() throws {
        var net = try network()
        net.redirectors[Self.first.address] = (.ipv4(Self.second.address), true)
        try net.start()
        XCTAssertEqual(net.initRequests.count, 1, "not followed")
        var client = net.client
        XCTAssertEqual(client.counters.redirectsFollowed, 0)
        XCTAssertTrue(client.statusLine.contains("redirects_ignored=1"), client.statusLine)
        let sa = try XCTUnwrap(client.sas.values.first)
        XCTAssertEqual(sa.phase, .negotiatingInit, "still waiting for the gateway's own answer")

        // The gateway's real answer (here: a redirect with our Ni) is then taken.
        let request = net.initRequests[0].message
        guard case .nonce(let nonce)? = request.payloads.first(where: { $0.type == .nonce }) else { return XCTFail() }
        var header = request.header
        header.flags = [.response]
        let data = RedirectNotification(gateway: .ipv4(Self.second.address), nonce: nonce.nonceData).data
        let reply = IKEMessage(header: header, payloads: [.notify(NotifyPayload(messageType: .redirect, notificationData: data))])
        let actions = client.receive(Array(reply.bytes.readableBytesView), local: Self.client, remote: Self.first, now: 1)
        XCTAssertEqual(client.counters.redirectsFollowed, 1)
        XCTAssertTrue(actions.contains { if case .send(_, _, let to) = $0 { return to == Self.second }; return false })
    }

    func testWithFollowRedirectsOffNothingIsAnnouncedAndTheGatewayServesUs() throws {
        var net = try network(client: ["follow_redirects = no"])
        net.nodes[Self.first.address] = try gateway(["redirect {", "    gateway = 192.0.2.2", "}"])
        try net.start()
        XCTAssertNil(net.initRequests[0].message.notify(.redirectSupported))
        XCTAssertEqual(net.nodes[Self.first.address]!.counters.redirectsSent, 0, "RFC 5685: only clients that announced it")
        XCTAssertEqual(net.client.sas.values.first?.phase, .established)
        XCTAssertEqual(net.client.sas.values.first?.remote.address, Self.first.address)
    }

    func testAHostNameIsNotResolvedButRefusedAndCounted() throws {
        var net = try network()
        net.redirectors[Self.first.address] = (.fqdn("gw2.example.net"), false)
        try net.start()
        XCTAssertEqual(net.initRequests.count, 1)
        XCTAssertEqual(net.client.counters.redirectsRefused, 1)
        XCTAssertEqual(net.client.sas.count, 0, "the redirected attempt ended")
        XCTAssertTrue(net.logs(Self.client.address).contains { $0.contains("not followed: host names are not resolved") },
                      "\(net.logs(Self.client.address))")
    }

    func testTwoGatewaysSendingUsToEachOtherStopAfterFiveRedirects() throws {
        var net = try network()
        net.redirectors[Self.first.address] = (.ipv4(Self.second.address), false)
        net.redirectors[Self.second.address] = (.ipv4(Self.first.address), false)
        try net.start()
        XCTAssertEqual(net.initRequests.count, 1 + RedirectHistory.defaultMaximum, "the first request and five redirected ones")
        XCTAssertEqual(net.client.counters.redirectsFollowed, 5)
        XCTAssertEqual(net.client.counters.redirectLoops, 1)
        XCTAssertEqual(net.client.sas.count, 0)
        XCTAssertTrue(net.logs(Self.client.address).contains { $0.contains("5 redirects within 300 s") })
    }

    func testTheLoopBoundSlidesWithTime() {
        var history = RedirectHistory(maximum: 2, window: 10)
        XCTAssertTrue(history.admit(now: 0))
        XCTAssertTrue(history.admit(now: 5))
        XCTAssertFalse(history.admit(now: 9.9), "two within 10 s already")
        XCTAssertEqual(history.followedAt, [0, 5], "a refusal is not recorded")
        XCTAssertTrue(history.admit(now: 10.5), "the one at 0 left the window")
        XCTAssertFalse(history.admit(now: 14))
        XCTAssertTrue(history.admit(now: 15.1))
    }

    // MARK: Established IKE_SA (RFC 5685 5)

    func testAnEstablishedIKESAMovesToTheNewGatewayAndTheOldOneIsDeleted() throws {
        var net = try network()
        net.nodes[Self.first.address] = try gateway()
        net.nodes[Self.second.address] = try gateway(at: "192.0.2.2")
        try net.start()
        let old = try XCTUnwrap(net.client.sas.values.first)
        XCTAssertEqual(old.phase, .established)
        XCTAssertEqual(net.client.counters.redirectsFollowed, 0)
        net.actions = [:]

        var first = net.nodes[Self.first.address]!
        let (count, actions) = first.redirectEstablished(to: .ipv4(Self.second.address), now: 1)
        net.nodes[Self.first.address] = first
        XCTAssertEqual(count, 1, "our client announced REDIRECT_SUPPORTED")
        try net.run(actions, from: Self.first.address)

        let client = net.client
        XCTAssertEqual(client.counters.redirectsFollowed, 1)
        XCTAssertEqual(client.sas.count, 1)
        let moved = try XCTUnwrap(client.sas.values.first)
        XCTAssertNotEqual(moved.localSPI, old.localSPI)
        XCTAssertEqual(moved.phase, .established)
        XCTAssertEqual(moved.remote.address, Self.second.address)
        XCTAssertEqual(moved.childSAs.count, 1, "the CHILD_SA made again")
        XCTAssertEqual(net.nodes[Self.first.address]!.sas.count, 0, "the old gateway got our Delete")
        let redirected = try XCTUnwrap(net.initRequests.last?.message.notify(.redirectedFrom))
        XCTAssertEqual(try RedirectNotification(parsing: redirected.notificationData).gateway, .ipv4(Self.first.address))
        // The old CHILD_SA leaves the kernel before the new one goes in (same reqid, same policies).
        let clientActions = net.actions[Self.client.address] ?? []
        let deleted = clientActions.firstIndex { if case .delete(let c) = $0 { return c.inbound.spi == old.childSAs[0].inbound.spi }; return false }
        let installed = clientActions.firstIndex { if case .install = $0 { return true }; return false }
        XCTAssertLessThan(try XCTUnwrap(deleted), try XCTUnwrap(installed))
    }

    func testAnEstablishedRedirectIsAnsweredButIgnoredWhenWeDidNotAnnounceSupport() throws {
        var c = try IKEConversation.Conversation(initiator: IKEConversation.configuration("alice"),
                                                      responder: IKEConversation.configuration("bob"), provider: provider)
        try c.establish()
        c.responder?.peerSupportsRedirect = true   // as if announced: the initiator never did
        c.record(c.responder!.redirect(to: .ipv4([192, 0, 2, 2]), now: 1), fromInitiator: false)
        let actions = c.initiator.receive(try XCTUnwrap(c.toInitiator.first), now: 1)
        XCTAssertFalse(actions.contains { if case .redirect = $0 { return true }; return false })
        XCTAssertTrue(actions.contains { if case .send = $0 { return true }; return false }, "answered all the same")
        XCTAssertEqual(c.initiator.counters.redirectsIgnored, 1)
        XCTAssertEqual(c.initiator.phase, .established)
    }

    func testFollowRedirectsMustBeYesOrNo() {
        XCTAssertThrowsError(try DaemonConfig(parsing: Self.clientConfig(["follow_redirects = maybe"]), file: "c")) { error in
            guard let error = error as? ConfigError else { return XCTFail("\(error)") }
            XCTAssertEqual(error.key, "vipsec.follow_redirects", "\(error)")
            XCTAssertEqual(error.line, 3)
        }
        XCTAssertEqual(try DaemonConfig(parsing: Self.clientConfig(), file: "c").settings.followRedirects, true, "on by default")
    }
}
