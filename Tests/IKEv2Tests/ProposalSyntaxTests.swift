// strongSwan proposal strings into proposals, and clear errors for bad ones.

import XCTest
@testable import IKEv2

final class ProposalSyntaxTests: XCTestCase {
    private func ike(_ text: String) throws -> [Proposal] { try ProposalSyntax.parse(text, protocolID: .ike) }
    private func esp(_ text: String) throws -> [Proposal] { try ProposalSyntax.parse(text, protocolID: .esp) }

    private func error(_ body: () throws -> Any) -> ProposalSyntaxError? {
        do { _ = try body(); return nil } catch { return error as? ProposalSyntaxError }
    }

    func testIKEAEADProposal() throws {
        let proposals = try ike("aes256gcm16-prfsha256-x25519")
        XCTAssertEqual(proposals, [Proposal(number: 1, protocolID: .ike, transforms: [
            Transform(.aesGCM16, keyLength: 256), Transform(PseudorandomFunctionID.hmacSHA2_256), Transform(KeyExchangeMethod.curve25519),
        ])])
    }

    func testIKECBCProposalDerivesPRFFromIntegrity() throws {
        XCTAssertEqual(try ike("aes128-sha256-ecp256")[0].transforms, [
            Transform(.aesCBC, keyLength: 128), Transform(.hmacSHA2_256_128), Transform(PseudorandomFunctionID.hmacSHA2_256),
            Transform(KeyExchangeMethod.ecp256),
        ])
        XCTAssertEqual(try ike("aes256-sha384-modp2048")[0].pseudorandomFunction, .hmacSHA2_384)
        XCTAssertEqual(try ike("aes256-sha384-modp2048")[0].keyExchangeMethod, .modp2048)
        // An explicit PRF wins over the derived one.
        XCTAssertEqual(try ike("aes256-sha384-prfsha512-ecp384")[0].transforms(ofType: .pseudorandomFunction),
                       [Transform(PseudorandomFunctionID.hmacSHA2_512)])
    }

    func testChaChaProposal() throws {
        let proposal = try ike("chacha20poly1305-prfsha512-curve25519")[0]
        XCTAssertEqual(proposal.encryptionAlgorithm, .chacha20Poly1305)
        XCTAssertNil(proposal.encryptionKeyLength, "RFC 7634: no Key Length attribute")
        XCTAssertEqual(proposal.pseudorandomFunction, .hmacSHA2_512)
        XCTAssertEqual(proposal.keyExchangeMethod, .curve25519)
        XCTAssertNil(proposal.integrityAlgorithm)
    }

    func testESPProposals() throws {
        XCTAssertEqual(try esp("aes256gcm16-esn")[0].transforms, [Transform(.aesGCM16, keyLength: 256), Transform(ExtendedSequenceNumbers.yes)])
        XCTAssertEqual(try esp("aes128gcm16-noesn")[0].transforms, [Transform(.aesGCM16, keyLength: 128), Transform(ExtendedSequenceNumbers.no)])
        XCTAssertEqual(try esp("aes128gcm16")[0].extendedSequenceNumbers, .no, "noesn is the default")
        XCTAssertEqual(try esp("aes256gcm16-esn-noesn")[0].transforms(ofType: .extendedSequenceNumbers).count, 2)
        let pfs = try esp("aes256-sha512-x25519")[0]
        XCTAssertEqual(pfs.transforms, [Transform(.aesCBC, keyLength: 256), Transform(.hmacSHA2_512_256),
                                        Transform(KeyExchangeMethod.curve25519), Transform(ExtendedSequenceNumbers.no)])
        XCTAssertEqual(pfs.protocolID, .esp)
    }

    func testMultipleProposalsAreNumbered() throws {
        let proposals = try ike("aes256gcm16-prfsha256-x25519, aes128-sha256-ecp256 ,chacha20poly1305-prfsha512-curve25519")
        XCTAssertEqual(proposals.map(\.number), [1, 2, 3])
        XCTAssertEqual(proposals.map(\.encryptionAlgorithm), [.aesGCM16, .aesCBC, .chacha20Poly1305])
    }

    func testSeveralAlgorithmsOfOneTypeAreAChoiceInOrder() throws {
        let proposal = try ike("aes128-aes256-sha256-sha512-x25519-ecp256")[0]
        XCTAssertEqual(proposal.transforms(ofType: .encryptionAlgorithm).map(\.keyLength), [128, 256])
        XCTAssertEqual(proposal.transforms(ofType: .keyExchangeMethod).map(\.id), [31, 19])
        XCTAssertEqual(proposal.transforms(ofType: .pseudorandomFunction).map(\.id), [5, 7])
    }

    func testCaseInsensitiveAndDuplicatesDropped() throws {
        XCTAssertEqual(try ike("AES256GCM16-PRFSHA256-X25519-x25519"), try ike("aes256gcm16-prfsha256-x25519"))
    }

    func testUnsupportedAlgorithmNamesTheToken() {
        let error = error { try ike("aes128-sha1-modp1024") }
        XCTAssertEqual(error, ProposalSyntaxError(proposal: "aes128-sha1-modp1024", reason: .unsupportedAlgorithm("sha1")))
        XCTAssertEqual(error?.description, "unsupported algorithm 'sha1' in proposal 'aes128-sha1-modp1024'")
        XCTAssertEqual(self.error { try esp("aes128ctr-sha256") }?.reason, .unsupportedAlgorithm("aes128ctr"))
        XCTAssertEqual(self.error { try ike("3des-sha256-modp2048") }?.reason, .unsupportedAlgorithm("3des"))
    }

    func testErrorNamesTheProposalAmongSeveral() {
        let error = error { try ike("aes256gcm16-prfsha256-x25519,aes128-md5-modp2048") }
        XCTAssertEqual(error?.proposal, "aes128-md5-modp2048")
        XCTAssertEqual(error?.reason, .unsupportedAlgorithm("md5"))
    }

    func testEmptyTokensAndProposals() {
        XCTAssertEqual(error { try ike("") }?.reason, .emptyToken)
        XCTAssertEqual(error { try ike("aes128--sha256-x25519") }?.reason, .emptyToken)
        XCTAssertEqual(error { try ike("aes128-sha256-x25519,") }?.reason, .emptyToken)
    }

    func testMissingTransforms() {
        XCTAssertEqual(error { try ike("aes256gcm16-x25519") }?.reason, .missing(.pseudorandomFunction))
        XCTAssertEqual(error { try ike("aes128-x25519") }?.reason, .missing(.integrityAlgorithm))
        XCTAssertEqual(error { try ike("aes128-sha256") }?.reason, .missing(.keyExchangeMethod))
        XCTAssertEqual(error { try ike("sha256-prfsha256-x25519") }?.reason, .missing(.encryptionAlgorithm))
        XCTAssertEqual(error { try esp("aes128-esn") }?.reason, .missing(.integrityAlgorithm))
        XCTAssertEqual(error { try esp("aes128-sha256") }?.reason, nil, "ESP needs no KE and no PRF")
    }

    func testAEADMixes() {
        XCTAssertEqual(error { try esp("aes256gcm16-sha256") }?.reason, .aeadMix("AUTH_HMAC_SHA2_256_128"))
        XCTAssertEqual(error { try ike("aes256gcm16-aes128-prfsha256-x25519") }?.reason, .aeadMix("ENCR_AES_CBC_128"))
    }

    func testTypesNotAllowedForTheProtocol() {
        XCTAssertEqual(error { try esp("aes256gcm16-prfsha256") }?.reason, .notAllowed("prfsha256"))
        XCTAssertEqual(error { try ike("aes256gcm16-prfsha256-x25519-esn") }?.reason, .notAllowed("esn"))
        XCTAssertEqual(error { try ProposalSyntax.parse("aes128-sha256", protocolID: .ah) }?.reason, .notAllowed("aes128"))
        XCTAssertEqual(try ProposalSyntax.parse("sha256", protocolID: .ah)[0].transforms,
                       [Transform(.hmacSHA2_256_128), Transform(ExtendedSequenceNumbers.no)])
    }

    func testTooManyProposals() {
        let text = Array(repeating: "aes128-sha256-x25519", count: IKELimits.maxProposals + 1).joined(separator: ",")
        XCTAssertEqual(error { try ike(text) }?.reason, .tooManyProposals)
    }
}
