import XCTest
import IKEv2
import VipsecTestSupport
import IKECrypto

/// Alice (172.16.0.2, behind a masquerading NAT 192.0.2.1) initiates to bob (192.0.2.100).
/// The NAT maps alice's port 500 to 40500 and her 4500 to 44500; datagrams are delivered
/// one at a time with the addresses each side really sees.
///
///     alice 172.16.0.2:500  --IKE_SA_INIT-->  [NAT 192.0.2.1:40500]  -->  bob 192.0.2.100:500
///     alice 172.16.0.2:4500 --IKE_AUTH----->  [NAT 192.0.2.1:44500]  -->  bob 192.0.2.100:4500
final class NATConversationTests: XCTestCase {
    let provider = OpenSSLCryptoProvider()
    static let alicePrivate = IKEEndpoint(address: [172, 16, 0, 2], port: 500)
    static let bob = IKEEndpoint(address: [192, 0, 2, 100], port: 500)
    static let natAddress: [UInt8] = [192, 0, 2, 1]

    /// The NAT's mapping of alice's source port.
    static func natted(_ port: UInt16) -> IKEEndpoint { IKEEndpoint(address: natAddress, port: port == 500 ? 40500 : 44500) }

    struct Sent { var bytes: [UInt8]; var from: IKEEndpoint; var to: IKEEndpoint }

    /// Runs the exchange; `throughNAT: false` delivers with the real addresses (no NAT).
    func establish(throughNAT: Bool) throws -> (alice: IKESA, bob: IKESA, aliceInstall: ChildSAInstallation?,
                                                 bobInstall: ChildSAInstallation?, bobSaw: [IKEEndpoint]) {
        let aliceConf = try IKEConversation.configuration("alice")
        let bobConf = try IKEConversation.configuration("bob")
        var alice = try IKESA.initiator(configuration: aliceConf, provider: provider,
                                        local: Self.alicePrivate, remote: Self.bob)
        var bob: IKESA?
        var aliceInstall: ChildSAInstallation?
        var bobInstall: ChildSAInstallation?
        var bobSaw: [IKEEndpoint] = []
        var toBob: [Sent] = []
        var toAlice: [Sent] = []
        func sends(_ actions: [IKEAction], _ sa: IKESA) -> [Sent] {
            actions.compactMap { if case .send(let b) = $0 { return Sent(bytes: b, from: sa.local, to: sa.remote) } else { return nil } }
        }
        func install(_ actions: [IKEAction]) -> ChildSAInstallation? {
            actions.compactMap { if case .install(let c) = $0 { return c } else { return nil } }.first
        }
        toBob += sends(alice.start(now: 0), alice)
        var rounds = 0
        while (!toBob.isEmpty || !toAlice.isEmpty), rounds < 20 {
            rounds += 1
            if !toBob.isEmpty {
                let sent = toBob.removeFirst()
                XCTAssertEqual(sent.to.address, Self.bob.address)
                let seenFrom = throughNAT ? Self.natted(sent.from.port) : sent.from
                bobSaw.append(seenFrom)
                if bob == nil {
                    let spi = sent.bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                    bob = try IKESA.responder(configuration: bobConf, provider: provider, local: sent.to,
                                              remote: seenFrom, initiatorSPI: spi)
                }
                let actions = bob!.receiveInstalling(sent.bytes, local: sent.to, remote: seenFrom, now: 0)
                bobInstall = bobInstall ?? install(actions)
                toAlice += sends(actions, bob!)
            }
            if !toAlice.isEmpty {
                let sent = toAlice.removeFirst()
                // The NAT reverses its mapping; alice sees bob's real address and port.
                let reachesAlice = throughNAT ? (sent.to == Self.natted(500) || sent.to == Self.natted(4500)) : sent.to == alice.local
                XCTAssertTrue(reachesAlice, "bob sent to \(sent.to), which the NAT does not map")
                let to = throughNAT ? IKEEndpoint(address: Self.alicePrivate.address, port: sent.to.port == 40500 ? 500 : 4500) : sent.to
                let actions = alice.receiveInstalling(sent.bytes, local: to, remote: sent.from, now: 0)
                aliceInstall = aliceInstall ?? install(actions)
                toBob += sends(actions, alice)
            }
        }
        return (alice, try XCTUnwrap(bob), aliceInstall, bobInstall, bobSaw)
    }

    func testThroughANATBothSidesFloatTo4500AndEncapsulate() throws {
        let run = try establish(throughNAT: true)
        XCTAssertEqual(run.alice.phase, .established)
        XCTAssertEqual(run.bob.phase, .established)
        XCTAssertEqual(run.alice.natDetection, NATDetectionResult(remoteBehindNAT: false, localBehindNAT: true))
        XCTAssertEqual(run.bob.natDetection, NATDetectionResult(remoteBehindNAT: true, localBehindNAT: false))
        // IKE_SA_INIT on 500, IKE_AUTH on 4500 (from the NAT's second mapping).
        XCTAssertEqual(run.bobSaw, [Self.natted(500), Self.natted(4500)])
        XCTAssertEqual(run.alice.local.port, 4500)
        XCTAssertEqual(run.alice.remote, IKEEndpoint(address: Self.bob.address, port: 4500))
        // Bob followed alice to the NAT's 4500 mapping and answers from his 4500.
        XCTAssertEqual(run.bob.remote, Self.natted(4500))
        XCTAssertEqual(run.bob.local, IKEEndpoint(address: Self.bob.address, port: 4500))
        XCTAssertEqual(run.bob.counters.endpointUpdates, 1)
        let aliceChild = try XCTUnwrap(run.aliceInstall)
        let bobChild = try XCTUnwrap(run.bobInstall)
        XCTAssertEqual(aliceChild.udpEncapsulation, UDPEncapsulation(sourcePort: 4500, destinationPort: 4500))
        XCTAssertEqual(bobChild.udpEncapsulation, UDPEncapsulation(sourcePort: 4500, destinationPort: 44500))
        XCTAssertEqual(bobChild.outbound.destination, Self.natAddress)
    }

    func testWithoutANATIKEStaysOn500AndESPIsNotEncapsulated() throws {
        let run = try establish(throughNAT: false)
        XCTAssertEqual(run.alice.phase, .established)
        XCTAssertEqual(run.bob.phase, .established)
        XCTAssertEqual(run.alice.natDetection?.natDetected, false)
        XCTAssertEqual(run.bob.natDetection?.natDetected, false)
        XCTAssertEqual(run.alice.local.port, 500)
        XCTAssertEqual(run.bob.remote, Self.alicePrivate)
        XCTAssertNil(run.aliceInstall?.udpEncapsulation)
        XCTAssertNil(run.bobInstall?.udpEncapsulation)
        XCTAssertNotNil(run.aliceInstall)
    }

    static func sent(_ actions: [IKEAction]) -> [UInt8]? {
        actions.compactMap { if case .send(let b) = $0 { return b } else { return nil } }.first
    }

    /// 2.23: only an authenticated message moves the IKE_SA; then bob follows the new
    /// NAT mapping, answers there, and encapsulates rekeyed CHILD_SAs to it.
    func testOnlyAuthenticMessagesMoveTheIKESAToANewNATMapping() throws {
        var run = try establish(throughNAT: true)
        let remapped = IKEEndpoint(address: Self.natAddress, port: 50000)
        let stranger = IKEEndpoint(address: [203, 0, 113, 9], port: 999)
        // A forged copy (last octet of the ICV flipped) from a stranger: dropped, no move.
        let liveness = try XCTUnwrap(Self.sent(run.alice.checkLiveness(now: 1)))
        var forged = liveness
        forged[forged.count - 1] ^= 0x01
        XCTAssertTrue(run.bob.receiveInstalling(forged, local: run.bob.local, remote: stranger, now: 1).isEmpty)
        XCTAssertEqual(run.bob.counters.integrityFailures, 1)
        XCTAssertEqual(run.bob.remote, Self.natted(4500))
        // Garbage from the stranger: dropped as malformed, no move.
        _ = run.bob.receiveInstalling([UInt8](repeating: 0x41, count: 80), local: run.bob.local, remote: stranger, now: 1)
        XCTAssertEqual(run.bob.remote, Self.natted(4500))
        // The authentic request from a new NAT port: answered there, the IKE_SA follows.
        let answer = run.bob.receiveInstalling(liveness, local: run.bob.local, remote: remapped, now: 1)
        XCTAssertNotNil(Self.sent(answer))
        XCTAssertEqual(run.bob.remote, remapped)
        XCTAssertEqual(run.bob.counters.endpointUpdates, 2)
        _ = run.alice.receiveInstalling(try XCTUnwrap(Self.sent(answer)), now: 1)   // frees alice's window
        // A CHILD_SA rekey now encapsulates to the new port.
        let oldSPI = try XCTUnwrap(run.aliceInstall).inbound.spi
        let rekey = try XCTUnwrap(Self.sent(run.alice.rekeyChildSA(inboundSPI: oldSPI, now: 2)))
        let created = run.bob.receiveInstalling(rekey, local: run.bob.local, remote: remapped, now: 2)
            .compactMap { if case .install(let c) = $0 { return c } else { return nil } }
        XCTAssertEqual(created.first?.udpEncapsulation, UDPEncapsulation(sourcePort: 4500, destinationPort: 50000))
    }
}
