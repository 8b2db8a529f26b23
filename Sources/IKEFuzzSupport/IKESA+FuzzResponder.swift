// The entry point of the FuzzIKEResponder libFuzzer target (Fuzz/), replayed over its
// corpus by `swift test`: one input drives a fresh responder IKE_SA through IKE_SA_INIT
// and IKE_AUTH, so the fuzzer reaches past parsing into proposal selection, the key
// exchange, key derivation, SK decryption, AUTH verification and CHILD_SA negotiation.
//
// Input layout (ResponderFuzzInput):
//
//     [2 octets: n, big-endian][n octets: IKE_SA_INIT request][1 octet: mode][rest]
//
// mode bit 0 clear: `rest` is the IKE_AUTH datagram, delivered as it is (a fuzzer cannot
//   forge the ICV, so this exercises header checks and the integrity failure path).
// mode bit 0 set: `rest` is [first inner payload type][plaintext inner chain], sealed by
//   this harness with the IKE_SA's own SK_ei/SK_ai under a correct IKE_AUTH header (the
//   initiator's part), so the responder decrypts it and processes what is inside.
// mode bit 1 (with bit 0): if the chain parses, its AUTH payload's data is replaced by the
//   value the initiator would compute for its IDi with the configured PSK (or, when the
//   responder wants `remote { auth = pubkey }`, the initiator's signature by the harness's
//   `initiatorSigner`), so that AUTH verifies and the CHILD_SA negotiation runs.
// mode bit 2 (with bit 0): the sealed request goes as RFC 7383 SKF fragments, 2 + (mode >> 3)
//   of them (2...33), delivered in order, so reassembly runs (IKE_SA_INIT must have
//   announced IKEV2_FRAGMENTATION_SUPPORTED, as strongSwan's does).
//
// A fuzz-only module (not in the `vipsec` binary): it forges the initiator's AUTH with the
// IKE_SA's own keys, reaching IKESA's state through `package` access (same SwiftPM package).
import IKEv2
import NIOCore

/// How far one fuzz input got into the responder (each step can fail on hostile input).
public enum ResponderFuzzOutcome: Equatable, Sendable {
    /// Too short to split, or longer than `ResponderFuzzInput.maximumLength`.
    case malformedInput
    /// IKE_SA_INIT produced no response (dropped, counted).
    case initDropped
    /// IKE_SA_INIT was answered with an error notify (no keys).
    case initRefused
    /// IKE_AUTH produced no response (malformed, wrong SPI or ICV: dropped, counted).
    case authDropped
    /// IKE_AUTH was answered, but the IKE_SA closed (AUTHENTICATION_FAILED, ...).
    case authRefused
    /// The IKE_SA is established, with this many CHILD_SAs.
    case established(childSAs: Int)

    /// The outcome as seed files name it: `<name>-<corpusName>.bin`.
    public var corpusName: String {
        switch self {
        case .malformedInput: return "malformedInput"
        case .initDropped: return "initDropped"
        case .initRefused: return "initRefused"
        case .authDropped: return "authDropped"
        case .authRefused: return "authRefused"
        case .established(let children): return "established\(children)"
        }
    }
}

/// Splits and builds FuzzIKEResponder inputs.
public enum ResponderFuzzInput {
    /// Longer inputs are refused (bounded work per input).
    public static let maximumLength = 16384
    /// Mode bits.
    public static let sealInner: UInt8 = 1
    public static let fixAuthentication: UInt8 = 2
    public static let fragment: UInt8 = 4

    /// The IKE_SA_INIT request, the mode and the rest; nil when too short.
    public static func split(_ bytes: [UInt8]) -> (initRequest: [UInt8], mode: UInt8, rest: [UInt8])? {
        guard bytes.count >= 3, bytes.count <= maximumLength else { return nil }
        let length = Int(bytes[0]) << 8 | Int(bytes[1])
        guard bytes.count >= 2 + length + 1 else { return nil }
        return (Array(bytes[2..<2 + length]), bytes[2 + length], Array(bytes[(3 + length)...]))
    }

    /// The input for an IKE_SA_INIT request, a mode and the rest.
    public static func make(initRequest: [UInt8], mode: UInt8, rest: [UInt8]) -> [UInt8] {
        [UInt8(truncatingIfNeeded: initRequest.count >> 8), UInt8(truncatingIfNeeded: initRequest.count)]
            + initRequest + [mode] + rest
    }
}

extension IKESA {
    /// The responder's endpoints in fuzzing (those of the captured strongSwan fixtures).
    static let fuzzLocal = IKEEndpoint(address: [10, 99, 0, 2], port: 500)
    static let fuzzRemote = IKEEndpoint(address: [10, 99, 0, 1], port: 500)

    /// Runs one fuzz input through a fresh responder (see the file header). Never traps on
    /// any input; a trap is a finding. `initiatorSigner` signs the initiator's AUTH in mode
    /// bit 1 when the configuration authenticates peers by certificate.
    public static func fuzzResponder(_ bytes: [UInt8], configuration: IKESAConfiguration, provider: any IKECryptoProvider,
                                     initiatorSigner: (any PublicKeyAuthenticator)? = nil) -> ResponderFuzzOutcome {
        fuzzResponderRun(bytes, configuration: configuration, provider: provider, initiatorSigner: initiatorSigner).outcome
    }

    /// `fuzzResponder` with the responder's counters (drops, refusals and authentication
    /// failures by reason) and the size of its IKE_AUTH answer.
    public static func fuzzResponderRun(_ bytes: [UInt8], configuration: IKESAConfiguration, provider: any IKECryptoProvider,
                                        initiatorSigner: (any PublicKeyAuthenticator)? = nil) -> ResponderFuzzRun {
        guard let (initRequest, mode, rest) = ResponderFuzzInput.split(bytes) else { return ResponderFuzzRun(outcome: .malformedInput) }
        let initiatorSPI = initRequest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard var sa = try? IKESA.responder(configuration: configuration, provider: provider, local: fuzzLocal,
                                            remote: fuzzRemote, initiatorSPI: initiatorSPI,
                                            retransmission: .strongSwanDefault) else { return ResponderFuzzRun(outcome: .initDropped) }
        var sent = 0
        func run(_ outcome: ResponderFuzzOutcome) -> ResponderFuzzRun {
            ResponderFuzzRun(outcome: outcome, counters: sa.counters, sentOctets: sent)
        }
        let initActions = sa.receive(initRequest, local: fuzzLocal, remote: fuzzRemote, now: 0)
        guard initActions.contains(where: { if case .send = $0 { return true }; return false }) else { return run(.initDropped) }
        guard sa.phase == .authenticating, sa.keyContext != nil else { return run(.initRefused) }
        let authRequest = mode & ResponderFuzzInput.sealInner == 0
            ? [rest] : sa.fuzzSealedAuthRequest(rest, mode: mode, initiatorSigner: initiatorSigner)
        var authActions = authRequest.flatMap { sa.receive($0, local: fuzzLocal, remote: fuzzRemote, now: 1) }
        // A certificate AUTH is verified by the shell (IKESA+PeerVerification.swift): here, to its end.
        for case .verifyPeer(let verification) in authActions {
            authActions += sa.peerVerified(verification.token, failure: FuzzVerification.runToEnd(verification), now: 1)
        }
        // The response waits for the CHILD_SA's install (IKESA+Install.swift): done at once.
        for case .install(let child) in authActions { authActions += sa.installCompleted(child.reference, succeeded: true, now: 1) }
        sent = authActions.reduce(0) { total, action in
            if case .send(let datagram) = action { return total + datagram.count }
            return total
        }
        switch sa.phase {
        case .established:
            return run(.established(childSAs: sa.childSAs.count))
        case .closed, .rekeyed:
            return run(authActions.isEmpty ? .authDropped : .authRefused)
        case .negotiatingInit, .authenticating:
            return run(authActions.contains(where: { if case .send = $0 { return true }; return false }) ? .authRefused : .authDropped)
        }
    }

    /// `[first inner payload type][chain]` sealed as the initiator's IKE_AUTH request: one
    /// datagram, or its fragments.
    func fuzzSealedAuthRequest(_ rest: [UInt8], mode: UInt8, initiatorSigner: (any PublicKeyAuthenticator)?) -> IKEDatagrams {
        guard let keys = keyContext, let firstType = rest.first else { return [rest] }
        var first = PayloadType(rawValue: firstType)
        var plaintext = Array(rest.dropFirst())
        if mode & ResponderFuzzInput.fixAuthentication != 0 {
            var buffer = ByteBuffer(bytes: plaintext)
            if var payloads = try? IKEMessage.parseInnerPayloads(firstPayload: first, from: &buffer),
               case .identificationInitiator(let identity)? = payloads.first(where: { $0.type == .identificationInitiator }),
               let index = payloads.firstIndex(where: { $0.type == .authentication }),
               let auth = try? fuzzInitiatorAuthentication(keys: keys, identity: identity, signer: initiatorSigner) {
                payloads[index] = .authentication(auth)
                var chain = ByteBuffer()
                first = IKEMessage.writeInnerPayloads(payloads, to: &chain)
                plaintext = Array(chain.readableBytesView)
            }
        }
        let header = IKEHeader(initiatorSPI: initiatorSPI, responderSPI: responderSPI, exchangeType: .ikeAuth,
                               flags: [.initiator], messageID: 1)
        // The responder opens with `inbound` (SK_ei/SK_ai): seal with the same keys.
        if mode & ResponderFuzzInput.fragment != 0 {
            let total = min(2 + Int(mode >> 3), max(1, plaintext.count))
            let chunk = (plaintext.count + total - 1) / max(total, 1)
            return (0..<total).compactMap { index in
                let piece = Array(plaintext[min(plaintext.count, index * chunk)..<min(plaintext.count, (index + 1) * chunk)])
                return try? IKESAKeyContext.sealFragment(keys.inbound, header: header, firstInnerPayload: index == 0 ? first : .noNextPayload,
                                                         number: UInt16(index + 1), total: UInt16(total), plaintext: piece)
            }
        }
        let sealedLength = keys.inbound.sealedLength(plaintextLength: plaintext.count)
        let prefix = IKEMessage.encryptedMessagePrefix(header: header, firstInnerPayload: first, encryptedBodyLength: sealedLength)
        let associatedData = Array(prefix.readableBytesView)
        guard let sealed = try? keys.inbound.seal(plaintext: plaintext, associatedData: associatedData) else { return [rest] }
        return [associatedData + sealed]
    }
}

extension IKESA {
    /// The AUTH the initiator would send for `identity`: the PSK's MAC, or with certificate
    /// authentication of peers the signature by `signer` (RFC 7427, our supported hashes).
    func fuzzInitiatorAuthentication(keys: IKESAKeyContext, identity: IdentificationPayload,
                                     signer: (any PublicKeyAuthenticator)?) throws -> AuthenticationPayload {
        guard let exchange = initExchange else { throw IKECryptoError.backend(operation: "AUTH", detail: "IKE_SA_INIT not done") }
        guard configuration.remoteAuthentication == .publicKey else {
            return try ownAuthentication(keys: keys, ownInitMessage: exchange.initiatorInitMessage, peerNonce: exchange.nonceResponder,
                                         skP: keys.keys.skPi, identity: identity, hints: exchange).auth
        }
        guard let signer else { throw IKECryptoError.backend(operation: "AUTH", detail: "no initiator signer") }
        let octets = try PSKAuthentication.signedOctets(prf: keys.prf, message: exchange.initiatorInitMessage,
                                                        peerNonce: exchange.nonceResponder,
                                                        skP: keys.keys.skPi, identificationPayloadBody: identity.bodyBytes)
        return try signer.sign(octets, peerHashAlgorithms: SignatureHashAlgorithm.supported)
    }
}

/// One fuzz input's run: how far it got, the responder's counters, and the octets of its
/// IKE_AUTH answer (datagrams summed; 0 when it sent none).
public struct ResponderFuzzRun: Sendable, Equatable {
    public var outcome: ResponderFuzzOutcome
    public var counters = IKESACounters()
    public var sentOctets = 0
}

extension IKESAConfiguration {
    /// The PSK of the captured strongSwan fixtures (a lab value, not a secret).
    public static let fuzzPresharedKey = "vipsec-lab-psk-not-secret"

    /// The responder configuration FuzzIKEResponder uses: every proposal the captured
    /// strongSwan fixtures offer, their PSK, any peer identity, any selectors.
    public static func fuzzResponder() throws -> IKESAConfiguration {
        let ike = "aes256gcm16-prfsha256-x25519,aes128-sha256-ecp256,aes256-sha384-modp2048,chacha20poly1305-prfsha512-curve25519"
        let esp = "aes256gcm16-esn,aes256gcm16,aes128-sha256-noesn,aes128-sha256"
        let any = TrafficSelector.ipv4([0, 0, 0, 0], [255, 255, 255, 255])
        let child = ChildSAConfiguration(name: "fuzz", espProposals: try ProposalSyntax.parse(esp, protocolID: .esp),
                                         localTrafficSelectors: [any], remoteTrafficSelectors: [any], mode: .tunnel)
        return IKESAConfiguration(name: "fuzz", ikeProposals: try ProposalSyntax.parse(ike, protocolID: .ike),
                                  localIdentity: IdentificationPayload(idType: .fqdn, identificationData: Array("b.vipsec.test".utf8)),
                                  remoteIdentity: nil, presharedKey: SecretBytes(Array(fuzzPresharedKey.utf8)),
                                  child: child, reqid: 1)
    }
}
