// A CRL made with OpenSSL for the revocation tests (swift-certificates makes none).
import COpenSSL
@testable import IKECertificates
import X509

func makeCRL(issuer: TestIssuer, revoking certificates: [Certificate]) throws -> [UInt8] {
    let issuerDER = DERBytes.of(issuer.certificate)
    let issuerX509 = try XCTUnwrapX509(issuerDER)
    defer { X509_free(issuerX509) }
    let key = try openSSLKey(issuer.key)
    let crl = X509_CRL_new()!
    defer { X509_CRL_free(crl) }
    X509_CRL_set_version(crl, 1)
    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuerX509))
    let now = ASN1_TIME_set(nil, time(nil))
    X509_CRL_set1_lastUpdate(crl, now)
    let next = ASN1_TIME_set(nil, time(nil) + 86400)
    X509_CRL_set1_nextUpdate(crl, next)
    ASN1_TIME_free(now); ASN1_TIME_free(next)
    for certificate in certificates {
        let x509 = try XCTUnwrapX509(DERBytes.of(certificate))
        defer { X509_free(x509) }
        let entry = X509_REVOKED_new()!
        X509_REVOKED_set_serialNumber(entry, X509_get_serialNumber(x509))
        let date = ASN1_TIME_set(nil, time(nil))
        X509_REVOKED_set_revocationDate(entry, date)
        ASN1_TIME_free(date)
        X509_CRL_add0_revoked(crl, entry)
    }
    X509_CRL_sort(crl)
    guard X509_CRL_sign(crl, key.pointer, EVP_sha256()) > 0 else { throw CertificateError("X509_CRL_sign") }
    var out: UnsafeMutablePointer<UInt8>?
    let length = i2d_X509_CRL(crl, &out)
    guard length > 0, let out else { throw CertificateError("i2d_X509_CRL") }
    defer { CRYPTO_free(out, #file, #line) }
    return Array(UnsafeBufferPointer(start: out, count: Int(length)))
}

private func XCTUnwrapX509(_ der: [UInt8]) throws -> OpaquePointer {
    let x509 = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
        var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
        return d2i_X509(nil, &cursor, buffer.count)
    }
    guard let x509 else { throw CertificateError("d2i_X509") }
    return x509
}
