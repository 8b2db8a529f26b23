import CMNL
import VipsecTestSupport
import XCTest
@testable import Netlink
@testable import XFRM

final class XFRMParsingTests: XCTestCase {
    let source = address("10.0.0.1"), destination = address("10.0.0.2")

    func testAddedStateReadsBackIdentically() throws {
        let state = XFRMAddState(
            id: XFRMStateID(source: source, destination: destination, spi: 0xc0ffee, mark: XFRMMark(value: 7, mask: 0xf)),
            reqid: 11, mode: .tunnel, lifetime: XFRMLifetime(softPacketLimit: 5, hardAddExpireSeconds: 9),
            encryption: .aesCBC(key: sequentialKey(32)), integrity: .hmacSHA384(key: sequentialKey(48)),
            replay: XFRMReplayState(window: 256, extendedSequenceNumbers: true, sequence: 1 << 33 | 5,
                                    outputSequence: 1 << 32 | 9, bitmap: Array(repeating: 0xffff_0000, count: 8)),
            encap: XFRMEncap(sourcePort: 4501, destinationPort: 4502, originalAddress: address("192.0.2.9")),
            interfaceID: 77, eventThresholds: XFRMEventThresholds(replayPackets: 3, timer: 20))
        try state.validate()
        let info = try XFRMStateInfo(parsing: try XFRMStateMessages.add(state, update: false).asReceived)
        XCTAssertEqual(info.id, state.id)
        XCTAssertEqual(info.reqid, 11)
        XCTAssertEqual(info.mode, .tunnel)
        XCTAssertEqual(info.lifetime, state.lifetime)
        XCTAssertEqual(info.encryption, state.encryption)
        XCTAssertEqual(info.integrity, state.integrity)
        XCTAssertNil(info.aead)
        XCTAssertEqual(info.replay, state.replay)
        XCTAssertEqual(info.encap, state.encap)
        XCTAssertEqual(info.interfaceID, 77)
        XCTAssertEqual(info.eventThresholds, state.eventThresholds)
        XCTAssertEqual(info.selector, .any)
    }

    func testNonESNReplayValueReadsBack() throws {
        let state = XFRMAddState(id: XFRMStateID(source: source, destination: destination, spi: 9), aead: .aesGCM(key: sequentialKey(20)),
                                 replay: XFRMReplayState(window: 32, sequence: 7, outputSequence: 9, bitmap: [0x7f]))
        let message = try XFRMStateMessages.add(state, update: false)
        let decoded = Decoded(payload: message.payload, fixedSize: 224)
        XCTAssertNotNil(decoded.attributes[XFRMAttributeType.replayValue.rawValue])
        XCTAssertNil(decoded.attributes[XFRMAttributeType.replayESNValue.rawValue])
        XCTAssertEqual(decoded.fixed[215], 32)   // replay_window in xfrm_usersa_info
        let info = try XFRMStateInfo(parsing: message.asReceived)
        XCTAssertEqual(info.replay, state.replay)
    }

    func testPolicyReadsBack() throws {
        let policy = XFRMPolicy(selector: XFRMSelector(source: XFRMPrefix("fd00::/64"), destination: XFRMPrefix("fd01::/64"), upperProtocol: 17,
                                                       destinationPort: 53),
                                direction: .forward, action: .block, priority: 9,
                                templates: [XFRMTemplate(source: address("fd00::1"), destination: address("fd01::1"), reqid: 4, mode: .tunnel),
                                            XFRMTemplate(proto: .esp, reqid: 5, mode: .transport, optional: true, family: UInt16(AF_INET6))],
                                mark: XFRMMark(value: 1), interfaceID: 3)
        try policy.validate()
        let parsed = try XFRMPolicy(parsing: try XFRMPolicyMessages.add(policy, update: true).asReceived)
        XCTAssertEqual(parsed, policy)
    }

    func testTruncatedHeaderIsMalformed() throws {
        let payload = Array(bytes(hex: IPRoute2Golden.gcm128).prefix(200))
        XCTAssertThrowsError(try XFRMStateInfo(parsing: NetlinkMessage(type: 16, flags: 0, sequence: 0, portID: 0, payload: payload))) {
            guard case .malformed = $0 as? NetlinkError else { return XCTFail("\($0)") }
        }
    }

    func testAlgorithmKeyLongerThanItsAttributeIsMalformed() throws {
        var payload = bytes(hex: IPRoute2Golden.gcm128)
        // xfrm_algo_aead.alg_key_len sits 64 bytes into the attribute payload (224 + 4 + 64).
        payload[224 + 4 + 64] = 0xff
        payload[224 + 4 + 65] = 0x0f
        XCTAssertThrowsError(try XFRMStateInfo(parsing: NetlinkMessage(type: 16, flags: 0, sequence: 0, portID: 0, payload: payload)))
    }

    func testTemplateAttributeOfOddLengthIsMalformed() throws {
        var payload = bytes(hex: IPRoute2Golden.policy)
        payload[168] = 64   // XFRMA_TMPL length 68 -> 64: 60 payload bytes, not a template
        XCTAssertThrowsError(try XFRMPolicy(parsing: NetlinkMessage(type: 19, flags: 0, sequence: 0, portID: 0, payload: payload)))
    }

    /// Hostile bytes never trap: 20,000 seeded mutations of real messages either parse or throw.
    func testMutatedMessagesNeverTrap() {
        var generator = SeededGenerator(seed: 0x5eed)
        let seeds: [(UInt16, [UInt8])] = [
            (16, bytes(hex: IPRoute2Golden.encapmark)), (16, bytes(hex: IPRoute2Golden.cbcsha256esn)),
            (19, bytes(hex: IPRoute2Golden.policy)), (24, bytes(hex: IPRoute2Golden.esnstate) + [1, 0, 0, 0, 0, 0, 0, 0]),
        ]
        var parsed = 0, rejected = 0
        for round in 0..<20_000 {
            let (type, original) = seeds[round % seeds.count]
            var payload = original
            for _ in 0..<(1 + Int(generator.next() % 4)) {
                let index = Int(generator.next() % UInt64(payload.count))
                payload[index] = UInt8(truncatingIfNeeded: generator.next())
            }
            if generator.next() % 5 == 0 { payload.removeLast(Int(generator.next() % UInt64(payload.count))) }
            let message = NetlinkMessage(type: type, flags: 0, sequence: 0, portID: 0, payload: payload)
            do {
                _ = try XFRMEvent(parsing: message)
                parsed += 1
            } catch {
                rejected += 1
            }
        }
        XCTAssertEqual(parsed + rejected, 20_000)
        XCTAssertGreaterThan(rejected, 0)
        XCTAssertGreaterThan(parsed, 0)
    }

    func testKeysAreRedactedEverywhere() {
        let secret = XFRMKey(hex: "deadbeefcafebabe0011223344556677aabbccdd")!
        let state = XFRMAddState(id: XFRMStateID(source: source, destination: destination, spi: 1), aead: .aesGCM(key: secret))
        for text in [secret.description, state.description, XFRMAlgorithm.aesGCM(key: secret).description, "\(state)"] {
            XCTAssertFalse(text.lowercased().contains("dead"), text)
            XCTAssertFalse(text.lowercased().contains("beef"), text)
        }
        XCTAssertEqual(secret.description, "<key 20 bytes>")
    }

    func testSetOutputSequenceMessageKeepsTheKernelsBitmapLength() throws {
        let id = XFRMStateID(source: source, destination: destination, spi: 0xa001)
        let replay = XFRMReplayState(window: 128, sequence: 5, outputSequence: 1 << 32 | 1, bitmap: [1, 0, 0, 0])
        let message = try XFRMAsyncEventMessages.update(id, replay: replay, esnFormat: true, thresholds: XFRMEventThresholds())
        XCTAssertEqual(message.type, XFRMMessageType.newAsyncEvent.rawValue)
        XCTAssertNotEqual(message.flags & UInt16(NLM_F_REPLACE), 0)
        let decoded = Decoded(payload: message.payload, fixedSize: 48)
        let esn = try XCTUnwrap(decoded.attributes[XFRMAttributeType.replayESNValue.rawValue])
        XCTAssertEqual(esn.count, 24 + 16)
        XCTAssertEqual(Array(esn[0..<4]), [4, 0, 0, 0])        // bmp_len
        XCTAssertEqual(Array(esn[4..<8]), [1, 0, 0, 0])        // oseq low
        XCTAssertEqual(Array(esn[12..<16]), [1, 0, 0, 0])      // oseq_hi
        XCTAssertEqual(Array(decoded.fixed[40..<44]), [2, 0, 0, 0])  // XFRM_AE_RVAL
    }
}
