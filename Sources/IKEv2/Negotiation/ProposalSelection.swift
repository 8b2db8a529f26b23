// Choosing one proposal out of the initiator's SA payload (RFC 7296 sections 2.7, 3.3.6).
//
// "The responder MUST choose a single suite, which may be any subset of the SA proposal
// following the rules below ... Each proposal contains one or more transforms of each
// type; the accepted cryptographic suite MUST contain exactly one transform of each type
// included in the proposal."

/// Proposal selection for both roles: the responder picks, the initiator checks the pick.
public enum ProposalSelection {
    /// Transform types this implementation understands; a proposal with any other type is
    /// unacceptable (RFC 7296 3.3.6).
    static let knownTypes: [TransformType] = ProposalSyntax.typeOrder

    /// The responder's choice: the first of the initiator's `offered` proposals (in the
    /// initiator's order) that one of the `configured` proposals accepts, reduced to one
    /// transform per type (the initiator's most preferred acceptable one), keeping the
    /// initiator's Proposal Num and SPI (the responder replaces the SPI with its own).
    ///
    /// - Parameter ignoringKeyExchange: drop KE transforms on both sides first; for the
    ///   CHILD_SA made in IKE_AUTH, which has no key exchange of its own.
    /// - Throws: `NegotiationError.noProposalChosen`.
    public static func select(offered: [Proposal], configured: [Proposal],
                              ignoringKeyExchange: Bool = false) throws -> Proposal {
        for candidate in offered {
            var candidate = candidate
            if ignoringKeyExchange { candidate.transforms.removeAll { $0.type == .keyExchangeMethod } }
            for ours in configured where ours.protocolID == candidate.protocolID {
                var ours = ours
                if ignoringKeyExchange { ours.transforms.removeAll { $0.type == .keyExchangeMethod } }
                if let chosen = match(offered: candidate, configured: ours) { return chosen }
            }
        }
        throw NegotiationError.noProposalChosen
    }

    /// The initiator's check of the responder's answer: one proposal, one transform per
    /// type, every transform taken from the offered proposal with the same number, no type
    /// of that proposal left out (except a KE when `ignoringKeyExchange`).
    public static func isValidChoice(_ chosen: Proposal, from offered: [Proposal],
                                     ignoringKeyExchange: Bool = false) -> Bool {
        guard let original = offered.first(where: { $0.number == chosen.number }),
              original.protocolID == chosen.protocolID else { return false }
        for type in Set(chosen.transforms.map(\.type)) where chosen.transforms(ofType: type).count != 1 { return false }
        for transform in chosen.transforms where !original.transforms.contains(where: { sameAlgorithm($0, transform) }) {
            return false
        }
        for type in Set(original.transforms.map(\.type)) where chosen.first(type) == nil {
            if ignoringKeyExchange && type == .keyExchangeMethod { continue }
            return false
        }
        return true
    }

    /// One transform per type out of `offered`, or nil if `configured` does not accept it.
    static func match(offered: Proposal, configured: Proposal) -> Proposal? {
        switch offered.protocolID {
        case .ike: guard offered.spi.isEmpty || offered.spi.count == 8 else { return nil }
        case .esp, .ah: guard offered.spi.count == 4 else { return nil }
        default: return nil
        }
        if offered.transforms.contains(where: { !knownTypes.contains($0.type) }) { return nil }
        var chosen: [Transform] = []
        for type in knownTypes {
            let theirs = offered.transforms(ofType: type)
            let ours = configured.transforms(ofType: type)
            switch (theirs.isEmpty, ours.isEmpty) {
            case (true, true):
                continue
            case (true, false):
                // The initiator left out a type we want: fine only if we accept NONE for it.
                guard ours.contains(where: { $0.id == 0 && isOptional(type) }) else { return nil }
            case (false, true):
                // A type we do not configure: accept only the initiator's explicit NONE.
                guard let none = theirs.first(where: { $0.id == 0 && isOptional(type) }) else { return nil }
                chosen.append(none)
            case (false, false):
                guard let pick = theirs.first(where: { t in ours.contains { sameAlgorithm($0, t) } }) else { return nil }
                chosen.append(pick)
            }
        }
        return Proposal(number: offered.number, protocolID: offered.protocolID, spi: offered.spi, transforms: chosen)
    }

    /// Types where ID 0 means "none" and may stand for the type's absence.
    static func isOptional(_ type: TransformType) -> Bool {
        type == .integrityAlgorithm || type == .keyExchangeMethod
    }

    /// Same type, ID and key length, and no attribute this codec does not understand.
    static func sameAlgorithm(_ a: Transform, _ b: Transform) -> Bool {
        a.type == b.type && a.id == b.id && a.keyLength == b.keyLength
            && a.attributes.allSatisfy { $0.type == .keyLength } && b.attributes.allSatisfy { $0.type == .keyLength }
    }
}

extension Proposal {
    /// The chosen encryption algorithm of a selected proposal.
    public var encryptionAlgorithm: EncryptionAlgorithm? {
        first(.encryptionAlgorithm).map { EncryptionAlgorithm(rawValue: $0.id) }
    }
    /// The Key Length (bits) of the chosen encryption algorithm, if it has one.
    public var encryptionKeyLength: UInt16? { first(.encryptionAlgorithm)?.keyLength }
    /// The chosen PRF (IKE).
    public var pseudorandomFunction: PseudorandomFunctionID? {
        first(.pseudorandomFunction).map { PseudorandomFunctionID(rawValue: $0.id) }
    }
    /// The chosen integrity algorithm; nil when absent (AEAD).
    public var integrityAlgorithm: IntegrityAlgorithm? {
        first(.integrityAlgorithm).map { IntegrityAlgorithm(rawValue: $0.id) }
    }
    /// The chosen key exchange method; nil when absent (no PFS).
    public var keyExchangeMethod: KeyExchangeMethod? {
        first(.keyExchangeMethod).map { KeyExchangeMethod(rawValue: $0.id) }
    }
    /// The chosen ESN setting (AH/ESP).
    public var extendedSequenceNumbers: ExtendedSequenceNumbers? {
        first(.extendedSequenceNumbers).map { ExtendedSequenceNumbers(rawValue: $0.id) }
    }
}
