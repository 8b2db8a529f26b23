// The Authentication Data of Auth Method 14, Digital Signature (RFC 7427 section 3):
//
//     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//     | ASN.1 Length  | AlgorithmIdentifier ASN.1 object              |
//     +-+-+-+-+-+-+-+-+                                               +
//     ~                      Signature Value                          ~
//
// The AlgorithmIdentifier (RFC 5280 4.1.1.2) is written and read with swift-asn1. Accepted:
// sha{256,384,512}WithRSAEncryption, RSASSA-PSS (RFC 4055: MGF1 with the same hash),
// ecdsa-with-SHA{256,384,512} and Ed25519 (RFC 8420) — the hashes we announce in
// SIGNATURE_HASH_ALGORITHMS.

import IKEv2
import SwiftASN1

enum SignatureOID {
    static let sha256WithRSAEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 11]
    static let sha384WithRSAEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 12]
    static let sha512WithRSAEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 13]
    static let rsassaPSS: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 10]
    static let mgf1: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 8]
    static let ecdsaWithSHA256: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 2]
    static let ecdsaWithSHA384: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 3]
    static let ecdsaWithSHA512: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 4]
    static let ed25519: ASN1ObjectIdentifier = [1, 3, 101, 112]
    static let sha256: ASN1ObjectIdentifier = [2, 16, 840, 1, 101, 3, 4, 2, 1]
    static let sha384: ASN1ObjectIdentifier = [2, 16, 840, 1, 101, 3, 4, 2, 2]
    static let sha512: ASN1ObjectIdentifier = [2, 16, 840, 1, 101, 3, 4, 2, 3]

    static func hash(_ hash: SignatureHashAlgorithm) -> ASN1ObjectIdentifier? {
        switch hash {
        case .sha256: return sha256
        case .sha384: return sha384
        case .sha512: return sha512
        default: return nil
        }
    }

    static func hash(_ oid: ASN1ObjectIdentifier) -> SignatureHashAlgorithm? {
        switch oid {
        case sha256: return .sha256
        case sha384: return .sha384
        case sha512: return .sha512
        default: return nil
        }
    }
}

/// RFC 7427 Authentication Data: encoding and decoding.
public enum DigitalSignatureEncoding {
    /// The DER AlgorithmIdentifier of `scheme`.
    public static func algorithmIdentifier(_ scheme: SignatureScheme) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.appendConstructedNode(identifier: .sequence) { coder in
            switch scheme {
            case .rsaPKCS1(let hash):
                let oids: [SignatureHashAlgorithm: ASN1ObjectIdentifier] = [
                    .sha256: SignatureOID.sha256WithRSAEncryption, .sha384: SignatureOID.sha384WithRSAEncryption,
                    .sha512: SignatureOID.sha512WithRSAEncryption]
                guard let oid = oids[hash] else { throw CertificateError("RSA with \(hash) is not supported") }
                try coder.serialize(oid)
                try coder.serialize(ASN1Null())
            case .ecdsa(let hash):
                let oids: [SignatureHashAlgorithm: ASN1ObjectIdentifier] = [
                    .sha256: SignatureOID.ecdsaWithSHA256, .sha384: SignatureOID.ecdsaWithSHA384,
                    .sha512: SignatureOID.ecdsaWithSHA512]
                guard let oid = oids[hash] else { throw CertificateError("ECDSA with \(hash) is not supported") }
                try coder.serialize(oid)
            case .ed25519:
                try coder.serialize(SignatureOID.ed25519)
            case .rsaPSS(let hash):
                guard let hashOID = SignatureOID.hash(hash) else { throw CertificateError("PSS with \(hash) is not supported") }
                let saltLength = hash == .sha256 ? 32 : hash == .sha384 ? 48 : 64
                try coder.serialize(SignatureOID.rsassaPSS)
                // RSASSA-PSS-params (RFC 4055 3.1); trailerField left at its default.
                try coder.appendConstructedNode(identifier: .sequence) { params in
                    try params.serialize(explicitlyTaggedWithTagNumber: 0, tagClass: .contextSpecific) { tagged in
                        try tagged.appendConstructedNode(identifier: .sequence) { try $0.serialize(hashOID) }
                    }
                    try params.serialize(explicitlyTaggedWithTagNumber: 1, tagClass: .contextSpecific) { tagged in
                        try tagged.appendConstructedNode(identifier: .sequence) { mgf in
                            try mgf.serialize(SignatureOID.mgf1)
                            try mgf.appendConstructedNode(identifier: .sequence) { try $0.serialize(hashOID) }
                        }
                    }
                    try params.serialize(explicitlyTaggedWithTagNumber: 2, tagClass: .contextSpecific) { tagged in
                        try tagged.serialize(saltLength)
                    }
                }
            }
        }
        return serializer.serializedBytes
    }

    /// Authentication Data: length, AlgorithmIdentifier, signature.
    public static func authenticationData(scheme: SignatureScheme, signature: [UInt8]) throws -> [UInt8] {
        let identifier = try algorithmIdentifier(scheme)
        guard identifier.count < 256 else { throw CertificateError("AlgorithmIdentifier too long") }
        return [UInt8(identifier.count)] + identifier + signature
    }

    /// The scheme and signature of received Authentication Data; throws when malformed or
    /// when the algorithm is not one we accept.
    public static func parse(_ data: [UInt8]) throws -> (scheme: SignatureScheme, signature: [UInt8]) {
        guard let length = data.first.map(Int.init), length > 0, data.count > 1 + length else {
            throw CertificateError("Digital Signature AUTH too short")
        }
        let identifier = Array(data[1...length])
        let signature = Array(data[(1 + length)...])
        let root = try DER.parse(identifier)
        let scheme: SignatureScheme = try DER.sequence(root, identifier: .sequence) { nodes in
            let oid = try ASN1ObjectIdentifier(derEncoded: &nodes)
            switch oid {
            case SignatureOID.sha256WithRSAEncryption, SignatureOID.sha384WithRSAEncryption, SignatureOID.sha512WithRSAEncryption:
                if let parameters = nodes.next() { _ = try ASN1Null(derEncoded: parameters) }
                let hash: SignatureHashAlgorithm = oid == SignatureOID.sha256WithRSAEncryption ? .sha256
                    : oid == SignatureOID.sha384WithRSAEncryption ? .sha384 : .sha512
                return .rsaPKCS1(hash)
            case SignatureOID.ecdsaWithSHA256: return .ecdsa(.sha256)
            case SignatureOID.ecdsaWithSHA384: return .ecdsa(.sha384)
            case SignatureOID.ecdsaWithSHA512: return .ecdsa(.sha512)
            case SignatureOID.ed25519: return .ed25519
            case SignatureOID.rsassaPSS:
                guard let parameters = nodes.next() else { throw CertificateError("RSASSA-PSS without parameters (SHA-1)") }
                return .rsaPSS(try parsePSSParameters(parameters))
            default:
                throw CertificateError("signature algorithm \(oid) is not accepted")
            }
        }
        return (scheme, signature)
    }

    /// A hash AlgorithmIdentifier (parameters absent or NULL).
    private static func hashAlgorithm(_ node: ASN1Node) throws -> SignatureHashAlgorithm {
        try DER.sequence(node, identifier: .sequence) { nodes in
            let oid = try ASN1ObjectIdentifier(derEncoded: &nodes)
            if let parameters = nodes.next() { _ = try ASN1Null(derEncoded: parameters) }
            guard let hash = SignatureOID.hash(oid) else { throw CertificateError("hash \(oid) is not accepted") }
            return hash
        }
    }

    /// RSASSA-PSS-params: the hash, MGF1 with the same hash, a salt at least as long as the
    /// hash (shorter salts and the SHA-1 defaults are refused).
    private static func parsePSSParameters(_ node: ASN1Node) throws -> SignatureHashAlgorithm {
        try DER.sequence(node, identifier: .sequence) { nodes in
            guard let hash = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 0, tagClass: .contextSpecific, hashAlgorithm) else {
                throw CertificateError("RSASSA-PSS with the default hash (SHA-1)")
            }
            let mgfHash = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 1, tagClass: .contextSpecific) { mgf in
                try DER.sequence(mgf, identifier: .sequence) { inner -> SignatureHashAlgorithm in
                    guard try ASN1ObjectIdentifier(derEncoded: &inner) == SignatureOID.mgf1, let parameters = inner.next() else {
                        throw CertificateError("RSASSA-PSS with an MGF other than MGF1")
                    }
                    return try hashAlgorithm(parameters)
                }
            }
            guard mgfHash == hash else { throw CertificateError("RSASSA-PSS with MGF1 over another hash") }
            let salt = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 2, tagClass: .contextSpecific) { try Int(derEncoded: $0) } ?? 20
            let minimum = hash == .sha256 ? 32 : hash == .sha384 ? 48 : 64
            guard salt >= minimum else { throw CertificateError("RSASSA-PSS salt of \(salt) octets") }
            _ = try DER.optionalExplicitlyTagged(&nodes, tagNumber: 3, tagClass: .contextSpecific) { try Int(derEncoded: $0) }
            return hash
        }
    }
}
