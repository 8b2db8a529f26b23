// The peer's certificate chain, validated to a configured trust anchor with swift-certificates
// (RFC 5280 path validation: signatures, validity, basic constraints and path length, name
// constraints), then revocation (CRL files) and the key usage of the end entity
// (digitalSignature or nonRepudiation when the extension is present, RFC 4945 5.1.3.2).

import Foundation
import IKEv2
import SwiftASN1
import X509

/// Trust anchors, CRLs and the clock a chain is judged by.
public struct CertificateTrust: Sendable {
    public var anchors: [Certificate]
    public var revocation: RevocationList
    /// The time validity is checked at (the wall clock; tests fix it).
    public var now: @Sendable () -> Date

    public init(anchors: [Certificate], revocation: RevocationList = RevocationList(), now: @escaping @Sendable () -> Date = { Date() }) {
        self.anchors = anchors
        self.revocation = revocation
        self.now = now
    }

    /// Validates `leaf` with `intermediates` (as received in CERT payloads); nil when it
    /// chains to an anchor, is valid now, unrevoked and usable for signatures. Asynchronous
    /// as swift-certificates' verifier is; the IKE shell awaits it off its event loop
    /// (`IKEAction.verifyPeer`).
    public func validate(leaf: Certificate, intermediates: [Certificate]) async -> PeerAuthenticationFailure? {
        let time = now()
        if leaf.notValidBefore > time || leaf.notValidAfter < time { return .expired }
        if let usage = try? leaf.extensions.keyUsage, !usage.digitalSignature, !usage.nonRepudiation { return .untrusted }
        var verifier = Verifier(rootCertificates: CertificateStore(anchors)) { RFC5280Policy(validationTime: time) }
        let result: [Certificate]?
        switch await verifier.validate(leaf: leaf, intermediates: CertificateStore(intermediates)) {
        case .validCertificate(let chain): result = Array(chain)
        case .couldNotValidate: result = nil
        }
        guard let chain = result else {
            // Tell an expired CA apart from an unknown one: the same chain judged at its own time.
            let expiredIntermediate = intermediates.contains { $0.notValidBefore > time || $0.notValidAfter < time }
                || anchors.contains { $0.notValidBefore > time || $0.notValidAfter < time }
            return expiredIntermediate ? .expired : .untrusted
        }
        // Every certificate but the anchor is checked against its issuer's CRLs.
        for (certificate, issuer) in zip(chain, chain.dropFirst()) {
            if revocation.isRevoked(Self.der(certificate), issuer: Self.der(issuer)) { return .revoked }
        }
        return nil
    }

    static func der(_ certificate: Certificate) -> [UInt8] { DERBytes.of(certificate) }
}

/// The DER encoding of a certificate or name (swift-asn1's serializer).
public enum DERBytes {
    public static func of<T: DERSerializable>(_ value: T) -> [UInt8] {
        var serializer = DER.Serializer()
        try? serializer.serialize(value)
        return serializer.serializedBytes
    }
}

/// Whether an IKE identity is in a certificate (RFC 4945 3.1 / strongSwan's rules): an
/// ID_DER_ASN1_DN equal to the subject, or an FQDN, RFC 822 address or IP address among
/// its subjectAltNames.
public enum CertificateIdentity {
    public static func matches(_ identity: IdentificationPayload, certificate: Certificate) -> Bool {
        if identity.idType == .derASN1DN {
            guard let name = try? DistinguishedName(derEncoded: identity.identificationData) else { return false }
            return sameName(name, certificate.subject)
        }
        guard let names = try? certificate.extensions.subjectAlternativeNames else { return false }
        for name in names {
            switch (identity.idType, name) {
            case (.fqdn, .dnsName(let dns)):
                if dns.lowercased() == String(decoding: identity.identificationData, as: UTF8.self).lowercased() { return true }
            case (.rfc822Address, .rfc822Name(let mail)):
                if mail.lowercased() == String(decoding: identity.identificationData, as: UTF8.self).lowercased() { return true }
            case (.ipv4Address, .ipAddress(let address)), (.ipv6Address, .ipAddress(let address)):
                if Array(address.bytes) == identity.identificationData { return true }
            default:
                continue
            }
        }
        return false
    }

    /// Two identities name the same peer: equal type and data, DNs compared by their
    /// attributes (string types and case aside), FQDNs and addresses case-insensitively.
    public static func same(_ a: IdentificationPayload, _ b: IdentificationPayload) -> Bool {
        guard a.idType == b.idType else { return false }
        switch a.idType {
        case .derASN1DN:
            guard let x = try? DistinguishedName(derEncoded: a.identificationData),
                  let y = try? DistinguishedName(derEncoded: b.identificationData) else { return false }
            return sameName(x, y)
        case .fqdn, .rfc822Address:
            return String(decoding: a.identificationData, as: UTF8.self).lowercased()
                == String(decoding: b.identificationData, as: UTF8.self).lowercased()
        default:
            return a.identificationData == b.identificationData
        }
    }

    static func sameName(_ a: DistinguishedName, _ b: DistinguishedName) -> Bool {
        a == b || a.description.lowercased() == b.description.lowercased()
    }
}
