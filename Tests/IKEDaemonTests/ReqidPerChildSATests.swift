import XCTest
import IKEv2
import IKECrypto
import VipsecTestSupport
@testable import IKEDaemon

/// One reqid per pair of negotiated selector lists (ReqidAllocator.swift), not per
/// configured child: a responder for many peers behind one address (a NAT, the load
/// generator) gives each its own reqid, one peer's two CHILD_SAs narrowed from one child
/// get two, a rekey keeps its reqid, and the last delete frees it.
final class ReqidPerChildSATests: XCTestCase {
    let provider = OpenSSLCryptoProvider()
    typealias G = IKEGatewayTests

    /// The lab gateway, its child widened to any 10.1.x.0/24 of a peer.
    func gateway(_ reqids: ReqidAllocator) throws -> IKEGateway {
        let text = LabGatewayConfig.text().replacingOccurrences(of: "remote_ts = 10.1.0.0/24", with: "remote_ts = 10.1.0.0/16")
        return try IKEGateway(config: DaemonConfig(parsing: text, file: "t"), provider: provider, reqids: reqids)
    }

    /// A peer at the one peer address whose children `a`, `b`, ... have 10.1.N.0/24 for the N given.
    func peer(_ subnets: [UInt8]) throws -> IKESA {
        let children = try subnets.enumerated().map { index, n in
            ChildSAConfiguration(name: String(UnicodeScalar(UInt8(97 + index))),
                                 espProposals: try ProposalSyntax.parse("aes256gcm16", protocolID: .esp),
                                 localTrafficSelectors: [.ipv4([10, 1, n, 0], [10, 1, n, 255])],
                                 remoteTrafficSelectors: [.ipv4([10, 2, 0, 0], [10, 2, 0, 255])])
        }
        let configuration = try LabPeerConfiguration.make(children: children)
        return try IKESA.initiator(configuration: configuration, provider: provider, local: G.peerAddress, remote: G.gatewayAddress)
    }

    /// Delivers the peer's `actions`' datagrams to the gateway and back until quiet; the gateway's actions.
    func exchange(_ actions: [IKEAction], _ peer: inout IKESA, _ gateway: inout IKEGateway) -> [GatewayAction] {
        var toGateway = actions.compactMap { if case .send(let b) = $0 { return b }; return nil }
        var all: [GatewayAction] = []
        while !toGateway.isEmpty {
            let datagram = toGateway.removeFirst()
            let answers = gateway.receiveInstalling(datagram, local: G.gatewayAddress, remote: G.peerAddress, now: 0)
            all += answers
            for case .send(let bytes, _, _) in answers {
                toGateway += peer.receiveInstalling(bytes, now: 0).compactMap { if case .send(let b) = $0 { return b }; return nil }
            }
        }
        return all
    }

    func installs(_ actions: [GatewayAction]) -> [ChildSAInstallation] {
        actions.compactMap { if case .install(let child, _) = $0 { return child }; return nil }
    }

    func deletes(_ actions: [GatewayAction]) -> [ChildSAInstallation] {
        actions.compactMap { if case .delete(let child) = $0 { return child }; return nil }
    }

    func testPeersBehindOneAddressWithTheirOwnSelectorsGetTheirOwnReqids() throws {
        let reqids = ReqidAllocator()
        var gateway = try gateway(reqids)
        var made: [UInt32] = []
        for subnet: UInt8 in [1, 2, 1] {
            var peer = try peer([subnet])
            let actions = exchange(peer.start(now: 0), &peer, &gateway)
            XCTAssertEqual(peer.phase, .established)
            made += installs(actions).map(\.reqid)
        }
        XCTAssertEqual(made, [1, 2, 1], "10.1.1.0/24 and 10.1.2.0/24 apart; a second IKE_SA for 10.1.1.0/24 shares its policies' reqid")
        XCTAssertEqual(reqids.count, 2)
    }

    /// The kernel's outbound lookup goes policy → template reqid → an SA with that reqid
    /// between the two addresses: two CHILD_SAs of one peer narrowed from one child must
    /// not share it, or traffic of one leaves on the other's SA.
    func testOneChildNarrowedToTwoCHILDSAsGivesEachItsOwnReqid() throws {
        let reqids = ReqidAllocator()
        var gateway = try gateway(reqids)
        var peer = try peer([1, 2])
        var actions = exchange(peer.start(now: 0), &peer, &gateway)
        actions += exchange(peer.createChildSA(named: "b", now: 1), &peer, &gateway)
        let children = installs(actions)
        XCTAssertEqual(children.map(\.name), ["lab", "lab"], "both from the gateway's one child")
        XCTAssertEqual(children.map(\.reqid), [1, 2])
        XCTAssertEqual(children.map(\.remoteTrafficSelectors), [[.ipv4([10, 1, 1, 0], [10, 1, 1, 255])],
                                                                [.ipv4([10, 1, 2, 0], [10, 1, 2, 255])]])
    }

    func testARekeyKeepsItsReqidAndTheLastDeleteFreesIt() throws {
        let reqids = ReqidAllocator()
        var gateway = try gateway(reqids)
        var peer = try peer([1])
        let first = try XCTUnwrap(installs(exchange(peer.start(now: 0), &peer, &gateway)).first)
        let rekey = exchange(peer.rekeyChildSA(inboundSPI: peer.childSAs[0].inbound.spi, now: 1), &peer, &gateway)
        let successor = try XCTUnwrap(installs(rekey).first)
        XCTAssertNotEqual(successor.inbound.spi, first.inbound.spi)
        XCTAssertEqual(successor.reqid, first.reqid, "the policies the successor inherits name this reqid")
        XCTAssertEqual(reqids.count, 1)
        // The old CHILD_SA leaves (its inbound SA maybe after delete_rekeyed_delay): the reqid stays, the successor uses it.
        var removed = deletes(rekey)
        for case .scheduleCommand(let timer, _) in rekey {
            if case .removeRekeyedChildSA = timer { removed += deletes(gateway.commandTimerFired(timer, now: 100)) }
        }
        XCTAssertEqual(removed.map(\.inbound.spi), [first.inbound.spi])
        XCTAssertEqual(reqids.count, 1)
        // The IKE_SA is deleted: its CHILD_SA goes and frees the reqid; another peer for the same selectors gets a new one.
        let gone = exchange(peer.delete(now: 2), &peer, &gateway)
        XCTAssertEqual(deletes(gone).map(\.inbound.spi), [successor.inbound.spi])
        XCTAssertEqual(reqids.count, 0)
        var next = try self.peer([1])
        XCTAssertEqual(installs(exchange(next.start(now: 3), &next, &gateway)).map(\.reqid), [2],
                       "a freed reqid is never handed out again")
    }

    func testReleasingTwiceOrUnknownChangesNothing() {
        let reqids = ReqidAllocator()
        let a: [TrafficSelector] = [.ipv4([10, 1, 1, 0], [10, 1, 1, 255])], b: [TrafficSelector] = [.ipv4([10, 2, 0, 0], [10, 2, 0, 255])]
        XCTAssertEqual(reqids.acquire(local: b, remote: a, user: 0xC000_0001), 1)
        XCTAssertEqual(reqids.acquire(local: b, remote: a, user: 0xC000_0002), 1)
        XCTAssertEqual(reqids.acquire(local: a, remote: b, user: 0xC000_0003), 2, "the selectors' sides count")
        reqids.release(1, user: 0xC000_0001)
        reqids.release(1, user: 0xC000_0001)
        reqids.release(7, user: 0xC000_0001)
        XCTAssertEqual(reqids.count, 2, "user 2 still holds reqid 1")
        XCTAssertEqual(reqids.acquire(local: [], remote: [], user: 0xC000_0004, sharing: 1), 1,
                       "a rekey's successor takes its predecessor's reqid whatever its selectors")
        reqids.release(1, user: 0xC000_0002)
        reqids.release(1, user: 0xC000_0004)
        XCTAssertEqual(reqids.count, 1)
        XCTAssertEqual(reqids.acquire(local: b, remote: a, user: 0xC000_0005), 3)
    }
}
