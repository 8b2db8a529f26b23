// Golden bytes: messages strongSwan 5.9.8 exchanged with itself (PSK, two namespaces),
// captured with tcpdump (Fixtures/capture/ has the scripts). The IKE_AUTH plaintexts were
// decrypted offline with the keys charon logged at level 4 (Fixtures/*-keymat.log); the
// AES-GCM tag verified with associated data = the first 32 octets, which is what
// `encryptedAssociatedData` must return.

import NIOCore
import XCTest
@testable import IKEv2

final class StrongSwanFixtureTests: XCTestCase {
    private func message(_ name: String) throws -> (IKEMessage, [UInt8]) {
        let bytes = try TestFiles.fixture("strongswan-\(name).bin")
        return (try parse(bytes), bytes)
    }

    private func sa(_ message: IKEMessage) -> [Proposal] {
        for case .securityAssociation(let sa) in message.payloads { return sa.proposals }
        return []
    }

    func testX25519GCMInitRequestFieldByField() throws {
        let (request, _) = try message("x25519gcm-1-ike_sa_init-request")
        // The initiator SPI also appears in charon's natd_chunk log line: 02 2F 0F 74 4C 8B 75 DC.
        XCTAssertEqual(request.header.initiatorSPI, 0x022F_0F74_4C8B_75DC)
        XCTAssertEqual(request.header.responderSPI, 0)
        XCTAssertEqual(request.header.exchangeType, .ikeSAInit)
        XCTAssertEqual(request.header.flags, .initiator)
        XCTAssertEqual(request.header.messageID, 0)
        XCTAssertEqual(request.header.length, 232)
        // strongSwan: [ SA KE No N(NATD_S_IP) N(NATD_D_IP) N(FRAG_SUP) N(HASH_ALG) N(REDIR_SUP) ]
        XCTAssertEqual(request.payloads.map(\.type), [.securityAssociation, .keyExchange, .nonce, .notify, .notify, .notify, .notify, .notify])
        XCTAssertEqual(request.notifies.map(\.messageType), [
            .natDetectionSourceIP, .natDetectionDestinationIP, .ikev2FragmentationSupported, .signatureHashAlgorithms, .redirectSupported,
        ])
        XCTAssertEqual(sa(request), [Proposal(number: 1, protocolID: .ike, transforms: [
            Transform(.aesGCM16, keyLength: 256), Transform(PseudorandomFunctionID.hmacSHA2_256), Transform(KeyExchangeMethod.curve25519),
        ])])
        guard case .keyExchange(let ke) = request.payloads[1], case .nonce(let nonce) = request.payloads[2] else { return XCTFail() }
        XCTAssertEqual(ke.group, .curve25519)
        XCTAssertEqual(ke.keyExchangeData.count, 32)
        XCTAssertEqual(nonce.nonceData.count, 32)
        // NATD_S_IP data equals the natd_hash charon logged.
        XCTAssertEqual(request.notify(.natDetectionSourceIP)?.notificationData, [UInt8](hex: "7AB762561FDF9ED56D7E1B33B5AF905723C6CCE5"))
        XCTAssertEqual(request.notify(.signatureHashAlgorithms)?.notificationData, [0, 2, 0, 3, 0, 4, 0, 5])
    }

    func testEveryCapturedMessageReencodesToTheSameOctets() throws {
        let files = try TestFiles.files(in: "Fixtures").filter { !$0.name.contains("plaintext") }
        XCTAssertEqual(files.count, 12)
        for (name, bytes) in files {
            let parsed = try parse(bytes)
            XCTAssertEqual(Array(buffer: parsed.bytes), bytes, name)
        }
    }

    func testResponderChoiceMatchesStrongSwans() throws {
        // Our selection with strongSwan's config string over strongSwan's request must pick
        // what strongSwan's responder picked.
        for (name, config) in [("x25519gcm", "aes256gcm16-prfsha256-x25519"), ("cbcecp", "aes128-sha256-ecp256"),
                               ("multi", "aes256-sha384-modp2048,chacha20poly1305-prfsha512-curve25519")] {
            let (request, _) = try message("\(name)-1-ike_sa_init-request")
            let (response, _) = try message("\(name)-2-ike_sa_init-response")
            let configured = try ProposalSyntax.parse(config, protocolID: .ike)
            // Our parser offers the same transforms strongSwan put on the wire (order within type kept).
            XCTAssertEqual(sa(request).map { Set($0.transforms.map(\.description)) }, configured.map { Set($0.transforms.map(\.description)) }, name)
            for (theirs, ours) in zip(sa(request), configured) {
                for type in ProposalSyntax.typeOrder {
                    XCTAssertEqual(theirs.transforms(ofType: type), ours.transforms(ofType: type), "\(name) \(type)")
                }
            }
            let chosen = try ProposalSelection.select(offered: sa(request), configured: configured)
            XCTAssertEqual(sa(response).count, 1)
            XCTAssertEqual(Set(chosen.transforms.map(\.description)), Set(sa(response)[0].transforms.map(\.description)), name)
            XCTAssertEqual(chosen.number, sa(response)[0].number)
            XCTAssertTrue(ProposalSelection.isValidChoice(sa(response)[0], from: sa(request)), name)
        }
    }

    func testIKEAuthRequestFramingAndDecryptedInnerChain() throws {
        let (request, bytes) = try message("x25519gcm-3-ike_auth-request")
        XCTAssertEqual(request.header.exchangeType, .ikeAuth)
        XCTAssertEqual(request.header.messageID, 1)
        XCTAssertEqual(request.payloads.map(\.type), [.encrypted])
        XCTAssertEqual(request.encryptedPayload?.firstInnerPayload, .identificationInitiator)
        XCTAssertEqual(request.encryptedBodyOffset, 32)
        XCTAssertEqual(request.encryptedAssociatedData.map { Array(buffer: $0) }, Array(bytes[..<32]))
        XCTAssertEqual(request.encryptedPayload?.body.readableBytes, bytes.count - 32)

        var plaintext = ByteBuffer(bytes: try TestFiles.fixture("strongswan-x25519gcm-3-ike_auth-request.plaintext.bin"))
        let inner = try IKEMessage.parseInnerPayloads(firstPayload: .identificationInitiator, from: &plaintext)
        // strongSwan: [ IDi AUTH N(USE_TRANSP) SA TSi TSr N(MOBIKE_SUP) N(NO_ADD_ADDR) N(MULT_AUTH) N(EAP_ONLY) N(MSG_ID_SYN_SUP) ]
        XCTAssertEqual(inner.map(\.type), [.identificationInitiator, .authentication, .notify, .securityAssociation,
                                           .trafficSelectorInitiator, .trafficSelectorResponder, .notify, .notify, .notify, .notify, .notify])
        guard case .identificationInitiator(let id) = inner[0], case .authentication(let auth) = inner[1],
              case .notify(let transport) = inner[2], case .securityAssociation(let sa) = inner[3],
              case .trafficSelectorInitiator(let tsi) = inner[4], case .trafficSelectorResponder(let tsr) = inner[5]
        else { return XCTFail() }
        XCTAssertEqual(id.idType, .fqdn)
        XCTAssertEqual(String(decoding: id.identificationData, as: UTF8.self), "a.vipsec.test")
        XCTAssertEqual(auth.method, .sharedKeyMessageIntegrityCode)
        XCTAssertEqual(auth.authenticationData.count, 32, "PSK AUTH = prf(HMAC-SHA2-256) output")
        XCTAssertEqual(transport.messageType, .useTransportMode)
        XCTAssertEqual(sa.proposals.count, 1)
        XCTAssertEqual(sa.proposals[0].protocolID, .esp)
        XCTAssertEqual(sa.proposals[0].spi.count, 4)
        XCTAssertEqual(sa.proposals[0].transforms, try ProposalSyntax.parse("aes256gcm16-esn", protocolID: .esp)[0].transforms)
        XCTAssertEqual(tsi.trafficSelectors, [.ipv4([10, 99, 0, 1], [10, 99, 0, 1])])
        XCTAssertEqual(tsr.trafficSelectors, [.ipv4([10, 99, 0, 2], [10, 99, 0, 2])])
        let trailing: [NotifyMessageType] = inner[6...].compactMap { payload -> NotifyMessageType? in
            if case .notify(let notify) = payload { return notify.messageType }
            return nil
        }
        XCTAssertEqual(trailing, [.mobikeSupported, .noAdditionalAddresses, .multipleAuthSupported, .eapOnlyAuthentication,
                                  .ikev2MessageIDSyncSupported])
        XCTAssertEqual(trailing.map(\.description), ["MOBIKE_SUPPORTED", "NO_ADDITIONAL_ADDRESSES", "MULTIPLE_AUTH_SUPPORTED",
                                                     "EAP_ONLY_AUTHENTICATION", "IKEV2_MESSAGE_ID_SYNC_SUPPORTED"])

        // Writing the inner chain again gives the decrypted octets.
        var rewritten = ByteBuffer()
        IKEMessage.writeInnerPayloads(inner, to: &rewritten)
        XCTAssertEqual(Array(buffer: rewritten), try TestFiles.fixture("strongswan-x25519gcm-3-ike_auth-request.plaintext.bin"))
    }

    func testIKEAuthResponseInnerChainCarriesNoProposalChosen() throws {
        let (response, _) = try message("x25519gcm-4-ike_auth-response")
        XCTAssertTrue(response.header.isResponse)
        XCTAssertFalse(response.header.isFromInitiator)
        var plaintext = ByteBuffer(bytes: try TestFiles.fixture("strongswan-x25519gcm-4-ike_auth-response.plaintext.bin"))
        let inner = try IKEMessage.parseInnerPayloads(firstPayload: try XCTUnwrap(response.encryptedPayload?.firstInnerPayload), from: &plaintext)
        // strongSwan: [ IDr AUTH N(MOBIKE_SUP) N(NO_ADD_ADDR) N(NO_PROP) ] (this host's kernel has no ESP)
        XCTAssertEqual(inner.map(\.type), [.identificationResponder, .authentication, .notify, .notify, .notify])
        guard case .notify(let last) = inner[4] else { return XCTFail() }
        XCTAssertEqual(last.messageType, .noProposalChosen)
        XCTAssertTrue(last.messageType.isError)
    }

    func testMultiProposalRequestHasTwoNumberedProposals() throws {
        let (request, _) = try message("multi-1-ike_sa_init-request")
        XCTAssertEqual(sa(request).map(\.number), [1, 2])
        XCTAssertEqual(sa(request)[0].encryptionAlgorithm, .aesCBC)
        XCTAssertEqual(sa(request)[0].encryptionKeyLength, 256)
        XCTAssertEqual(sa(request)[1].encryptionAlgorithm, .chacha20Poly1305)
        XCTAssertEqual(sa(request)[1].keyExchangeMethod, .curve25519)
        guard case .keyExchange(let ke) = request.payloads[1] else { return XCTFail() }
        XCTAssertEqual(ke.group, .modp2048)
        XCTAssertEqual(ke.keyExchangeData.count, 256)
    }
}

final class HandBuiltGoldenTests: XCTestCase {
    /// Builds strongSwan's IKE_SA_INIT request from its values alone (proposal from the
    /// config string, random parts cut from the capture by RFC offsets) and checks the
    /// writer produces the captured octets: the writer checked without the parser.
    func testWriterReproducesStrongSwansIKESAInitRequest() throws {
        let captured = try TestFiles.fixture("strongswan-x25519gcm-1-ike_sa_init-request.bin")
        // Offsets: header 0..<28, SA 28..<68, KE 68..<108 (data from 76), No 108..<144
        // (data from 112), N(NATD_S_IP) 144..<172 (data from 152), N(NATD_D_IP) 172..<200
        // (data from 180), N(FRAG_SUP) 200..<208, N(HASH_ALG) 208..<224, N(REDIR_SUP) 224..<232.
        let proposal = try ProposalSyntax.parse("aes256gcm16-prfsha256-x25519", protocolID: .ike)[0]
        let message = IKEMessage(
            header: IKEHeader(initiatorSPI: 0x022F_0F74_4C8B_75DC, responderSPI: 0, exchangeType: .ikeSAInit,
                              flags: .initiator, messageID: 0),
            payloads: [
                .securityAssociation(SecurityAssociationPayload(proposals: [proposal])),
                .keyExchange(KeyExchangePayload(group: .curve25519, keyExchangeData: Array(captured[76..<108]))),
                .nonce(NoncePayload(nonceData: Array(captured[112..<144]))),
                .notify(NotifyPayload(messageType: .natDetectionSourceIP, notificationData: Array(captured[152..<172]))),
                .notify(NotifyPayload(messageType: .natDetectionDestinationIP, notificationData: Array(captured[180..<200]))),
                .notify(NotifyPayload(messageType: .ikev2FragmentationSupported)),
                .notify(NotifyPayload(messageType: .signatureHashAlgorithms, notificationData: [0, 2, 0, 3, 0, 4, 0, 5])),
                .notify(NotifyPayload(messageType: .redirectSupported)),
            ])
        XCTAssertEqual(Array(buffer: message.bytes), captured)
    }
}

/// The decrypted IKE_AUTH chains of all runs (AES-GCM and AES-CBC + HMAC, decrypted
/// offline by `capture/decrypt.py` and `capture/decrypt_cbc.py`).
final class StrongSwanInnerChainTests: XCTestCase {
    private func inner(_ name: String) throws -> (first: PayloadType, payloads: [IKEPayload], bytes: [UInt8]) {
        let outer = try parse(try TestFiles.fixture("strongswan-\(name).bin"))
        let bytes = try TestFiles.fixture("strongswan-\(name).plaintext.bin")
        var buffer = ByteBuffer(bytes: bytes)
        let first = try XCTUnwrap(outer.encryptedPayload?.firstInnerPayload)
        return (first, try IKEMessage.parseInnerPayloads(firstPayload: first, from: &buffer), bytes)
    }

    func testEveryDecryptedChainParsesAndReencodes() throws {
        let names = try TestFiles.files(in: "Fixtures", suffix: ".plaintext.bin").map { String($0.name.dropFirst("strongswan-".count).dropLast(".plaintext.bin".count)) }
        XCTAssertEqual(names.count, 6)
        for name in names {
            let (first, payloads, bytes) = try inner(name)
            XCTAssertEqual(first, name.contains("request") ? .identificationInitiator : .identificationResponder, name)
            var rewritten = ByteBuffer()
            IKEMessage.writeInnerPayloads(payloads, to: &rewritten)
            XCTAssertEqual(Array(buffer: rewritten), bytes, name)
            XCTAssertNotNil(payloads.authentication, name)
        }
    }

    func testStrongSwanStripsKeyExchangeFromIKEAuthChildProposals() throws {
        // esp_proposals = aes256gcm16-esn,aes128-sha256-x25519-noesn: the x25519 is not sent
        // in IKE_AUTH (no key exchange there), so the responder must ignore KE when selecting.
        let (_, payloads, _) = try inner("multi-3-ike_auth-request")
        let offered = try XCTUnwrap(payloads.securityAssociation).proposals
        XCTAssertEqual(offered.count, 2)
        XCTAssertEqual(offered[1].transforms, [Transform(.aesCBC, keyLength: 128), Transform(.hmacSHA2_256_128), Transform(ExtendedSequenceNumbers.no)])
        XCTAssertEqual(offered[0].spi, offered[1].spi)
        let pfsOnly = try ProposalSyntax.parse("aes128-sha256-x25519-noesn", protocolID: .esp)
        XCTAssertThrowsError(try ProposalSelection.select(offered: offered, configured: pfsOnly))
        let chosen = try ProposalSelection.select(offered: offered, configured: pfsOnly, ignoringKeyExchange: true)
        XCTAssertEqual(chosen.number, 2)
        XCTAssertEqual(chosen.transforms, offered[1].transforms)
        XCTAssertEqual(payloads.trafficSelectorInitiator?.trafficSelectors, [.ipv4([10, 99, 0, 1], [10, 99, 0, 1])])
    }

    func testCBCResponseCarriesNoProposalChosen() throws {
        let (_, payloads, _) = try inner("cbcecp-4-ike_auth-response")
        XCTAssertEqual(payloads.firstErrorNotify?.messageType, .noProposalChosen)
        XCTAssertEqual(payloads.identificationResponder.map { String(decoding: $0.identificationData, as: UTF8.self) }, "b.vipsec.test")
    }
}
