// Proposal selection (RFC 7296 2.7) and traffic selector narrowing (2.9).

import XCTest
@testable import IKEv2

final class ProposalSelectionTests: XCTestCase {
    private func ike(_ text: String) throws -> [Proposal] { try ProposalSyntax.parse(text, protocolID: .ike) }
    private func esp(_ text: String, spi: [UInt8] = [0xc1, 0, 0, 7]) throws -> [Proposal] {
        try ProposalSyntax.parse(text, protocolID: .esp).map { var p = $0; p.spi = spi; return p }
    }

    func testFirstAcceptableInitiatorProposalWinsWithItsNumber() throws {
        let offered = try ike("aes128-sha256-modp2048,aes256gcm16-prfsha256-x25519,chacha20poly1305-prfsha512-curve25519")
        let configured = try ike("chacha20poly1305-prfsha512-curve25519,aes256gcm16-prfsha256-x25519")
        let chosen = try ProposalSelection.select(offered: offered, configured: configured)
        // The initiator's second proposal is its first acceptable one, whatever our order.
        XCTAssertEqual(chosen, offered[1])
        XCTAssertEqual(chosen.number, 2)
        XCTAssertTrue(ProposalSelection.isValidChoice(chosen, from: offered))
    }

    func testOneTransformPerTypeInitiatorPreferenceFirst() throws {
        let offered = try ike("aes128-aes256-sha512-sha256-ecp256-x25519")
        let configured = try ike("aes256-sha256-x25519-ecp256")
        let chosen = try ProposalSelection.select(offered: offered, configured: configured)
        XCTAssertEqual(chosen.transforms, [
            Transform(.aesCBC, keyLength: 256), Transform(.hmacSHA2_256_128), Transform(PseudorandomFunctionID.hmacSHA2_256),
            Transform(KeyExchangeMethod.ecp256),
        ])
        XCTAssertTrue(ProposalSelection.isValidChoice(chosen, from: offered))
    }

    func testKeyLengthMustMatch() throws {
        XCTAssertThrowsError(try ProposalSelection.select(offered: try ike("aes128gcm16-prfsha256-x25519"),
                                                          configured: try ike("aes256gcm16-prfsha256-x25519"))) { error in
            XCTAssertEqual(error as? NegotiationError, .noProposalChosen)
            XCTAssertEqual((error as? NegotiationError)?.notifyMessageType, .noProposalChosen)
        }
    }

    func testNothingAcceptableIsNoProposalChosen() throws {
        XCTAssertThrowsError(try ProposalSelection.select(offered: try ike("aes128-sha256-modp2048"),
                                                          configured: try ike("aes128-sha256-x25519")))
        XCTAssertThrowsError(try ProposalSelection.select(offered: [], configured: try ike("aes128-sha256-x25519")))
        // Protocol mismatch.
        XCTAssertThrowsError(try ProposalSelection.select(offered: try esp("aes128gcm16"), configured: try ike("aes128-sha256-x25519")))
    }

    func testMissingOrExtraTypeIsUnacceptable() throws {
        // Initiator wants PFS, we do not configure it: no NONE offered, so no match.
        XCTAssertThrowsError(try ProposalSelection.select(offered: try esp("aes128gcm16-x25519"), configured: try esp("aes128gcm16")))
        // We want PFS, the initiator offers none.
        XCTAssertThrowsError(try ProposalSelection.select(offered: try esp("aes128gcm16"), configured: try esp("aes128gcm16-x25519")))
        // Unless the initiator offers KE NONE among its groups.
        var optional = try esp("aes128gcm16-x25519")
        optional[0].transforms.append(Transform(KeyExchangeMethod.none))
        let chosen = try ProposalSelection.select(offered: optional, configured: try esp("aes128gcm16"))
        XCTAssertEqual(chosen.keyExchangeMethod, KeyExchangeMethod.none)
    }

    func testIKEAuthChildIgnoresKeyExchange() throws {
        let offered = try esp("aes256gcm16-x25519-esn")
        let chosen = try ProposalSelection.select(offered: offered, configured: try esp("aes256gcm16-esn"), ignoringKeyExchange: true)
        XCTAssertEqual(chosen.transforms, [Transform(.aesGCM16, keyLength: 256), Transform(ExtendedSequenceNumbers.yes)])
        XCTAssertEqual(chosen.spi, [0xc1, 0, 0, 7], "the initiator's SPI is kept for the caller to replace")
        XCTAssertTrue(ProposalSelection.isValidChoice(chosen, from: offered, ignoringKeyExchange: true))
        XCTAssertFalse(ProposalSelection.isValidChoice(chosen, from: offered))
    }

    func testESNChoice() throws {
        let chosen = try ProposalSelection.select(offered: try esp("aes128gcm16-esn-noesn"), configured: try esp("aes128gcm16-noesn"))
        XCTAssertEqual(chosen.extendedSequenceNumbers, .no)
    }

    func testBadSPISizesAreUnacceptable() throws {
        XCTAssertThrowsError(try ProposalSelection.select(offered: try esp("aes128gcm16", spi: []), configured: try esp("aes128gcm16")))
        var ikeWithOddSPI = try ike("aes128-sha256-x25519")
        ikeWithOddSPI[0].spi = [1, 2, 3]
        XCTAssertThrowsError(try ProposalSelection.select(offered: ikeWithOddSPI, configured: try ike("aes128-sha256-x25519")))
    }

    func testUnknownTransformTypeOrAttributeIsUnacceptable() throws {
        var offered = try ike("aes128-sha256-x25519")
        offered[0].transforms.append(Transform(type: TransformType(rawValue: 6), id: 1))
        XCTAssertThrowsError(try ProposalSelection.select(offered: offered, configured: try ike("aes128-sha256-x25519")))
        var attribute = try ike("aes128-sha256-x25519")
        attribute[0].transforms[0].attributes.append(TransformAttribute(type: TransformAttributeType(rawValue: 99), value: .short(1)))
        XCTAssertThrowsError(try ProposalSelection.select(offered: attribute, configured: try ike("aes128-sha256-x25519")))
    }

    func testInvalidChoicesAreDetected() throws {
        let offered = try ike("aes128-aes256-sha256-x25519")
        var twoCiphers = offered[0]
        XCTAssertFalse(ProposalSelection.isValidChoice(twoCiphers, from: offered), "two ENCR transforms")
        twoCiphers.transforms.removeFirst()
        XCTAssertTrue(ProposalSelection.isValidChoice(twoCiphers, from: offered))
        var foreign = twoCiphers
        foreign.transforms[0] = Transform(.aesGCM16, keyLength: 256)
        XCTAssertFalse(ProposalSelection.isValidChoice(foreign, from: offered), "not offered")
        var missing = twoCiphers
        missing.transforms.removeAll { $0.type == .keyExchangeMethod }
        XCTAssertFalse(ProposalSelection.isValidChoice(missing, from: offered), "type left out")
        var renumbered = twoCiphers
        renumbered.number = 2
        XCTAssertFalse(ProposalSelection.isValidChoice(renumbered, from: offered), "no such proposal")
    }
}

final class TrafficSelectorNarrowingTests: XCTestCase {
    private func v4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> [UInt8] { [a, b, c, d] }

    func testIntersectionOfRangesPortsAndProtocol() {
        let proposed = TrafficSelector.ipv4(v4(10, 0, 0, 0), v4(10, 0, 255, 255))
        let configured = TrafficSelector.ipv4(v4(10, 0, 1, 0), v4(10, 1, 0, 0), ipProtocolID: 6, ports: 80...443)
        XCTAssertEqual(TrafficSelectorNarrowing.intersection(proposed, configured),
                       .ipv4(v4(10, 0, 1, 0), v4(10, 0, 255, 255), ipProtocolID: 6, ports: 80...443))
        XCTAssertEqual(TrafficSelectorNarrowing.intersection(configured, proposed),
                       TrafficSelectorNarrowing.intersection(proposed, configured), "symmetric")
    }

    func testDisjointSelectorsDoNotIntersect() {
        let a = TrafficSelector.ipv4(v4(10, 0, 0, 0), v4(10, 0, 0, 255))
        XCTAssertNil(TrafficSelectorNarrowing.intersection(a, .ipv4(v4(10, 0, 1, 0), v4(10, 0, 1, 255))))
        XCTAssertNil(TrafficSelectorNarrowing.intersection(.ipv4(v4(10, 0, 0, 0), v4(10, 0, 0, 255), ipProtocolID: 6),
                                                           .ipv4(v4(10, 0, 0, 0), v4(10, 0, 0, 255), ipProtocolID: 17)))
        XCTAssertNil(TrafficSelectorNarrowing.intersection(.ipv4(v4(10, 0, 0, 0), v4(10, 0, 0, 255), ports: 1...10),
                                                           .ipv4(v4(10, 0, 0, 0), v4(10, 0, 0, 255), ports: 11...20)))
        XCTAssertNil(TrafficSelectorNarrowing.intersection(a, .ipv6(Array(repeating: 0, count: 16), Array(repeating: 0xff, count: 16))))
        // An inverted range selects nothing.
        XCTAssertNil(TrafficSelectorNarrowing.intersection(.ipv4(v4(10, 0, 0, 9), v4(10, 0, 0, 1)), a))
    }

    func testIPv6Intersection() {
        let all = TrafficSelector.ipv6(Array(repeating: 0, count: 16), Array(repeating: 0xff, count: 16))
        let host = TrafficSelector.ipv6([0xfd] + Array(repeating: 0, count: 14) + [1], [0xfd] + Array(repeating: 0, count: 14) + [1], ipProtocolID: 58)
        XCTAssertEqual(TrafficSelectorNarrowing.intersection(all, host), host)
    }

    func testOpaquePorts() {
        let opaque = TrafficSelector.ipv4(v4(10, 0, 0, 0), v4(10, 0, 0, 255), ipProtocolID: 17, ports: 0...65535)
        var o = opaque
        o.startPort = 65535
        o.endPort = 0
        XCTAssertEqual(TrafficSelectorNarrowing.intersection(o, opaque)?.startPort, 65535)
        XCTAssertNil(TrafficSelectorNarrowing.intersection(o, .ipv4(v4(10, 0, 0, 0), v4(10, 0, 0, 255), ports: 500...500)))
    }

    func testNarrowKeepsProposedOrderAndDropsDuplicates() {
        let proposed: [TrafficSelector] = [.ipv4(v4(10, 0, 0, 5), v4(10, 0, 0, 5)), .ipv4(v4(0, 0, 0, 0), v4(255, 255, 255, 255))]
        let configured: [TrafficSelector] = [.ipv4(v4(10, 0, 0, 0), v4(10, 0, 0, 255)), .ipv4(v4(10, 0, 0, 0), v4(10, 0, 0, 255))]
        XCTAssertEqual(TrafficSelectorNarrowing.narrow(proposed: proposed, configured: configured),
                       [.ipv4(v4(10, 0, 0, 5), v4(10, 0, 0, 5)), .ipv4(v4(10, 0, 0, 0), v4(10, 0, 0, 255))])
    }

    func testResponderNarrowsBothSidesOrTSUnacceptable() throws {
        let remote: [TrafficSelector] = [.ipv4(v4(192, 168, 0, 0), v4(192, 168, 0, 255))]
        let local: [TrafficSelector] = [.ipv4(v4(10, 0, 0, 0), v4(10, 0, 0, 255))]
        let narrowed = try TrafficSelectorNarrowing.narrow(
            initiator: [.ipv4(v4(0, 0, 0, 0), v4(255, 255, 255, 255))], responder: [.ipv4(v4(10, 0, 0, 7), v4(10, 0, 0, 7))],
            configuredRemote: remote, configuredLocal: local)
        XCTAssertEqual(narrowed.initiator, remote)
        XCTAssertEqual(narrowed.responder, [.ipv4(v4(10, 0, 0, 7), v4(10, 0, 0, 7))])

        XCTAssertThrowsError(try TrafficSelectorNarrowing.narrow(
            initiator: [.ipv4(v4(172, 16, 0, 1), v4(172, 16, 0, 1))], responder: local,
            configuredRemote: remote, configuredLocal: local)) { error in
            XCTAssertEqual(error as? NegotiationError, .tsUnacceptable("TSi"))
            XCTAssertEqual((error as? NegotiationError)?.notifyMessageType, .tsUnacceptable)
        }
        XCTAssertThrowsError(try TrafficSelectorNarrowing.narrow(
            initiator: remote, responder: [.ipv4(v4(10, 0, 1, 1), v4(10, 0, 1, 1))],
            configuredRemote: remote, configuredLocal: local)) { error in
            XCTAssertEqual(error as? NegotiationError, .tsUnacceptable("TSr"))
        }
    }

    func testUnknownTypeNeverMatches() {
        let unknown = TrafficSelector(type: TrafficSelectorType(rawValue: 99), startAddress: [1, 2, 3], endAddress: [])
        XCTAssertNil(TrafficSelectorNarrowing.intersection(unknown, unknown))
    }
}
