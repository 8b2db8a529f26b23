// Revocation by CRL files (RFC 5280 5). swift-certificates does not parse CRLs, so OpenSSL's
// X509_CRL does: a CRL counts only when its issuer is the certificate's issuer and its
// signature verifies with that issuer's key.

import COpenSSL

/// CRLs loaded from files, each owned by OpenSSL.
public final class RevocationList: @unchecked Sendable {
    private var crls: [OpaquePointer] = []

    public init() {}
    deinit { crls.forEach { X509_CRL_free($0) } }

    public var count: Int { crls.count }

    /// Adds the CRLs of a file (PEM, possibly several, or one DER).
    public func add(fileBytes bytes: [UInt8]) throws {
        ERR_clear_error()
        var added: [OpaquePointer] = []
        if bytes.firstRange(of: Array("-----BEGIN".utf8)) != nil {
            bytes.withUnsafeBytes { raw in
                guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return }
                defer { BIO_free(bio) }
                while let crl = PEM_read_bio_X509_CRL(bio, nil, nil, nil) { added.append(crl) }
            }
            ERR_clear_error()   // the end of the PEM stream
        } else {
            let crl = bytes.withUnsafeBufferPointer { buffer -> OpaquePointer? in
                var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
                return d2i_X509_CRL(nil, &cursor, buffer.count)
            }
            if let crl { added.append(crl) }
        }
        guard !added.isEmpty else { throw CertificateError.openSSL("reading the CRL") }
        crls += added
    }

    /// Whether `certificate` (DER) is listed as revoked in a CRL signed by `issuer` (DER).
    func isRevoked(_ certificate: [UInt8], issuer: [UInt8]) -> Bool {
        defer { ERR_clear_error() }
        guard let subject = Self.x509(certificate) else { return false }
        defer { X509_free(subject) }
        guard let issuerCertificate = Self.x509(issuer) else { return false }
        defer { X509_free(issuerCertificate) }
        guard let issuerKey = X509_get0_pubkey(issuerCertificate) else { return false }
        for crl in crls where X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(subject)) == 0 {
            guard X509_CRL_verify(crl, issuerKey) == 1 else { continue }
            var entry: OpaquePointer?
            if X509_CRL_get0_by_cert(crl, &entry, subject) == 1 { return true }
        }
        return false
    }

    static func x509(_ der: [UInt8]) -> OpaquePointer? {
        der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_X509(nil, &cursor, buffer.count)
        }
    }

    /// SHA-1 of a certificate's DER SubjectPublicKeyInfo: the CA's entry in a CERTREQ
    /// (RFC 7296 3.7).
    public static func subjectPublicKeyInfoSHA1(_ der: [UInt8]) throws -> [UInt8] {
        guard let certificate = x509(der) else { throw CertificateError.openSSL("d2i_X509") }
        defer { X509_free(certificate) }
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(certificate), &out)
        guard length > 0, let out else { throw CertificateError.openSSL("i2d_X509_PUBKEY") }
        defer { CRYPTO_free(out, #file, #line) }
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var digestLength: UInt32 = 0
        guard EVP_Digest(out, Int(length), &digest, &digestLength, EVP_sha1(), nil) == 1 else {
            throw CertificateError.openSSL("EVP_Digest")
        }
        return Array(digest.prefix(Int(digestLength)))
    }
}
