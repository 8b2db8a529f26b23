import XCTest
import IKEv2
import IKECrypto
@testable import IKEDaemon
import VipsecTestSupport

/// A connection with several children (strongSwan's `children { a { } b { } }`): IKE_AUTH
/// makes the first, CREATE_CHILD_SA the others; the responder picks, per request, the child
/// whose selectors fit (RFC 7296 2.9); each child keeps its own reqid, also across rekeys
/// (here the configured ones: these IKE_SAs have no ReqidAllocator).
final class MultipleChildrenConversationTests: XCTestCase {
    typealias C = IKEConversation
    let provider = OpenSSLCryptoProvider()

    /// 10.1.0.0/25 <-> 10.2.0.0/25 is child "a", 10.1.0.128/25 <-> 10.2.0.128/25 child "b".
    static func half(_ a: UInt8, upper: Bool) -> TrafficSelector {
        upper ? .ipv4([10, a, 0, 128], [10, a, 0, 255]) : .ipv4([10, a, 0, 0], [10, a, 0, 127])
    }

    static func configuration(_ name: String, children names: [String] = ["a", "b"], reqidBase: UInt32 = 1) throws -> IKESAConfiguration {
        let isAlice = name == "alice"
        let children = try names.enumerated().map { index, child -> ChildSAConfiguration in
            let upper = child == "b"
            var configuration = ChildSAConfiguration(
                name: child, espProposals: try ProposalSyntax.parse("aes256gcm16", protocolID: .esp),
                localTrafficSelectors: [half(isAlice ? 1 : 2, upper: upper)],
                remoteTrafficSelectors: [half(isAlice ? 2 : 1, upper: upper)])
            configuration.reqid = reqidBase + UInt32(index)
            return configuration
        }
        return IKESAConfiguration(
            name: "gw", ikeProposals: try ProposalSyntax.parse("aes256gcm16-prfsha256-x25519", protocolID: .ike),
            localIdentity: C.fqdn(name), remoteIdentity: C.fqdn(isAlice ? "bob" : "alice"),
            presharedKey: SecretBytes(Array("swordfish".utf8)), children: children)
    }

    func establish(initiator: IKESAConfiguration, responder: IKESAConfiguration) throws -> C.Conversation {
        var c = try C.Conversation(initiator: initiator, responder: responder, provider: provider)
        c.start()
        try c.run()
        XCTAssertEqual(c.initiator.phase, .established)
        XCTAssertEqual(c.responder?.phase, .established)
        return c
    }

    // --> IKE_AUTH {SAi2, TSi 10.1.0.0/25, TSr 10.2.0.0/25}   <-- child "a"
    // --> CREATE_CHILD_SA {SA, Ni, TSi 10.1.0.128/25, TSr 10.2.0.128/25}   <-- child "b"
    func testIKEAuthMakesTheFirstChildAndCreateChildSAEachOther() throws {
        var c = try establish(initiator: Self.configuration("alice"), responder: Self.configuration("bob", reqidBase: 7))
        XCTAssertEqual(c.initiator.childSAs.map(\.name), ["a"])
        XCTAssertEqual(c.responder!.childSAs.map(\.name), ["a"])
        XCTAssertEqual(c.responder!.childSAs.first?.reqid, 7, "the responder's own reqid for its child a")
        c.record(c.initiator.createChildSA(named: "b", now: 1), fromInitiator: true)
        XCTAssertEqual(c.toResponder.count, 1, "CREATE_CHILD_SA request")
        try c.run()
        XCTAssertEqual(c.initiator.childSAs.map(\.name), ["a", "b"])
        XCTAssertEqual(c.responder!.childSAs.map(\.name), ["a", "b"], "the responder picked child b by its selectors")
        let alice = c.initiator.childSAs[1], bob = c.responder!.childSAs[1]
        XCTAssertEqual(alice.reqid, 2)
        XCTAssertEqual(bob.reqid, 8)
        XCTAssertEqual(alice.localTrafficSelectors, [Self.half(1, upper: true)])
        XCTAssertEqual(bob.localTrafficSelectors, [Self.half(2, upper: true)])
        XCTAssertEqual(alice.inbound, bob.outbound)
        XCTAssertEqual(alice.outbound, bob.inbound)
        XCTAssertEqual(c.initiator.createChildSA(named: "nosuch", now: 2), [], "an unknown child makes no request")
    }

    func testTheInitiatorCanStartWithAnyChild() throws {
        var c = try C.Conversation(initiator: Self.configuration("alice"), responder: Self.configuration("bob"), provider: provider)
        c.initiator = try IKESA.initiator(configuration: Self.configuration("alice"), provider: provider,
                                          local: C.alice, remote: C.bob, child: "b")
        c.start()
        try c.run()
        XCTAssertEqual(c.initiator.childSAs.map(\.name), ["b"])
        XCTAssertEqual(c.responder?.childSAs.map(\.name), ["b"])
        XCTAssertEqual(c.initiator.childSAs.first?.reqid, 2)
        XCTAssertThrowsError(try IKESA.initiator(configuration: Self.configuration("alice"), provider: provider,
                                                 local: C.alice, remote: C.bob, child: "nosuch"))
    }

    /// A rekey of child b stays child b on both sides (same name, reqid and selectors).
    func testARekeyKeepsItsChild() throws {
        var c = try establish(initiator: Self.configuration("alice"), responder: Self.configuration("bob", reqidBase: 7))
        c.record(c.initiator.createChildSA(named: "b", now: 1), fromInitiator: true)
        try c.run()
        let b = c.initiator.childSAs[1]
        c.record(c.responder!.rekeyChildSA(inboundSPI: c.responder!.childSAs[1].inbound.spi, now: 2), fromInitiator: false)
        try c.run()
        XCTAssertEqual(c.initiator.childSAs.map(\.name), ["a", "b"])
        XCTAssertEqual(c.responder!.childSAs.map(\.name), ["a", "b"])
        XCTAssertNotEqual(c.initiator.childSAs[1].inbound.spi, b.inbound.spi, "a new CHILD_SA replaced the old one")
        XCTAssertEqual(c.initiator.childSAs[1].reqid, 2)
        XCTAssertEqual(c.responder!.childSAs[1].reqid, 8)
        XCTAssertEqual(c.initiator.childSAs[1].localTrafficSelectors, [Self.half(1, upper: true)])
    }

    /// Selectors that fit no child: TS_UNACCEPTABLE, the IKE_SA stays.
    func testARequestFittingNoChildIsRefused() throws {
        var c = try establish(initiator: Self.configuration("alice", children: ["a", "b"]),
                              responder: Self.configuration("bob", children: ["a"]))
        c.record(c.initiator.createChildSA(named: "b", now: 1), fromInitiator: true)
        try c.run()
        XCTAssertEqual(c.responder!.counters.refusals[.tsUnacceptable], 1)
        XCTAssertEqual(c.initiator.childSAs.map(\.name), ["a"])
        XCTAssertEqual(c.responder!.childSAs.map(\.name), ["a"])
        XCTAssertEqual(c.initiator.phase, .established)
    }

    // MARK: The gateway: the config file's children

    static let configFile = """
        connections {
            site {
                local_addrs = 192.0.2.100
                remote_addrs = 192.0.2.1
                proposals = aes256gcm16-prfsha256-x25519
                local {
                    id = 192.0.2.100
                }
                remote {
                    id = 192.0.2.1
                }
                children {
                    a {
                        local_ts = 10.2.0.0/25
                        remote_ts = 10.1.0.0/25
                        start_action = start
                    }
                    b {
                        local_ts = 10.2.0.128/25
                        remote_ts = 10.1.0.128/25
                        start_action = start
                    }
                    c {
                        local_ts = 10.2.1.0/24
                        remote_ts = 10.1.1.0/24
                    }
                }
            }
            other {
                remote_addrs = 192.0.2.2
                local {
                    id = 192.0.2.100
                }
                remote {
                    id = 192.0.2.2
                }
                children {
                    d {
                        local_ts = 10.9.0.0/24
                        remote_ts = 10.8.0.0/24
                    }
                }
            }
        }
        secrets {
            ike-site {
                id-1 = 192.0.2.100
                secret = "lab secret"
            }
        }
        """

    func testATwiceNamedChildIsRefusedWithItsLine() throws {
        let twice = Self.configFile.replacingOccurrences(of: "            c {", with: "            a {")
        XCTAssertNotEqual(twice, Self.configFile)
        XCTAssertThrowsError(try DaemonConfig(parsing: twice, file: "t.conf")) { error in
            XCTAssertEqual("\(error)", "t.conf:23: connections.site.children.a: section defined twice")
        }
    }

    /// Reqids come from the negotiated selectors (ReqidPerChildSATests), through one
    /// allocator shared by every connection's IKE_SAs, not from the file's order.
    func testEveryConnectionsIKESAsShareTheResolversReqidAllocator() throws {
        let config = try DaemonConfig(parsing: Self.configFile, file: "t")
        let reqids = ReqidAllocator()
        let resolver = ConnectionResolver(config: config, reqids: reqids)
        let site = try resolver.resolve(index: 0, local: [192, 0, 2, 100], remote: [192, 0, 2, 1])
        let other = try resolver.resolve(index: 1, local: [192, 0, 2, 100], remote: [192, 0, 2, 1])
        XCTAssertEqual(site.children.map(\.name), ["a", "b", "c"])
        XCTAssertTrue(site.reqids === reqids && other.reqids === reqids)
    }

    /// start_action = start on a and b: IKE_AUTH makes a, then the gateway sends
    /// CREATE_CHILD_SA for b (not for c, which waits for the peer).
    func testTheGatewayStartsEveryStartChild() throws {
        var gateway = try IKEGateway(config: DaemonConfig(parsing: Self.configFile, file: "t"), provider: provider)
        let us = IKEEndpoint(address: [192, 0, 2, 100], port: 500), them = IKEEndpoint(address: [192, 0, 2, 1], port: 500)
        var peer = try IKESA.responder(configuration: try Self.peerConfiguration(), provider: provider, local: them, remote: us,
                                       initiatorSPI: 0)
        var pending = gateway.initiate(index: 0, local: us, remote: them, now: 0)
        var commands: [GatewayTimer] = []
        var responderCreated = false
        for _ in 0..<20 {
            var next: [GatewayAction] = []
            for action in pending {
                switch action {
                case .send(let bytes, _, _):
                    if !responderCreated {
                        peer = try IKESA.responder(configuration: try Self.peerConfiguration(), provider: provider, local: them,
                                                   remote: us, initiatorSPI: bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
                        responderCreated = true
                    }
                    for case .send(let answer) in peer.receiveInstalling(bytes, now: 0) {
                        next += gateway.receiveInstalling(answer, local: us, remote: them, now: 0)
                    }
                case .scheduleCommand(let timer, _):
                    if case .createConfiguredChildSA = timer { commands.append(timer); next += gateway.commandTimerFired(timer, now: 0) }
                default: break
                }
            }
            if next.isEmpty { break }
            pending = next
        }
        XCTAssertEqual(commands.count, 1, "one CREATE_CHILD_SA, for b: \(commands)")
        let children = gateway.sas.values.first?.childSAs ?? []
        XCTAssertEqual(children.map(\.name), ["a", "b"])
        XCTAssertEqual(children.map(\.reqid), [1, 2])
        XCTAssertEqual(peer.childSAs.map(\.name), ["pa", "pb"], "the peer picked its children by the selectors")
    }

    /// The peer's mirror of connection `site` (children a, b, c).
    static func peerConfiguration() throws -> IKESAConfiguration {
        func child(_ name: String, _ local: TrafficSelector, _ remote: TrafficSelector, _ reqid: UInt32) throws -> ChildSAConfiguration {
            var c = ChildSAConfiguration(name: name, espProposals: try ProposalSyntax.parse("aes128gcm16, aes256gcm16", protocolID: .esp),
                                         localTrafficSelectors: [local], remoteTrafficSelectors: [remote])
            c.reqid = reqid
            return c
        }
        return try LabPeerConfiguration.make(children: [try child("pa", half(1, upper: false), half(2, upper: false), 1),
                       try child("pb", half(1, upper: true), half(2, upper: true), 2),
                       try child("pc", .ipv4([10, 1, 1, 0], [10, 1, 1, 255]), .ipv4([10, 2, 1, 0], [10, 2, 1, 255]), 3)])
    }
}
