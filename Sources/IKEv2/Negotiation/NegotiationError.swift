// Why a negotiation failed, and the notify that tells the peer (RFC 7296 2.7, 2.9).

/// A negotiation the responder cannot agree to.
public enum NegotiationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// None of the initiator's proposals is acceptable.
    case noProposalChosen
    /// The traffic selectors do not intersect with the configured ones (which side).
    case tsUnacceptable(String)

    /// The error notify to send back.
    public var notifyMessageType: NotifyMessageType {
        switch self {
        case .noProposalChosen: return .noProposalChosen
        case .tsUnacceptable: return .tsUnacceptable
        }
    }

    public var description: String {
        switch self {
        case .noProposalChosen: return "no proposal chosen"
        case .tsUnacceptable(let side): return "traffic selectors unacceptable (\(side))"
        }
    }
}
