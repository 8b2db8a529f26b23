// Notify Message Types (RFC 7296 section 3.10.1 and the IANA registry).

/// The type of a Notify payload. Values below 16384 are errors, from 16384 status. Open.
public struct NotifyMessageType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Whether this is an error type (below 16384); an unknown error type in a response
    /// means the request failed (RFC 7296 3.10.1).
    public var isError: Bool { rawValue < 16384 }

    // MARK: Error types
    /// UNSUPPORTED_CRITICAL_PAYLOAD: A payload with the critical bit set had a type the recipient does not understand; data: the one-octet payload type.
    public static let unsupportedCriticalPayload = NotifyMessageType(rawValue: 1)
    /// INVALID_IKE_SPI: A message arrived for an unrecognized IKE SPI.
    public static let invalidIKESPI = NotifyMessageType(rawValue: 4)
    /// INVALID_MAJOR_VERSION: The recipient cannot handle the header's major version.
    public static let invalidMajorVersion = NotifyMessageType(rawValue: 5)
    /// INVALID_SYNTAX: The message was malformed or otherwise invalid.
    public static let invalidSyntax = NotifyMessageType(rawValue: 7)
    /// INVALID_MESSAGE_ID: The message ID was outside the supported window.
    public static let invalidMessageID = NotifyMessageType(rawValue: 9)
    /// INVALID_SPI: An IPsec packet arrived with a non-existent SPI.
    public static let invalidSPI = NotifyMessageType(rawValue: 11)
    /// NO_PROPOSAL_CHOSEN: None of the proposed cryptographic suites was acceptable.
    public static let noProposalChosen = NotifyMessageType(rawValue: 14)
    /// INVALID_KE_PAYLOAD: The KE payload's group is not the selected one; data: the two-octet group wanted.
    public static let invalidKEPayload = NotifyMessageType(rawValue: 17)
    /// AUTHENTICATION_FAILED: The AUTH payload (or certificate) could not be verified.
    public static let authenticationFailed = NotifyMessageType(rawValue: 24)
    /// SINGLE_PAIR_REQUIRED: Only a single pair of traffic selectors is acceptable.
    public static let singlePairRequired = NotifyMessageType(rawValue: 34)
    /// NO_ADDITIONAL_SAS: No more CHILD_SAs are accepted on this IKE SA.
    public static let noAdditionalSAs = NotifyMessageType(rawValue: 35)
    /// INTERNAL_ADDRESS_FAILURE: No internal address could be assigned.
    public static let internalAddressFailure = NotifyMessageType(rawValue: 36)
    /// FAILED_CP_REQUIRED: A configuration payload was expected but not received.
    public static let failedCPRequired = NotifyMessageType(rawValue: 37)
    /// TS_UNACCEPTABLE: None of the proposed traffic selectors is acceptable.
    public static let tsUnacceptable = NotifyMessageType(rawValue: 38)
    /// INVALID_SELECTORS: An IPsec packet did not match the SA's selectors.
    public static let invalidSelectors = NotifyMessageType(rawValue: 39)
    /// TEMPORARY_FAILURE: The request cannot be served now (e.g. a rekey collision); retry later.
    public static let temporaryFailure = NotifyMessageType(rawValue: 43)
    /// CHILD_SA_NOT_FOUND: The CHILD_SA named in the request does not exist.
    public static let childSANotFound = NotifyMessageType(rawValue: 44)

    // MARK: Status types
    /// INITIAL_CONTACT: This IKE SA is the only one with the peer; older ones may be deleted.
    public static let initialContact = NotifyMessageType(rawValue: 16384)
    /// SET_WINDOW_SIZE: The number of outstanding requests the sender can handle; data: four octets.
    public static let setWindowSize = NotifyMessageType(rawValue: 16385)
    /// ADDITIONAL_TS_POSSIBLE: The responder narrowed the traffic selectors; more SAs could cover the rest.
    public static let additionalTSPossible = NotifyMessageType(rawValue: 16386)
    /// IPCOMP_SUPPORTED: IPComp is supported; data: CPI and transform.
    public static let ipcompSupported = NotifyMessageType(rawValue: 16387)
    /// NAT_DETECTION_SOURCE_IP: SHA-1 of SPIs, source address and port.
    public static let natDetectionSourceIP = NotifyMessageType(rawValue: 16388)
    /// NAT_DETECTION_DESTINATION_IP: SHA-1 of SPIs, destination address and port.
    public static let natDetectionDestinationIP = NotifyMessageType(rawValue: 16389)
    /// COOKIE: A stateless cookie the initiator must return (RFC 7296 2.6).
    public static let cookie = NotifyMessageType(rawValue: 16390)
    /// USE_TRANSPORT_MODE: The CHILD_SA is asked for (or accepted) in transport mode.
    public static let useTransportMode = NotifyMessageType(rawValue: 16391)
    /// HTTP_CERT_LOOKUP_SUPPORTED: Certificates may be fetched by URL.
    public static let httpCertLookupSupported = NotifyMessageType(rawValue: 16392)
    /// REKEY_SA: This CREATE_CHILD_SA rekeys the SA named by the notify's SPI.
    public static let rekeySA = NotifyMessageType(rawValue: 16393)
    /// ESP_TFC_PADDING_NOT_SUPPORTED: The sender does not accept TFC padding on this CHILD_SA.
    public static let espTFCPaddingNotSupported = NotifyMessageType(rawValue: 16394)
    /// NON_FIRST_FRAGMENTS_ALSO: Non-first fragments are to be sent on this SA too.
    public static let nonFirstFragmentsAlso = NotifyMessageType(rawValue: 16395)
    /// MOBIKE_SUPPORTED: MOBIKE (RFC 4555) is supported.
    public static let mobikeSupported = NotifyMessageType(rawValue: 16396)
    /// ADDITIONAL_IP4_ADDRESS: another IPv4 address of the sender (MOBIKE, RFC 4555).
    public static let additionalIP4Address = NotifyMessageType(rawValue: 16397)
    /// ADDITIONAL_IP6_ADDRESS: another IPv6 address of the sender (MOBIKE, RFC 4555).
    public static let additionalIP6Address = NotifyMessageType(rawValue: 16398)
    /// NO_ADDITIONAL_ADDRESSES: the sender has no other addresses (MOBIKE, RFC 4555).
    public static let noAdditionalAddresses = NotifyMessageType(rawValue: 16399)
    /// UPDATE_SA_ADDRESSES: move the SAs to this message's addresses (MOBIKE, RFC 4555).
    public static let updateSAAddresses = NotifyMessageType(rawValue: 16400)
    /// COOKIE2: return routability check (MOBIKE, RFC 4555).
    public static let cookie2 = NotifyMessageType(rawValue: 16401)
    /// NO_NATS_ALLOWED: the sender forbids NATs on the path (MOBIKE, RFC 4555).
    public static let noNATsAllowed = NotifyMessageType(rawValue: 16402)
    /// AUTH_LIFETIME: Seconds until the peer must reauthenticate (RFC 4478).
    public static let authLifetime = NotifyMessageType(rawValue: 16403)
    /// MULTIPLE_AUTH_SUPPORTED: Multiple authentication rounds are supported (RFC 4739).
    public static let multipleAuthSupported = NotifyMessageType(rawValue: 16404)
    /// ANOTHER_AUTH_FOLLOWS: Another authentication round follows (RFC 4739).
    public static let anotherAuthFollows = NotifyMessageType(rawValue: 16405)
    /// REDIRECT_SUPPORTED: Redirects are supported (RFC 5685).
    public static let redirectSupported = NotifyMessageType(rawValue: 16406)
    /// REDIRECT: go to this other gateway (RFC 5685).
    public static let redirect = NotifyMessageType(rawValue: 16407)
    /// REDIRECTED_FROM: the gateway that redirected the initiator here (RFC 5685).
    public static let redirectedFrom = NotifyMessageType(rawValue: 16408)
    /// EAP_ONLY_AUTHENTICATION: EAP-only authentication is supported (RFC 5998).
    public static let eapOnlyAuthentication = NotifyMessageType(rawValue: 16417)
    /// CHILDLESS_IKEV2_SUPPORTED: An IKE SA without a CHILD_SA is supported (RFC 6023).
    public static let childlessIKEv2Supported = NotifyMessageType(rawValue: 16418)
    /// IKEV2_MESSAGE_ID_SYNC_SUPPORTED: message ID synchronization is supported (RFC 6311).
    public static let ikev2MessageIDSyncSupported = NotifyMessageType(rawValue: 16420)
    /// IKEV2_FRAGMENTATION_SUPPORTED: IKE message fragmentation is supported (RFC 7383).
    public static let ikev2FragmentationSupported = NotifyMessageType(rawValue: 16430)
    /// SIGNATURE_HASH_ALGORITHMS: Hash algorithms accepted for signatures (RFC 7427); data: two-octet IDs.
    public static let signatureHashAlgorithms = NotifyMessageType(rawValue: 16431)

    private static let names: [UInt16: String] = [
        1: "UNSUPPORTED_CRITICAL_PAYLOAD",
        4: "INVALID_IKE_SPI",
        5: "INVALID_MAJOR_VERSION",
        7: "INVALID_SYNTAX",
        9: "INVALID_MESSAGE_ID",
        11: "INVALID_SPI",
        14: "NO_PROPOSAL_CHOSEN",
        17: "INVALID_KE_PAYLOAD",
        24: "AUTHENTICATION_FAILED",
        34: "SINGLE_PAIR_REQUIRED",
        35: "NO_ADDITIONAL_SAS",
        36: "INTERNAL_ADDRESS_FAILURE",
        37: "FAILED_CP_REQUIRED",
        38: "TS_UNACCEPTABLE",
        39: "INVALID_SELECTORS",
        43: "TEMPORARY_FAILURE",
        44: "CHILD_SA_NOT_FOUND",
        16384: "INITIAL_CONTACT",
        16385: "SET_WINDOW_SIZE",
        16386: "ADDITIONAL_TS_POSSIBLE",
        16387: "IPCOMP_SUPPORTED",
        16388: "NAT_DETECTION_SOURCE_IP",
        16389: "NAT_DETECTION_DESTINATION_IP",
        16390: "COOKIE",
        16391: "USE_TRANSPORT_MODE",
        16392: "HTTP_CERT_LOOKUP_SUPPORTED",
        16393: "REKEY_SA",
        16394: "ESP_TFC_PADDING_NOT_SUPPORTED",
        16395: "NON_FIRST_FRAGMENTS_ALSO",
        16396: "MOBIKE_SUPPORTED",
        16397: "ADDITIONAL_IP4_ADDRESS",
        16398: "ADDITIONAL_IP6_ADDRESS",
        16399: "NO_ADDITIONAL_ADDRESSES",
        16400: "UPDATE_SA_ADDRESSES",
        16401: "COOKIE2",
        16402: "NO_NATS_ALLOWED",
        16420: "IKEV2_MESSAGE_ID_SYNC_SUPPORTED",
        16403: "AUTH_LIFETIME",
        16404: "MULTIPLE_AUTH_SUPPORTED",
        16405: "ANOTHER_AUTH_FOLLOWS",
        16406: "REDIRECT_SUPPORTED",
        16407: "REDIRECT",
        16408: "REDIRECTED_FROM",
        16417: "EAP_ONLY_AUTHENTICATION",
        16418: "CHILDLESS_IKEV2_SUPPORTED",
        16430: "IKEV2_FRAGMENTATION_SUPPORTED",
        16431: "SIGNATURE_HASH_ALGORITHMS",
    ]

    public var description: String { Self.names[rawValue] ?? "NOTIFY_\(rawValue)" }
}
