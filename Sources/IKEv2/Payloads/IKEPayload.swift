// One payload of any type, and the payload chain reader/writer shared by the outer message
// and the plaintext inside SK (RFC 7296 sections 3.2 and 3.14).

import NIOCore

/// A payload not understood by this codec, kept so that it round-trips (RFC 7296 3.2: a
/// non-critical unknown payload is skipped).
public struct UnknownPayload: Hashable, Sendable, CustomStringConvertible {
    public var type: PayloadType
    public var isCritical: Bool
    public var body: [UInt8]

    public init(type: PayloadType, isCritical: Bool, body: [UInt8]) {
        self.type = type
        self.isCritical = isCritical
        self.body = body
    }

    public var description: String { "\(type)(unknown, \(body.count) octets)" }
}

/// Any IKEv2 payload.
public enum IKEPayload: Hashable, Sendable, CustomStringConvertible {
    case securityAssociation(SecurityAssociationPayload)
    case keyExchange(KeyExchangePayload)
    case identificationInitiator(IdentificationPayload)
    case identificationResponder(IdentificationPayload)
    case certificate(CertificatePayload)
    case certificateRequest(CertificatePayload)
    case authentication(AuthenticationPayload)
    case nonce(NoncePayload)
    case notify(NotifyPayload)
    case delete(DeletePayload)
    case vendorID(VendorIDPayload)
    case trafficSelectorInitiator(TrafficSelectorPayload)
    case trafficSelectorResponder(TrafficSelectorPayload)
    case encrypted(EncryptedPayload)
    case configuration(ConfigurationPayload)
    /// EAP: kept opaque (vipsec does not do EAP).
    case extensibleAuthentication([UInt8])
    case encryptedFragment(EncryptedFragmentPayload)
    case unknown(UnknownPayload)

    /// The payload type that names this payload in the previous Next Payload field.
    public var type: PayloadType {
        switch self {
        case .securityAssociation: return .securityAssociation
        case .keyExchange: return .keyExchange
        case .identificationInitiator: return .identificationInitiator
        case .identificationResponder: return .identificationResponder
        case .certificate: return .certificate
        case .certificateRequest: return .certificateRequest
        case .authentication: return .authentication
        case .nonce: return .nonce
        case .notify: return .notify
        case .delete: return .delete
        case .vendorID: return .vendorID
        case .trafficSelectorInitiator: return .trafficSelectorInitiator
        case .trafficSelectorResponder: return .trafficSelectorResponder
        case .encrypted: return .encrypted
        case .configuration: return .configuration
        case .extensibleAuthentication: return .extensibleAuthentication
        case .encryptedFragment: return .encryptedFragment
        case .unknown(let unknown): return unknown.type
        }
    }

    /// Reads the body of a payload of `type` (the generic header already read).
    static func parse(header: GenericPayloadHeader, type: PayloadType, body: inout ByteBuffer) throws -> IKEPayload {
        let payload: IKEPayload
        switch type {
        case .securityAssociation: payload = .securityAssociation(try SecurityAssociationPayload(parsing: &body))
        case .keyExchange: payload = .keyExchange(try KeyExchangePayload(parsing: &body))
        case .identificationInitiator: payload = .identificationInitiator(try IdentificationPayload(parsing: &body))
        case .identificationResponder: payload = .identificationResponder(try IdentificationPayload(parsing: &body))
        case .certificate: payload = .certificate(try CertificatePayload(parsing: &body))
        case .certificateRequest: payload = .certificateRequest(try CertificatePayload(parsing: &body))
        case .authentication: payload = .authentication(try AuthenticationPayload(parsing: &body))
        case .nonce: payload = .nonce(try NoncePayload(parsing: &body))
        case .notify: payload = .notify(try NotifyPayload(parsing: &body))
        case .delete: payload = .delete(try DeletePayload(parsing: &body))
        case .vendorID: payload = .vendorID(try VendorIDPayload(parsing: &body))
        case .trafficSelectorInitiator: payload = .trafficSelectorInitiator(try TrafficSelectorPayload(parsing: &body))
        case .trafficSelectorResponder: payload = .trafficSelectorResponder(try TrafficSelectorPayload(parsing: &body))
        case .encrypted:
            payload = .encrypted(EncryptedPayload(firstInnerPayload: header.nextPayload,
                                                  body: body.readSlice(length: body.readableBytes) ?? ByteBuffer()))
        case .configuration: payload = .configuration(try ConfigurationPayload(parsing: &body))
        case .extensibleAuthentication: payload = .extensibleAuthentication(body.readIKERemainingBytes())
        case .encryptedFragment:
            payload = .encryptedFragment(try EncryptedFragmentPayload(firstInnerPayload: header.nextPayload, parsing: &body))
        default:
            if header.isCritical { throw IKEParseError.unsupportedCriticalPayload(type) }
            payload = .unknown(UnknownPayload(type: type, isCritical: false, body: body.readIKERemainingBytes()))
        }
        try body.expectFullyRead("\(type) payload")
        return payload
    }

    /// Writes the payload body (without the generic header).
    func writeBody(to buffer: inout ByteBuffer) {
        switch self {
        case .securityAssociation(let payload): payload.write(to: &buffer)
        case .keyExchange(let payload): payload.write(to: &buffer)
        case .identificationInitiator(let payload), .identificationResponder(let payload): payload.write(to: &buffer)
        case .certificate(let payload), .certificateRequest(let payload): payload.write(to: &buffer)
        case .authentication(let payload): payload.write(to: &buffer)
        case .nonce(let payload): payload.write(to: &buffer)
        case .notify(let payload): payload.write(to: &buffer)
        case .delete(let payload): payload.write(to: &buffer)
        case .vendorID(let payload): payload.write(to: &buffer)
        case .trafficSelectorInitiator(let payload), .trafficSelectorResponder(let payload): payload.write(to: &buffer)
        case .encrypted(let payload): payload.write(to: &buffer)
        case .configuration(let payload): payload.write(to: &buffer)
        case .extensibleAuthentication(let bytes): buffer.writeBytes(bytes)
        case .encryptedFragment(let payload): payload.write(to: &buffer)
        case .unknown(let payload): buffer.writeBytes(payload.body)
        }
    }

    public var description: String {
        switch self {
        case .securityAssociation(let payload): return payload.description
        case .keyExchange(let payload): return payload.description
        case .identificationInitiator(let payload): return "IDi:" + payload.description
        case .identificationResponder(let payload): return "IDr:" + payload.description
        case .certificate(let payload): return payload.description
        case .certificateRequest(let payload): return "REQ:" + payload.description
        case .authentication(let payload): return payload.description
        case .nonce(let payload): return payload.description
        case .notify(let payload): return payload.description
        case .delete(let payload): return payload.description
        case .vendorID(let payload): return payload.description
        case .trafficSelectorInitiator(let payload): return "TSi:" + payload.description
        case .trafficSelectorResponder(let payload): return "TSr:" + payload.description
        case .encrypted(let payload): return payload.description
        case .configuration(let payload): return payload.description
        case .extensibleAuthentication(let bytes): return "EAP(\(bytes.count) octets)"
        case .encryptedFragment(let payload): return payload.description
        case .unknown(let payload): return payload.description
        }
    }
}

/// Reading and writing a chain of payloads linked by their Next Payload fields.
enum PayloadChain {
    /// Reads payloads starting with one of type `first` until Next Payload is 0. An SK or
    /// SKF payload (only if `allowEncrypted`) must be the last one and end the buffer. Every
    /// octet of `buffer` must belong to a payload. `encryptedBodyOffset` receives the reader
    /// offset (relative to the buffer's start) where the SK/SKF opaque part begins.
    static func parse(first: PayloadType, from buffer: inout ByteBuffer, allowEncrypted: Bool,
                      encryptedBodyOffset: inout Int?) throws -> [IKEPayload] {
        let start = buffer.readerIndex
        var payloads: [IKEPayload] = []
        var next = first
        while next != .noNextPayload {
            guard payloads.count < IKELimits.maxPayloadsPerChain else {
                throw IKEParseError.tooMany("payloads", limit: IKELimits.maxPayloadsPerChain)
            }
            let header = try GenericPayloadHeader(parsing: &buffer)
            var body = try buffer.readIKESlice("\(next) payload", length: Int(header.payloadLength) - GenericPayloadHeader.length)
            let isEncrypted = next == .encrypted || next == .encryptedFragment
            if isEncrypted {
                guard allowEncrypted else { throw IKEParseError.invalidValue("nested encrypted payload", Int(next.rawValue)) }
                let fragmentFields = next == .encryptedFragment ? 4 : 0
                encryptedBodyOffset = buffer.readerIndex - start - body.readableBytes + fragmentFields
            }
            payloads.append(try IKEPayload.parse(header: header, type: next, body: &body))
            if isEncrypted {
                if buffer.readableBytes != 0 { throw IKEParseError.payloadAfterEncrypted }
                return payloads
            }
            next = header.nextPayload
        }
        try buffer.expectFullyRead("payload chain")
        return payloads
    }

    /// Writes the payloads with generic headers, each Next Payload naming the following one
    /// (an SK/SKF names its first inner payload). Each payload body must stay below 65532
    /// octets. Returns the type of the first payload (0 if none).
    @discardableResult
    static func write(_ payloads: [IKEPayload], to buffer: inout ByteBuffer) -> PayloadType {
        for (index, payload) in payloads.enumerated() {
            let next: PayloadType
            switch payload {
            case .encrypted(let encrypted): next = encrypted.firstInnerPayload
            case .encryptedFragment(let fragment): next = fragment.firstInnerPayload
            default: next = index + 1 < payloads.count ? payloads[index + 1].type : .noNextPayload
            }
            var critical = false
            if case .unknown(let unknown) = payload { critical = unknown.isCritical }
            let start = buffer.writerIndex
            GenericPayloadHeader(nextPayload: next, isCritical: critical, payloadLength: 0).write(to: &buffer)
            payload.writeBody(to: &buffer)
            buffer.patchLength16(at: start + 2, from: start)
        }
        return payloads.first?.type ?? .noNextPayload
    }
}
