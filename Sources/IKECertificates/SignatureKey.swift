// Keys that sign and verify IKE AUTH payloads, held by OpenSSL (EVP_PKEY): our private key
// (PEM or DER, PKCS#1, SEC1 or PKCS#8, as strongSwan's `pki` writes them) and a peer's
// public key taken from its certificate. Signatures with EVP_DigestSign / EVP_DigestVerify.

import COpenSSL
import IKEv2

/// Errors of the certificate code; never containing key material.
public struct CertificateError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }

    static func openSSL(_ operation: String) -> CertificateError {
        var reasons: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return CertificateError("\(operation) failed" + (reasons.isEmpty ? "" : ": " + reasons.joined(separator: "; ")))
    }
}

/// The kinds of key vipsec signs and verifies with.
public enum SignatureKeyType: Equatable, Sendable, CustomStringConvertible {
    case rsa(bits: Int)
    /// ECDSA on P-256, P-384 or P-521 (`bits` 256, 384, 521).
    case ecdsa(bits: Int)
    case ed25519

    public var description: String {
        switch self {
        case .rsa(let bits): return "RSA-\(bits)"
        case .ecdsa(let bits): return "ECDSA P-\(bits)"
        case .ed25519: return "Ed25519"
        }
    }
}

/// How a signature is made: the key type's scheme and its hash.
public enum SignatureScheme: Equatable, Sendable {
    case rsaPKCS1(SignatureHashAlgorithm)
    /// RSASSA-PSS, MGF1 with the same hash, salt as long as the hash (RFC 7427 A.4.3 style).
    case rsaPSS(SignatureHashAlgorithm)
    /// DER-encoded Ecdsa-Sig-Value (RFC 7427); the classic methods 9-11 use r|s instead.
    case ecdsa(SignatureHashAlgorithm)
    case ed25519

    var hash: SignatureHashAlgorithm {
        switch self {
        case .rsaPKCS1(let h), .rsaPSS(let h), .ecdsa(let h): return h
        case .ed25519: return .identity
        }
    }
}

/// One EVP_PKEY (private or public), freed on deinit. Its description never shows the key.
public final class SignatureKey: @unchecked Sendable, CustomStringConvertible {
    let pointer: OpaquePointer
    public let type: SignatureKeyType

    init(taking pointer: OpaquePointer) throws {
        self.pointer = pointer
        switch EVP_PKEY_get_base_id(pointer) {
        case EVP_PKEY_RSA:
            type = .rsa(bits: Int(EVP_PKEY_get_bits(pointer)))
        case EVP_PKEY_EC:
            type = .ecdsa(bits: Int(EVP_PKEY_get_bits(pointer)))
        case EVP_PKEY_ED25519:
            type = .ed25519
        default:
            EVP_PKEY_free(pointer)
            throw CertificateError("unsupported key type (RSA, ECDSA and Ed25519 are)")
        }
    }

    deinit { EVP_PKEY_free(pointer) }

    public var description: String { "SignatureKey(\(type))" }

    /// A private key from a file's bytes: PEM (any of the private key labels) or DER.
    public static func privateKey(fileBytes bytes: [UInt8]) throws -> SignatureKey {
        ERR_clear_error()
        let pem = bytes.firstRange(of: Array("-----BEGIN".utf8)) != nil
        var key: OpaquePointer?
        if pem {
            key = bytes.withUnsafeBytes { raw -> OpaquePointer? in
                guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
                defer { BIO_free(bio) }
                return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
            }
        } else {
            key = bytes.withUnsafeBufferPointer { buffer -> OpaquePointer? in
                var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
                return d2i_AutoPrivateKey(nil, &cursor, buffer.count)
            }
        }
        guard let key else { throw CertificateError.openSSL("reading the private key") }
        return try SignatureKey(taking: key)
    }

    /// The public key of a DER certificate.
    public static func publicKey(certificateDER der: [UInt8]) throws -> SignatureKey {
        ERR_clear_error()
        let key = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            guard let certificate = d2i_X509(nil, &cursor, buffer.count) else { return nil }
            defer { X509_free(certificate) }
            return X509_get_pubkey(certificate)
        }
        guard let key else { throw CertificateError.openSSL("reading the certificate's public key") }
        return try SignatureKey(taking: key)
    }

    /// Whether this (private) key is the private half of `other`'s public key.
    public func matches(_ other: SignatureKey) -> Bool {
        defer { ERR_clear_error() }
        return EVP_PKEY_eq(pointer, other.pointer) == 1
    }

    /// The scheme this key signs with for a hash the peer accepts (nil: none fits).
    public func scheme(peerAccepts hashes: [SignatureHashAlgorithm], rsaPSS: Bool) -> SignatureScheme? {
        switch type {
        case .ed25519:
            return hashes.contains(.identity) ? .ed25519 : nil
        case .ecdsa(let bits):
            // The hash that matches the curve first (RFC 5480 4), then any other we know.
            let preferred: [SignatureHashAlgorithm] = bits > 384 ? [.sha512, .sha384, .sha256]
                : bits > 256 ? [.sha384, .sha512, .sha256] : [.sha256, .sha384, .sha512]
            return preferred.first(where: hashes.contains).map(SignatureScheme.ecdsa)
        case .rsa:
            guard let hash = [SignatureHashAlgorithm.sha256, .sha384, .sha512].first(where: hashes.contains) else { return nil }
            return rsaPSS ? .rsaPSS(hash) : .rsaPKCS1(hash)
        }
    }

    static func digestName(_ hash: SignatureHashAlgorithm) throws -> String? {
        switch hash {
        case .sha1: return "SHA1"
        case .sha256: return "SHA256"
        case .sha384: return "SHA384"
        case .sha512: return "SHA512"
        case .identity: return nil
        default: throw CertificateError("unsupported hash \(hash)")
        }
    }

    /// Sets up an EVP_MD_CTX for signing or verifying `scheme`, runs `body` with it.
    private func withContext<T>(_ scheme: SignatureScheme, signing: Bool, _ body: (OpaquePointer) throws -> T) throws -> T {
        ERR_clear_error()
        guard let context = EVP_MD_CTX_new() else { throw CertificateError.openSSL("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(context) }
        let digest = try Self.digestName(scheme.hash)
        var keyContext: OpaquePointer?
        let initialised = signing
            ? EVP_DigestSignInit_ex(context, &keyContext, digest, nil, nil, pointer, nil)
            : EVP_DigestVerifyInit_ex(context, &keyContext, digest, nil, nil, pointer, nil)
        guard initialised == 1 else { throw CertificateError.openSSL(signing ? "EVP_DigestSignInit" : "EVP_DigestVerifyInit") }
        if case .rsaPSS = scheme, let keyContext, let digest {
            guard EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING) == 1,
                  EVP_PKEY_CTX_set_rsa_mgf1_md_name(keyContext, digest, nil) == 1,
                  // We salt with the hash's length; a peer's salt length is read from the signature.
                  EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, signing ? RSA_PSS_SALTLEN_DIGEST : RSA_PSS_SALTLEN_AUTO) == 1 else {
                throw CertificateError.openSSL("RSASSA-PSS parameters")
            }
        }
        return try body(context)
    }

    /// The signature of `message` (ECDSA: DER Ecdsa-Sig-Value).
    public func sign(_ message: [UInt8], scheme: SignatureScheme) throws -> [UInt8] {
        try withContext(scheme, signing: true) { context in
            var length = 0
            guard EVP_DigestSign(context, nil, &length, message, message.count) == 1 else {
                throw CertificateError.openSSL("EVP_DigestSign")
            }
            var signature = [UInt8](repeating: 0, count: length)
            guard EVP_DigestSign(context, &signature, &length, message, message.count) == 1 else {
                throw CertificateError.openSSL("EVP_DigestSign")
            }
            return Array(signature.prefix(length))
        }
    }

    /// Whether `signature` is this key's over `message` (ECDSA: DER Ecdsa-Sig-Value).
    public func verify(_ signature: [UInt8], message: [UInt8], scheme: SignatureScheme) -> Bool {
        defer { ERR_clear_error() }
        return (try? withContext(scheme, signing: false) { context in
            EVP_DigestVerify(context, signature, signature.count, message, message.count) == 1
        }) == true
    }

    // MARK: ECDSA r|s (RFC 4754, the classic methods 9-11) and DER, converted by OpenSSL

    /// r|s, each left-padded to the curve's size, from a DER Ecdsa-Sig-Value.
    static func ecdsaConcatenated(der: [UInt8], bits: Int) throws -> [UInt8] {
        let size = (bits + 7) / 8
        let parsed = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_ECDSA_SIG(nil, &cursor, buffer.count)
        }
        guard let parsed else { throw CertificateError.openSSL("d2i_ECDSA_SIG") }
        defer { ECDSA_SIG_free(parsed) }
        var out = [UInt8](repeating: 0, count: 2 * size)
        let ok = out.withUnsafeMutableBufferPointer { buffer in
            BN_bn2binpad(ECDSA_SIG_get0_r(parsed), buffer.baseAddress, Int32(size)) == Int32(size)
                && BN_bn2binpad(ECDSA_SIG_get0_s(parsed), buffer.baseAddress! + size, Int32(size)) == Int32(size)
        }
        guard ok else { throw CertificateError("ECDSA signature does not fit the curve") }
        return out
    }

    /// A DER Ecdsa-Sig-Value from r|s (two halves of equal length).
    static func ecdsaDER(concatenated: [UInt8]) throws -> [UInt8] {
        guard !concatenated.isEmpty, concatenated.count % 2 == 0, let signature = ECDSA_SIG_new() else {
            throw CertificateError("malformed ECDSA signature")
        }
        defer { ECDSA_SIG_free(signature) }
        let half = concatenated.count / 2
        let r = concatenated.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32(half), nil) }
        let s = concatenated.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress! + half, Int32(half), nil) }
        guard let r, let s, ECDSA_SIG_set0(signature, r, s) == 1 else {
            BN_free(r); BN_free(s)
            throw CertificateError.openSSL("ECDSA_SIG_set0")
        }
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_ECDSA_SIG(signature, &out)
        guard length > 0, let out else { throw CertificateError.openSSL("i2d_ECDSA_SIG") }
        defer { CRYPTO_free(out, #file, #line) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }
}
