// Payload types (RFC 7296 section 3.2 table, RFC 7383 for SKF).

/// The "Next Payload" value naming the type of a payload. Open: unknown values round-trip.
public struct PayloadType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// No Next Payload: the end of a payload chain.
    public static let noNextPayload = PayloadType(rawValue: 0)
    /// SA: Security Association.
    public static let securityAssociation = PayloadType(rawValue: 33)
    /// KE: Key Exchange.
    public static let keyExchange = PayloadType(rawValue: 34)
    /// IDi: Identification - Initiator.
    public static let identificationInitiator = PayloadType(rawValue: 35)
    /// IDr: Identification - Responder.
    public static let identificationResponder = PayloadType(rawValue: 36)
    /// CERT: Certificate.
    public static let certificate = PayloadType(rawValue: 37)
    /// CERTREQ: Certificate Request.
    public static let certificateRequest = PayloadType(rawValue: 38)
    /// AUTH: Authentication.
    public static let authentication = PayloadType(rawValue: 39)
    /// Ni, Nr: Nonce.
    public static let nonce = PayloadType(rawValue: 40)
    /// N: Notify.
    public static let notify = PayloadType(rawValue: 41)
    /// D: Delete.
    public static let delete = PayloadType(rawValue: 42)
    /// V: Vendor ID.
    public static let vendorID = PayloadType(rawValue: 43)
    /// TSi: Traffic Selector - Initiator.
    public static let trafficSelectorInitiator = PayloadType(rawValue: 44)
    /// TSr: Traffic Selector - Responder.
    public static let trafficSelectorResponder = PayloadType(rawValue: 45)
    /// SK: Encrypted and Authenticated.
    public static let encrypted = PayloadType(rawValue: 46)
    /// CP: Configuration.
    public static let configuration = PayloadType(rawValue: 47)
    /// EAP: Extensible Authentication.
    public static let extensibleAuthentication = PayloadType(rawValue: 48)
    /// SKF: Encrypted and Authenticated Fragment (RFC 7383).
    public static let encryptedFragment = PayloadType(rawValue: 53)

    public var description: String {
        switch self {
        case .noNextPayload: return "NONE"
        case .securityAssociation: return "SA"
        case .keyExchange: return "KE"
        case .identificationInitiator: return "IDi"
        case .identificationResponder: return "IDr"
        case .certificate: return "CERT"
        case .certificateRequest: return "CERTREQ"
        case .authentication: return "AUTH"
        case .nonce: return "No"
        case .notify: return "N"
        case .delete: return "D"
        case .vendorID: return "V"
        case .trafficSelectorInitiator: return "TSi"
        case .trafficSelectorResponder: return "TSr"
        case .encrypted: return "SK"
        case .configuration: return "CP"
        case .extensibleAuthentication: return "EAP"
        case .encryptedFragment: return "SKF"
        default: return "PAYLOAD_\(rawValue)"
        }
    }
}
