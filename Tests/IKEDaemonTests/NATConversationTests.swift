import XCTest
import IKEv2
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
        let aliceConf = try IKEConversationTests.configuration("alice")
        let bobConf = try IKEConversationTests.configuration("bob")
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
                let actions = bob!.receive(sent.bytes, local: sent.to, remote: seenFrom, now: 0)
                bobInstall = bobInstall ?? install(actions)
                toAlice += sends(actions, bob!)
            }
            if !toAlice.isEmpty {
                let sent = toAlice.removeFirst()
                // The NAT reverses its mapping; alice sees bob's real address and port.
                let reachesAlice = throughNAT ? (sent.to == Self.natted(500) || sent.to == Self.natted(4500)) : sent.to == alice.local
                XCTAssertTrue(reachesAlice, "bob sent to \(sent.to), which the NAT does not map")
                let to = throughNAT ? IKEEndpoint(address: Self.alicePrivate.address, port: sent.to.port == 40500 ? 500 : 4500) : sent.to
                let actions = alice.receive(sent.bytes, local: to, remote: sent.from, now: 0)
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

    func testForgedMessageFromANewPortDoesNotMoveTheIKESA() throws {
        var run = try establish(throughNAT: true)
        let before = run.bob.remote
        let garbage = [UInt8](repeating: 0x41, count: 80)
        _ = run.bob.receive(garbage, local: run.bob.local, remote: IKEEndpoint(address: [203, 0, 113, 9], port: 999), now: 1)
        XCTAssertEqual(run.bob.remote, before)
        XCTAssertEqual(run.bob.counters.endpointUpdates, 1)
    }
}
