// strongSwan's text form of a Distinguished Name (`C=CH, O=Example, CN=gw.example.com`), as
// written in `id`, turned into the DER an ID_DER_ASN1_DN carries. Attribute values are
// PrintableString when they fit, else UTF8String (emailAddress: IA5String), as strongSwan
// encodes them; the DER is written by swift-certificates.

import Foundation
import SwiftASN1
import X509

public enum DistinguishedNameText {
    static let attributeTypes: [String: ASN1ObjectIdentifier] = [
        "C": .RDNAttributeType.countryName, "ST": .RDNAttributeType.stateOrProvinceName,
        "L": .RDNAttributeType.localityName, "O": .RDNAttributeType.organizationName,
        "OU": .RDNAttributeType.organizationalUnitName, "CN": .RDNAttributeType.commonName,
        "E": .RDNAttributeType.emailAddress, "EMAIL": .RDNAttributeType.emailAddress,
        "EMAILADDRESS": .RDNAttributeType.emailAddress, "DC": .RDNAttributeType.domainComponent,
        "STREET": .RDNAttributeType.streetAddress, "SN": [2, 5, 4, 4], "SERIALNUMBER": [2, 5, 4, 5],
        "T": [2, 5, 4, 12], "TITLE": [2, 5, 4, 12], "G": [2, 5, 4, 42], "UID": [0, 9, 2342, 19_200_300, 100, 1, 1],
    ]

    /// Whether `text` is meant as a DN (strongSwan: it holds an `=`).
    public static func looksLikeDN(_ text: String) -> Bool { text.contains("=") }

    /// The DER Name for `text`; throws naming the part that is not `TYPE=value`.
    public static func der(_ text: String) throws -> [UInt8] {
        var rdns: [RelativeDistinguishedName] = []
        let printable = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")
        for part in text.split(separator: ",", omittingEmptySubsequences: true) {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, !pair[1].isEmpty, let type = attributeTypes[pair[0].uppercased()] else {
                throw CertificateError("'\(part.trimmingCharacters(in: .whitespaces))' is not TYPE=value with a known type (C, ST, L, O, OU, CN, E, DC, ...)")
            }
            let value = pair[1]
            let attribute: RelativeDistinguishedName.Attribute
            if type == .RDNAttributeType.emailAddress {
                attribute = try .init(type: type, ia5String: value)
            } else if value.allSatisfy(printable.contains) {
                attribute = try .init(type: type, printableString: value)
            } else {
                attribute = .init(type: type, utf8String: value)
            }
            rdns.append(RelativeDistinguishedName(attribute))
        }
        guard !rdns.isEmpty else { throw CertificateError("an empty Distinguished Name") }
        var serializer = DER.Serializer()
        try serializer.serialize(DistinguishedName(rdns))
        return serializer.serializedBytes
    }
}
