// Implementation limits of the codec: bounds that keep hostile input from making the
// parser allocate without end. A message beyond them is rejected with INVALID_SYNTAX.

/// Upper bounds the parser enforces on counts in one message.
public enum IKELimits {
    /// Largest IKE message accepted (octets, header included).
    public static let maxMessageLength = 65_535
    /// Payloads in one payload chain (the outer one, or the one inside SK).
    public static let maxPayloadsPerChain = 64
    /// Proposals in one SA payload (proposal numbers are one octet anyway).
    public static let maxProposals = 64
    /// Transforms in one proposal.
    public static let maxTransformsPerProposal = 64
    /// Attributes in one transform.
    public static let maxAttributesPerTransform = 8
    /// Traffic selectors in one TSi/TSr payload.
    public static let maxTrafficSelectors = 64
    /// SPIs in one Delete payload.
    public static let maxDeleteSPIs = 1_024
    /// Attributes in one CP payload.
    public static let maxConfigurationAttributes = 64
}
