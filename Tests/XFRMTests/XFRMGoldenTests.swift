import CMNL
import XCTest
@testable import Netlink
@testable import XFRM

/// Our messages against what iproute2 sends for the same object (IPRoute2Golden): the
/// fixed header byte for byte, and the same set of attributes byte for byte (the kernel
/// does not care about attribute order; iproute2's order follows its command line).
final class XFRMGoldenTests: XCTestCase {
    let gcmKey = key("0102030405060708090a0b0c0d0e0f1011121314")
    let v4a = address("10.0.0.1"), v4b = address("10.0.0.2")

    private func assertSame(_ message: NetlinkMessageBuilder, _ golden: String, fixed: Int,
                            type: XFRMMessageType, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(message.type, type.rawValue, file: file, line: line)
        let ours = Decoded(payload: message.payload, fixedSize: fixed)
        let theirs = Decoded(payload: bytes(hex: golden), fixedSize: fixed)
        XCTAssertEqual(ours.fixed.count, fixed, file: file, line: line)
        for offset in 0..<min(ours.fixed.count, theirs.fixed.count) where ours.fixed[offset] != theirs.fixed[offset] {
            XCTFail("fixed header differs at byte \(offset): ours \(ours.fixed[offset]) ip \(theirs.fixed[offset])", file: file, line: line)
            break
        }
        XCTAssertEqual(ours.attributes.keys.sorted(), theirs.attributes.keys.sorted(), "attribute types", file: file, line: line)
        for (type, payload) in theirs.attributes {
            XCTAssertEqual(ours.attributes[type], payload, "attribute \(type)", file: file, line: line)
        }
    }

    func testAESGCMTransportSA() throws {
        let state = XFRMAddState(id: XFRMStateID(source: v4a, destination: v4b, spi: 0x1000), reqid: 7, mode: .transport,
                                 aead: .aesGCM(key: gcmKey), replay: XFRMReplayState(window: 32))
        try state.validate()
        assertSame(try XFRMStateMessages.add(state, update: false), IPRoute2Golden.gcm128, fixed: 224, type: .newSA)
    }

    func testCBCWithHMACSHA256TunnelESNOverIPv6() throws {
        let state = XFRMAddState(id: XFRMStateID(source: address("2001:db8::1"), destination: address("2001:db8::2"), spi: 0x2000),
                                 reqid: 9, mode: .tunnel, encryption: .aesCBC(key: sequentialKey(16)),
                                 integrity: .hmacSHA256(key: sequentialKey(32)),
                                 replay: XFRMReplayState(window: 4096, extendedSequenceNumbers: true))
        try state.validate()
        assertSame(try XFRMStateMessages.add(state, update: false), IPRoute2Golden.cbcsha256esn, fixed: 224, type: .newSA)
    }

    func testChaChaWithEncapMarkInterfaceIDSelectorAndLifetimes() throws {
        let state = XFRMAddState(
            id: XFRMStateID(source: v4a, destination: v4b, spi: 0x3000, mark: XFRMMark(value: 0x10, mask: 0xff)),
            reqid: 1, mode: .tunnel,
            selector: XFRMSelector(source: XFRMPrefix("192.168.1.0/24"), destination: XFRMPrefix("192.168.2.0/24"),
                                   upperProtocol: 6, sourcePort: 80, destinationPort: 443),
            lifetime: XFRMLifetime(softByteLimit: 1000, hardByteLimit: 2000, softPacketLimit: 10, hardPacketLimit: 20,
                                   softAddExpireSeconds: 30, hardAddExpireSeconds: 60,
                                   softUseExpireSeconds: 40, hardUseExpireSeconds: 70),
            aead: .chaCha20Poly1305(key: sequentialKey(36)), encap: .espInUDP, interfaceID: 5)
        try state.validate()
        assertSame(try XFRMStateMessages.add(state, update: false), IPRoute2Golden.encapmark, fixed: 224, type: .newSA)
    }

    func testInitialSequenceNumbersWithoutESNUseTheESNAttribute() throws {
        let state = XFRMAddState(id: XFRMStateID(source: v4a, destination: v4b, spi: 0x4000), aead: .aesGCM(key: gcmKey),
                                 replay: XFRMReplayState(window: 64, sequence: 0x20, outputSequence: 0x500))
        assertSame(try XFRMStateMessages.add(state, update: false), IPRoute2Golden.seqstate, fixed: 224, type: .newSA)
    }

    func testSixtyFourBitSequenceNumbersWithESN() throws {
        let state = XFRMAddState(id: XFRMStateID(source: v4a, destination: v4b, spi: 0x5000), aead: .aesGCM(key: gcmKey),
                                 replay: XFRMReplayState(window: 128, extendedSequenceNumbers: true,
                                                         sequence: 1 << 32 | 0x20, outputSequence: 2 << 32 | 0x500))
        assertSame(try XFRMStateMessages.add(state, update: false), IPRoute2Golden.esnstate, fixed: 224, type: .newSA)
    }

    func testOffloadRequest() throws {
        let state = XFRMAddState(id: XFRMStateID(source: v4a, destination: v4b, spi: 0x6000), aead: .aesGCM(key: gcmKey),
                                 offload: XFRMOffload(interfaceIndex: 1, inbound: false))
        assertSame(try XFRMStateMessages.add(state, update: false), IPRoute2Golden.offload, fixed: 224, type: .newSA)
        // Without offload (the fallback) the attribute is gone and nothing else changes.
        let fallback = Decoded(payload: try XFRMStateMessages.add(state, update: false, offload: false).payload, fixedSize: 224)
        XCTAssertNil(fallback.attributes[XFRMAttributeType.offloadDevice.rawValue])
        XCTAssertNotNil(fallback.attributes[XFRMAttributeType.aead.rawValue])
    }

    func testCBCWithHMACSHA512() throws {
        let state = XFRMAddState(id: XFRMStateID(source: v4a, destination: v4b, spi: 0x7000),
                                 encryption: .aesCBC(key: XFRMKey((0..<32).map { UInt8($0 % 16) })),
                                 integrity: .hmacSHA512(key: XFRMKey((0..<64).map { UInt8($0 % 32) })))
        try state.validate()
        assertSame(try XFRMStateMessages.add(state, update: false), IPRoute2Golden.cbcsha512, fixed: 224, type: .newSA)
    }

    func testGetAndDeleteByID() throws {
        let id = XFRMStateID(source: v4a, destination: v4b, spi: 0x1000)
        assertSame(try XFRMStateMessages.byID(id, type: .deleteSA), IPRoute2Golden.delsa, fixed: 24, type: .deleteSA)
        assertSame(try XFRMStateMessages.byID(id, type: .getSA), IPRoute2Golden.getsa, fixed: 24, type: .getSA)
    }

    func testAllocateSPI() throws {
        let request = XFRMAllocateSPI(source: v4a, destination: v4b, mode: .tunnel, reqid: 3, range: 0x100...0x200)
        assertSame(try XFRMStateMessages.allocateSPI(request), IPRoute2Golden.allocspi, fixed: 232, type: .allocateSPI)
    }

    func testPolicyAddAndDelete() throws {
        let selector = XFRMSelector(source: XFRMPrefix("192.168.1.0/24"), destination: XFRMPrefix("192.168.2.0/24"),
                                    upperProtocol: 6, sourcePort: 80, destinationPort: 443)
        let policy = XFRMPolicy(selector: selector, direction: .outbound, priority: 100,
                                templates: [XFRMTemplate(source: v4a, destination: v4b, reqid: 7, mode: .tunnel)],
                                mark: XFRMMark(value: 0x10, mask: 0xff), interfaceID: 5)
        try policy.validate()
        assertSame(try XFRMPolicyMessages.add(policy, update: false), IPRoute2Golden.policy, fixed: 168, type: .newPolicy)
        let id = XFRMPolicyID(selector: selector, direction: .outbound)
        assertSame(try XFRMPolicyMessages.byID(id, type: .deletePolicy), IPRoute2Golden.delpol, fixed: 64, type: .deletePolicy)
    }

    /// What ip sends is what the kernel sends back for an SA: our parser reads ip's bytes.
    func testParserReadsIPRoute2sMessagesBack() throws {
        let message = NetlinkMessage(type: XFRMMessageType.newSA.rawValue, flags: 0, sequence: 0, portID: 0,
                                     payload: bytes(hex: IPRoute2Golden.encapmark))
        let info = try XFRMStateInfo(parsing: message)
        XCTAssertEqual(info.id.spi, 0x3000)
        XCTAssertEqual(info.id.source, v4a)
        XCTAssertEqual(info.id.destination, v4b)
        XCTAssertEqual(info.id.mark, XFRMMark(value: 0x10, mask: 0xff))
        XCTAssertEqual(info.reqid, 1)
        XCTAssertEqual(info.mode, .tunnel)
        XCTAssertEqual(info.aead?.name, "rfc7539esp(chacha20,poly1305)")
        XCTAssertEqual(info.aead?.key, sequentialKey(36))
        XCTAssertEqual(info.aead?.bits, 128)
        XCTAssertEqual(info.encap, .espInUDP)
        XCTAssertEqual(info.interfaceID, 5)
        XCTAssertEqual(info.selector.description, "src 192.168.1.0/24 dst 192.168.2.0/24 proto 6 sport 80 dport 443")
        XCTAssertEqual(info.lifetime.softByteLimit, 1000)
        XCTAssertEqual(info.lifetime.hardUseExpireSeconds, 70)

        let esn = try XFRMStateInfo(parsing: NetlinkMessage(type: 16, flags: 0, sequence: 0, portID: 0,
                                                             payload: bytes(hex: IPRoute2Golden.esnstate)))
        XCTAssertEqual(esn.replay.sequence, 1 << 32 | 0x20)
        XCTAssertEqual(esn.replay.outputSequence, 2 << 32 | 0x500)
        XCTAssertEqual(esn.replay.window, 128)
        XCTAssertTrue(esn.replay.extendedSequenceNumbers)

        let policy = try XFRMPolicy(parsing: NetlinkMessage(type: 19, flags: 0, sequence: 0, portID: 0,
                                                           payload: bytes(hex: IPRoute2Golden.policy)))
        XCTAssertEqual(policy.direction, .outbound)
        XCTAssertEqual(policy.priority, 100)
        XCTAssertEqual(policy.templates, [XFRMTemplate(source: v4a, destination: v4b, reqid: 7, mode: .tunnel)])
        XCTAssertEqual(policy.interfaceID, 5)
    }
}
