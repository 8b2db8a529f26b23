// Proposals written the way strongSwan's swanctl.conf writes them (`proposals`,
// `esp_proposals`): algorithm tokens joined by '-', proposals separated by ','.
//
//   aes256gcm16-prfsha256-x25519          IKE, AEAD: ENCR + PRF + KE
//   aes128-sha256-ecp256                  IKE: ENCR + INTEG (+ PRF derived from it) + KE
//   aes256gcm16-esn, aes128gcm16-noesn    ESP, AEAD, with or without ESN
//   aes256-sha512-x25519                  ESP with a PFS group
//
// Several tokens of one type in one proposal offer a choice (`aes128-aes256-sha256-...`).

/// A proposal string that cannot be used, naming the proposal and the offending token.
public struct ProposalSyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong.
    public enum Reason: Hashable, Sendable {
        /// A token that names no algorithm vipsec implements.
        case unsupportedAlgorithm(String)
        /// An empty proposal (e.g. `"aes128-sha256,,"` or `"a--b"`).
        case emptyToken
        /// A transform type the protocol requires is missing.
        case missing(TransformType)
        /// A token whose transform type the protocol does not allow (e.g. a PRF in ESP).
        case notAllowed(String)
        /// An AEAD cipher combined with an integrity algorithm, or AEAD and non-AEAD
        /// ciphers in one proposal.
        case aeadMix(String)
        /// More proposals than an SA payload may carry.
        case tooManyProposals
    }

    /// The whole proposal (one comma-separated item) the error is in.
    public var proposal: String
    public var reason: Reason

    public var description: String {
        switch reason {
        case .unsupportedAlgorithm(let token): return "unsupported algorithm '\(token)' in proposal '\(proposal)'"
        case .emptyToken: return "empty algorithm name in proposal '\(proposal)'"
        case .missing(let type): return "proposal '\(proposal)' has no \(type) algorithm"
        case .notAllowed(let token): return "'\(token)' is not allowed in this kind of proposal '\(proposal)'"
        case .aeadMix(let token): return "'\(token)' cannot be combined with the other algorithms of '\(proposal)'"
        case .tooManyProposals: return "too many proposals (limit \(IKELimits.maxProposals))"
        }
    }
}

/// Parser of strongSwan-style proposal strings into `Proposal` values.
public enum ProposalSyntax {
    /// The tokens vipsec understands, each with the transform it stands for.
    static let tokens: [String: Transform] = [
        "aes": Transform(.aesCBC, keyLength: 128),
        "aes128": Transform(.aesCBC, keyLength: 128),
        "aes192": Transform(.aesCBC, keyLength: 192),
        "aes256": Transform(.aesCBC, keyLength: 256),
        "aes128gcm16": Transform(.aesGCM16, keyLength: 128),
        "aes128gcm128": Transform(.aesGCM16, keyLength: 128),
        "aes192gcm16": Transform(.aesGCM16, keyLength: 192),
        "aes192gcm128": Transform(.aesGCM16, keyLength: 192),
        "aes256gcm16": Transform(.aesGCM16, keyLength: 256),
        "aes256gcm128": Transform(.aesGCM16, keyLength: 256),
        "chacha20poly1305": Transform(.chacha20Poly1305),
        "sha256": Transform(.hmacSHA2_256_128),
        "sha2_256": Transform(.hmacSHA2_256_128),
        "sha384": Transform(.hmacSHA2_384_192),
        "sha2_384": Transform(.hmacSHA2_384_192),
        "sha512": Transform(.hmacSHA2_512_256),
        "sha2_512": Transform(.hmacSHA2_512_256),
        "prfsha256": Transform(PseudorandomFunctionID.hmacSHA2_256),
        "prfsha384": Transform(PseudorandomFunctionID.hmacSHA2_384),
        "prfsha512": Transform(PseudorandomFunctionID.hmacSHA2_512),
        "modp2048": Transform(KeyExchangeMethod.modp2048),
        "ecp256": Transform(KeyExchangeMethod.ecp256),
        "ecp384": Transform(KeyExchangeMethod.ecp384),
        "x25519": Transform(KeyExchangeMethod.curve25519),
        "curve25519": Transform(KeyExchangeMethod.curve25519),
        "esn": Transform(ExtendedSequenceNumbers.yes),
        "noesn": Transform(ExtendedSequenceNumbers.no),
    ]

    /// The PRF strongSwan derives from an integrity algorithm when none is given.
    static let prfForIntegrity: [UInt16: PseudorandomFunctionID] = [
        IntegrityAlgorithm.hmacSHA2_256_128.rawValue: .hmacSHA2_256,
        IntegrityAlgorithm.hmacSHA2_384_192.rawValue: .hmacSHA2_384,
        IntegrityAlgorithm.hmacSHA2_512_256.rawValue: .hmacSHA2_512,
    ]

    /// Order of transform types inside a built proposal.
    static let typeOrder: [TransformType] = [
        .encryptionAlgorithm, .integrityAlgorithm, .pseudorandomFunction, .keyExchangeMethod, .extendedSequenceNumbers,
    ]

    /// Parses comma-separated proposals for `protocolID` (IKE, ESP or AH), numbered 1, 2...
    /// with empty SPIs (the caller fills in its SPI).
    ///
    /// Rules (as strongSwan applies them): IKE needs ENCR, KE, and INTEG unless the cipher
    /// is AEAD; an AEAD IKE proposal needs an explicit PRF, a non-AEAD one gets the PRF of
    /// its integrity algorithms if none is given. ESP needs ENCR and INTEG unless AEAD,
    /// takes KE groups as PFS, no PRF, and defaults to `noesn`. AH needs INTEG, no ENCR.
    public static func parse(_ text: String, protocolID: ProtocolID) throws -> [Proposal] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingWhitespace() }
        guard items.count <= IKELimits.maxProposals else {
            throw ProposalSyntaxError(proposal: text, reason: .tooManyProposals)
        }
        var proposals: [Proposal] = []
        for (index, item) in items.enumerated() {
            var proposal = try parseOne(item, protocolID: protocolID)
            proposal.number = UInt8(index + 1)
            proposals.append(proposal)
        }
        return proposals
    }

    static func parseOne(_ item: String, protocolID: ProtocolID) throws -> Proposal {
        func fail(_ reason: ProposalSyntaxError.Reason) -> ProposalSyntaxError {
            ProposalSyntaxError(proposal: item, reason: reason)
        }
        var byType: [TransformType: [Transform]] = [:]
        for rawToken in item.split(separator: "-", omittingEmptySubsequences: false) {
            let token = rawToken.lowercased()
            if token.isEmpty { throw fail(.emptyToken) }
            guard let transform = tokens[token] else { throw fail(.unsupportedAlgorithm(String(rawToken))) }
            let allowed: Bool
            switch transform.type {
            case .encryptionAlgorithm: allowed = protocolID != .ah
            case .pseudorandomFunction: allowed = protocolID == .ike
            case .extendedSequenceNumbers: allowed = protocolID != .ike
            default: allowed = true
            }
            if !allowed { throw fail(.notAllowed(String(rawToken))) }
            if byType[transform.type, default: []].contains(transform) { continue }
            byType[transform.type, default: []].append(transform)
        }

        let ciphers = byType[.encryptionAlgorithm] ?? []
        let aead = ciphers.filter { EncryptionAlgorithm(rawValue: $0.id).isAEAD }
        if !aead.isEmpty && aead.count != ciphers.count {
            throw fail(.aeadMix(ciphers.first { !EncryptionAlgorithm(rawValue: $0.id).isAEAD }?.description ?? ""))
        }
        let isAEAD = !aead.isEmpty
        if isAEAD, let integrity = byType[.integrityAlgorithm]?.first { throw fail(.aeadMix(integrity.description)) }
        if protocolID != .ah && ciphers.isEmpty { throw fail(.missing(.encryptionAlgorithm)) }
        if !isAEAD && byType[.integrityAlgorithm] == nil { throw fail(.missing(.integrityAlgorithm)) }

        if protocolID == .ike {
            if byType[.pseudorandomFunction] == nil {
                if isAEAD { throw fail(.missing(.pseudorandomFunction)) }
                byType[.pseudorandomFunction] = (byType[.integrityAlgorithm] ?? []).compactMap {
                    prfForIntegrity[$0.id].map { Transform($0) }
                }
            }
            if byType[.keyExchangeMethod] == nil { throw fail(.missing(.keyExchangeMethod)) }
        } else if byType[.extendedSequenceNumbers] == nil {
            byType[.extendedSequenceNumbers] = [Transform(ExtendedSequenceNumbers.no)]
        }

        let transforms = typeOrder.flatMap { byType[$0] ?? [] }
        return Proposal(number: 1, protocolID: protocolID, spi: [], transforms: transforms)
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
